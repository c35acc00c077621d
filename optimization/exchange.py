"""Moving a prompt between PromptOpt instances: one JSON document with every version, its scores and its review
history. The CLI (`export_prompt`, `import_prompt`), the API and the pages call these two functions.

An import never ships anything: every version arrives as a draft, written by the person importing it, and goes
through the usual review. What the versions were at the source (status, scores, history) stays in the document
and, on this side, in each version's note and in one `import` entry of the audit log per version, whose
`from_status` is the status the version had at the source.
"""

from django.db import transaction
from django.utils import timezone

from promptopt.errors import PromptOptError
from promptopt.teams.access import require_role
from promptopt.teams.models import Role

from .models import AuditEntry, Evaluation, Prompt, PromptVersion, VersionStatus

FORMAT = "promptopt.prompt/1"


def _when(value):
    return value.isoformat().replace("+00:00", "Z") if value else None


def _name(user):
    return user.get_username() if user else None


def prompt_export(*, prompt):
    """The document of `prompt`: a dict that json.dumps writes as is."""
    versions = prompt.versions.select_related("parent", "created_by", "launched_by").order_by("number")
    scores, history = {}, {}
    evaluations = (Evaluation.objects.filter(version__prompt=prompt, score__isnull=False)
                   .select_related("run__dataset").order_by("created_at", "id"))
    for evaluation in evaluations:
        scores.setdefault(evaluation.version_id, []).append({
            "run": evaluation.run_id, "dataset": evaluation.run.dataset.name, "metric": evaluation.run.metric,
            "split": evaluation.split, "score": evaluation.score, "measured_at": _when(evaluation.created_at),
        })
    for entry in AuditEntry.objects.filter(version__prompt=prompt).select_related("actor").order_by("created_at", "id"):
        history.setdefault(entry.version_id, []).append({
            "action": entry.action, "from_status": entry.from_status, "to_status": entry.to_status,
            "actor": _name(entry.actor), "comment": entry.comment, "at": _when(entry.created_at),
        })
    return {
        "format": FORMAT,
        "exported_at": _when(timezone.now()),
        "source": {"team": prompt.team.name, "prompt_id": prompt.pk},
        "prompt": {"name": prompt.name, "description": prompt.description, "created_at": _when(prompt.created_at)},
        "versions": [
            {
                "number": version.number,
                "parent": version.parent.number if version.parent else None,
                "system_prompt": version.system_prompt,
                "output_instruction": version.output_instruction,
                "demonstrations": version.demonstrations,
                "note": version.note,
                "status": version.status,
                "created_by": _name(version.created_by),
                "created_by_run": version.created_by_run_id,
                "launched_by": _name(version.launched_by),
                "predicted_score": version.predicted_score,
                "created_at": _when(version.created_at),
                "scores": scores.get(version.pk, []),
                "history": history.get(version.pk, []),
            }
            for version in versions
        ],
    }


def export_filename(prompt):
    """A file name for the document that any file system and any Content-Disposition header takes."""
    stem = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "-" for c in prompt.name)
    return (stem or "prompt") + ".json"


@transaction.atomic
def prompt_import(*, team, document, by, name=None):
    """A new prompt of `team` from an exported document, every version a draft by `by` (the editor role).

    `name` replaces the document's (for a team that already has a prompt of that name). Raises PromptOptError
    naming what is wrong with the document."""
    require_role(by, team, Role.EDITOR)
    versions = _checked(document)
    name = (name or document["prompt"].get("name") or "").strip()
    if not name:
        raise PromptOptError("The document names no prompt: give the imported prompt a name.")
    if Prompt.objects.filter(team=team, name=name).exists():
        raise PromptOptError(f"Team {team} already has a prompt named {name!r}: import it under another name.")
    source = document.get("source") or {}
    where = f"prompt {source.get('prompt_id', '?')} of team {source.get('team', '?')}"
    prompt = Prompt.objects.create(team=team, name=name, description=str(document["prompt"].get("description", "")),
                                   created_by=by)
    made = {}
    for old in versions:
        version = PromptVersion.objects.create(
            prompt=prompt, parent=made.get(old["parent"]), created_by=by, status=VersionStatus.DRAFT,
            system_prompt=old["system_prompt"], output_instruction=old["output_instruction"],
            demonstrations=old["demonstrations"], note=_note(old, where),
        )
        made[old["number"]] = version
        AuditEntry.objects.create(team=team, version=version, actor=by, action="import", from_status=old["status"],
                                  to_status=VersionStatus.DRAFT, comment=_history_words(old, where))
    return prompt


def _checked(document):
    """The document's versions in number order, each checked; PromptOptError for the first thing wrong."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise PromptOptError(f"Not an exported prompt: the document's format must be {FORMAT!r}.")
    if not isinstance(document.get("prompt"), dict) or not isinstance(document.get("versions"), list):
        raise PromptOptError("The document needs a `prompt` object and a `versions` list.")
    if not document["versions"]:
        raise PromptOptError("The document has no version to import.")
    numbers = set()
    for index, version in enumerate(document["versions"], 1):
        where = f"Version {index} of the document"
        if not isinstance(version, dict):
            raise PromptOptError(f"{where} is not an object.")
        number = version.get("number")
        if not isinstance(number, int) or isinstance(number, bool) or number < 1 or number in numbers:
            raise PromptOptError(f"{where} needs a `number` of its own, a positive whole number.")
        numbers.add(number)
        for field in ("system_prompt", "output_instruction"):
            if not isinstance(version.get(field), str):
                raise PromptOptError(f"{where} (v{number}) needs `{field}` as text.")
        if not version["system_prompt"].strip():
            raise PromptOptError(f"{where} (v{number}) has an empty system prompt.")
        demonstrations = version.get("demonstrations", [])
        if not isinstance(demonstrations, list) or not all(
            isinstance(demo, dict) and isinstance(demo.get("input"), str) and isinstance(demo.get("output"), str)
            for demo in demonstrations
        ):
            raise PromptOptError(f"{where} (v{number}): demonstrations are a list of {{input, output}} texts.")
        version["demonstrations"] = [{"input": demo["input"], "output": demo["output"]} for demo in demonstrations]
        if version.get("status") not in VersionStatus.values:
            raise PromptOptError(f"{where} (v{number}) has an unknown status {version.get('status')!r}.")
        for field in ("scores", "history"):
            if not isinstance(version.setdefault(field, []), list):
                raise PromptOptError(f"{where} (v{number}): `{field}` is a list.")
    ordered = sorted(document["versions"], key=lambda version: version["number"])
    for version in ordered:  # a parent comes first, so it exists when its child is made
        if version.get("parent") is not None and not (
            version["parent"] in numbers and version["parent"] < version["number"]
        ):
            version["parent"] = None
    return ordered


def _note(old, where):
    scores = "; ".join(
        f"{score.get('split')} {score.get('score'):.3f} ({score.get('metric')} on {score.get('dataset')}, "
        f"run #{score.get('run')})"
        for score in old["scores"] if isinstance(score, dict) and isinstance(score.get("score"), (int, float))
    )
    note = f"Imported from {where}: v{old['number']} there, {old['status']} there"
    note += f"; scores there: {scores}." if scores else "."
    return f"{old.get('note') or ''}\n\n{note}".strip()


def _history_words(old, where):
    lines = [f"Imported as a draft from {where}, where v{old['number']} was {old['status']}"
             f" (made by {old.get('created_by') or 'a run'})."]
    for step in old["history"]:
        if isinstance(step, dict):
            lines.append(f"{step.get('at')}: {step.get('actor') or '—'} {step.get('action')} "
                         f"{step.get('from_status')} → {step.get('to_status')}"
                         + (f" ({step['comment']})" if step.get("comment") else ""))
    return "\n".join(lines)
