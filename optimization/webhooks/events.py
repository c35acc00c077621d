"""What each event says: built from the record of the change, inside its transaction (see services.emit)."""

from .models import Event
from .services import emit

VERSION_EVENTS = {
    "request_review": Event.REVIEW_REQUESTED, "approve": Event.APPROVED, "reject": Event.REJECTED,
    "promote": Event.PROMOTED, "rollback": Event.ROLLED_BACK,
}
RUN_EVENTS = {"succeeded": Event.RUN_FINISHED, "failed": Event.RUN_FAILED, "cancelled": Event.RUN_CANCELLED}


def _when(value):
    return value.isoformat().replace("+00:00", "Z") if value else None


def version_changed(entry):
    """An audit entry of the review workflow; the transitions that are not events (a version leaving production
    because another replaced it) send nothing."""
    event = VERSION_EVENTS.get(entry.action)
    if event is None:
        return
    version = entry.version
    emit(team_id=entry.team_id, event=event, data={
        "prompt": version.prompt.name, "prompt_id": version.prompt_id, "version": version.number,
        "version_id": version.pk, "from_status": entry.from_status, "status": entry.to_status,
        "actor": entry.actor.get_username() if entry.actor else None, "comment": entry.comment,
        "at": _when(entry.created_at),
    })


def run_ended(run):
    event = RUN_EVENTS.get(run.status)
    if event is None:
        return
    best = run.best_version
    emit(team_id=run.team_id, event=event, data={
        "run": run.pk, "status": run.status, "dataset": run.dataset.name, "prompt": run.start_version.prompt.name,
        "start_version": run.start_version.number, "best_version": best.number if best else None,
        "metric": run.metric, "test_start_score": run.test_start_score, "test_best_score": run.test_best_score,
        "test_delta": run.test_delta, "ci_low": run.ci_low, "ci_high": run.ci_high, "p_value": run.p_value,
        "stop_reason": run.stop_reason, "last_error": run.last_error, "finished_at": _when(run.finished_at),
    })
