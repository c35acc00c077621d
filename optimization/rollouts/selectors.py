from .models import Canary


def canary_of(prompt):
    """The prompt's active canary, else its latest one, else None."""
    canaries = Canary.objects.filter(prompt=prompt).select_related("version", "baseline", "started_by", "ended_by")
    return canaries.filter(status=Canary.Status.ACTIVE).first() or canaries.first()
