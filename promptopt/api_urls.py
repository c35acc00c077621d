"""The REST API: /api/v1/..., its OpenAPI schema at /api/schema/ and Swagger UI at /api/docs/.

Included at the root by promptopt/urls.py: `path("", include("promptopt.api_urls"))`. Each app's API views live
in the app (`datasets/api.py`, `optimization/api/`, `optimization/rollouts/api.py`, `optimization/webhooks/api.py`,
`promptopt/teams/api.py`);
what they share is `promptopt/api/`.
"""

from django.http import JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from datasets import api as datasets
from optimization.api import exchange, production
from optimization.api import views as optimization
from optimization.rollouts import api as rollouts
from optimization.webhooks import api as webhooks

from .teams import api as teams

# ---------------------------------------------------------------------------------------------------------
# Routes

v1 = [
    # First: what applications call on their hot path. Only it ends in production/, so no other route is shadowed.
    path("prompts/<path:name>/production/", production.ProductionPromptView.as_view(), name="production-prompt"),
    path("teams/", teams.TeamListView.as_view(), name="teams"),
    path("tokens/", teams.TokenListView.as_view(), name="tokens"),
    path("tokens/<int:pk>/", teams.TokenDetailView.as_view(), name="token"),
    path("datasets/", datasets.DatasetListView.as_view(), name="datasets"),
    path("datasets/<int:pk>/", datasets.DatasetDetailView.as_view(), name="dataset"),
    path("datasets/<int:pk>/examples/", datasets.ExampleListView.as_view(), name="dataset-examples"),
    path("prompts/", optimization.PromptListView.as_view(), name="prompts"),
    path("prompts/<int:pk>/", optimization.PromptDetailView.as_view(), name="prompt"),
    path("prompts/<int:pk>/diff/", optimization.VersionDiffView.as_view(), name="prompt-diff"),
    path("prompts/<int:pk>/versions/", optimization.VersionListView.as_view(), name="versions"),
    path("prompts/<int:pk>/versions/<int:number>/", optimization.VersionDetailView.as_view(), name="version"),
    path("prompts/<int:pk>/versions/<int:number>/request-review/", optimization.RequestReviewView.as_view(),
         name="version-request-review"),
    path("prompts/<int:pk>/versions/<int:number>/approve/", optimization.ApproveView.as_view(), name="version-approve"),
    path("prompts/<int:pk>/versions/<int:number>/reject/", optimization.RejectView.as_view(), name="version-reject"),
    path("prompts/<int:pk>/versions/<int:number>/promote/", optimization.PromoteView.as_view(), name="version-promote"),
    path("prompts/<int:pk>/versions/<int:number>/rollback/", optimization.RollbackView.as_view(),
         name="version-rollback"),
    path("runs/", optimization.RunListView.as_view(), name="runs"),
    path("runs/<int:pk>/", optimization.RunDetailView.as_view(), name="run"),
    path("runs/<int:pk>/cancel/", optimization.RunCancelView.as_view(), name="run-cancel"),
    path("runs/<int:pk>/versions/<int:number>/results/", optimization.RunResultsView.as_view(), name="run-results"),
    path("audit/", optimization.AuditLogView.as_view(), name="audit"),
    # Applications and moving prompts between instances (issue 14)
    path("prompts/<int:pk>/export/", exchange.PromptExportView.as_view(), name="prompt-export"),
    path("prompts/import/", exchange.PromptImportView.as_view(), name="prompt-import"),
    path("prompts/<int:pk>/canary/", rollouts.CanaryView.as_view(), name="canary"),
    path("prompts/<int:pk>/canary/stop/", rollouts.CanaryStopView.as_view(), name="canary-stop"),
    path("prompts/<int:pk>/canary/promote/", rollouts.CanaryPromoteView.as_view(), name="canary-promote"),
    path("prompts/<int:pk>/versions/<int:number>/canary/", rollouts.CanaryStartView.as_view(), name="canary-start"),
    path("prompts/<path:name>/outcomes/", rollouts.OutcomeView.as_view(), name="outcomes"),
    path("webhooks/", webhooks.EndpointListView.as_view(), name="webhooks"),
    path("webhooks/<int:pk>/", webhooks.EndpointDetailView.as_view(), name="webhook"),
    path("webhooks/<int:pk>/rotate-secret/", webhooks.RotateSecretView.as_view(), name="webhook-rotate-secret"),
    path("webhooks/<int:pk>/deliveries/", webhooks.DeliveryListView.as_view(), name="webhook-deliveries"),
    path("webhooks/<int:pk>/deliveries/<uuid:delivery>/retry/", webhooks.DeliveryRetryView.as_view(),
         name="webhook-delivery-retry"),
]


@csrf_exempt  # any method may end here, and a CSRF refusal would be the site's HTML page
def no_such_endpoint(request):
    """Any other /api/ URL: a JSON 404 in the API's error shape, not the site's HTML page."""
    hint = "" if request.path.endswith("/") else " API URLs end with a slash."
    return JsonResponse(
        {"error": {"code": "not_found", "message": f"No API endpoint at {request.path}.{hint}"}}, status=404
    )


urlpatterns = [
    path("api/v1/", include((v1, "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^api/", no_such_endpoint),  # a prefix: whatever follows, newlines included
]
