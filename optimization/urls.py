"""Two URL trees for one app: /prompts/ (prompts, versions, reviews) and /runs/."""

from django.urls import path

from .views import diffs, exchange, prompts, runs

prompt_patterns = [
    path("", prompts.prompt_list, name="list"),
    path("new/", prompts.prompt_new, name="new"),
    path("import/", exchange.prompt_import_view, name="import"),
    path("<int:pk>/export/", exchange.prompt_export_view, name="export"),
    path("<int:pk>/", prompts.prompt_detail, name="detail"),
    path("<int:pk>/diff/", diffs.version_diff, name="diff"),
    path("<int:pk>/v<int:number>/", prompts.version_detail, name="version"),
    path("<int:pk>/v<int:number>/new/", prompts.version_new, name="version_new"),
    path("<int:pk>/v<int:number>/<slug:action>/", prompts.version_review, name="review"),
]

run_patterns = [
    path("", runs.run_list, name="list"),
    path("new/", runs.run_new, name="new"),
    path("<int:pk>/", runs.run_detail, name="detail"),
    path("<int:pk>/live/", runs.run_live, name="live"),
    path("<int:pk>/cancel/", runs.run_cancel_view, name="cancel"),
    path("<int:pk>/results/", runs.run_results, name="results"),
]
