from django.contrib import admin
from django.urls import include, path

from datasets import urls as dataset_urls
from optimization import urls as optimization_urls
from optimization.rollouts import urls as rollout_urls
from optimization.webhooks import urls as webhook_urls

from . import views
from .teams import views as teams

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("datasets/", include((dataset_urls.urlpatterns, "datasets"))),
    path("prompts/", include((optimization_urls.prompt_patterns, "prompts"))),
    path("runs/", include((optimization_urls.run_patterns, "runs"))),
    path("tokens/", teams.tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", teams.token_revoke, name="token-revoke"),
    # Applications: webhooks (issue 14)
    path("webhooks/", include((webhook_urls.urlpatterns, "webhooks"))),
    path("canaries/", include((rollout_urls.urlpatterns, "rollouts"))),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("promptopt.api_urls")),  # /api/v1/..., /api/schema/, /api/docs/
]
