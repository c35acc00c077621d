from django.urls import path

from . import views

urlpatterns = [path("<int:pk>/<slug:action>/", views.canary_action, name="action")]
