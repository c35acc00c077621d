"""Two URL trees for one app: /prompts/ (prompts, versions, reviews) and /runs/."""

from django.urls import path

from . import exchange_views, views

prompt_patterns = [
    path("", views.prompt_list, name="list"),
    path("new/", views.prompt_new, name="new"),
    path("import/", exchange_views.prompt_import_view, name="import"),
    path("<int:pk>/export/", exchange_views.prompt_export_view, name="export"),
    path("<int:pk>/", views.prompt_detail, name="detail"),
    path("<int:pk>/diff/", views.version_diff, name="diff"),
    path("<int:pk>/v<int:number>/", views.version_detail, name="version"),
    path("<int:pk>/v<int:number>/new/", views.version_new, name="version_new"),
    path("<int:pk>/v<int:number>/<slug:action>/", views.version_review, name="review"),
]

run_patterns = [
    path("", views.run_list, name="list"),
    path("new/", views.run_new, name="new"),
    path("<int:pk>/", views.run_detail, name="detail"),
    path("<int:pk>/live/", views.run_live, name="live"),
    path("<int:pk>/cancel/", views.run_cancel_view, name="cancel"),
    path("<int:pk>/results/", views.run_results, name="results"),
]
