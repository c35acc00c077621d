from django.urls import path

from . import views

urlpatterns = [
    path("", views.endpoint_list, name="list"),
    path("<int:pk>/", views.endpoint_detail, name="detail"),
    path("<int:pk>/<slug:action>/", views.endpoint_change, name="change"),
]
