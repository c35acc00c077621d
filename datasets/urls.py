from django.urls import path

from . import views

urlpatterns = [
    path("", views.dataset_list, name="list"),
    path("upload/", views.dataset_upload, name="upload"),
    path("<int:pk>/", views.dataset_detail, name="detail"),
    path("<int:pk>/import/", views.dataset_import_status, name="import_status"),
    path("<int:pk>/delete/", views.dataset_delete_view, name="delete"),
]
