"""Reads: prompts and their versions, what a run measured, the audit log, and the production prompt.

Callers scope by team first (`teams` is the queryset of the caller's teams); these only shape the reads.
"""

import difflib
import functools
import hashlib
import json
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, F, Max, OuterRef, Subquery
from django.http import Http404

from datasets.models import Split
from optimization.rollouts.models import Canary, in_canary
from promptopt.errors import PromptOptError
from promptopt.models import ApiToken, Membership, Team

from .llm import usage_for
from .models import AuditEntry, Evaluation, Prediction, Prompt, PromptVersion, RunStatus, VersionStatus

PRODUCTION = VersionStatus.PRODUCTION


def prompts_with_counts(prompts):
    production = PromptVersion.objects.filter(prompt=OuterRef("pk"), status=PRODUCTION)
    return prompts.select_related("created_by").annotate(
        version_count=Count("versions"),
        latest_version=Max("versions__number"),
        production_version=Subquery(production.values("number")[:1]),
    )


def demonstrations_text(version):
    return json.dumps(version.demonstrations, indent=2, ensure_ascii=False) if version.demonstrations else ""


def version_text(version):
    """A version as one document, the way a reviewer reads it: what changes between two versions is in here."""
    demonstrations = demonstrations_text(version)
    return (
        f"## system_prompt\n{version.system_prompt}\n"
        f"## output_instruction\n{version.output_instruction}\n"
        f"## demonstrations\n{demonstrations}\n"
    )


def versions_to_compare(prompt, *, old_number=None, new_number=None):
    """The two versions a diff compares, (old, new): the numbers asked for; by default the latest as the new one,
    and as the old one what the new one was written from (else the version before it). `old` is None when the new
    one has nothing before it; both are None for a prompt without versions. Http404 for a number it lacks."""
    versions = {version.number: version for version in prompt.versions.select_related("prompt", "parent")}
    for number in (new_number, old_number):
        if number is not None and number not in versions:
            raise Http404(f"Prompt {prompt.name} has no version {number}.")
    new = versions[new_number] if new_number is not None else versions.get(max(versions, default=None))
    if old_number is not None:
        return versions[old_number], new
    if new is None:
        return None, None
    if new.parent is not None and new.parent.prompt_id == prompt.pk:
        return versions[new.parent.number], new
    return versions.get(max((number for number in versions if number < new.number), default=None)), new


def version_diff(old, new):
    """A unified diff, as `diff -u` prints it, from `old` to `new`; empty when their texts are the same."""
    lines = difflib.unified_diff(
        version_text(old).splitlines(), version_text(new).splitlines(),
        fromfile=f"{old.prompt.name} v{old.number}", tofile=f"{new.prompt.name} v{new.number}", lineterm="",
    )
    return "\n".join(lines)


def start_version_of(prompt, number=None):
    """The version a run starts from: the one asked for, else production, else the latest a person wrote."""
    versions = prompt.versions.all()
    if number is not None:
        version = versions.filter(number=number).first()
        if version is None:
            raise PromptOptError(f"Prompt {prompt} has no version {number}.")
        return version
    return (
        versions.filter(status=VersionStatus.PRODUCTION).first()
        or versions.filter(created_by_run__isnull=True).order_by("-number").first()
        or versions.order_by("-number").first()
    )


def run_summary(run):
    """The run's result as one JSON-ready dict (the CLI prints it; the API returns the same shape)."""
    evaluations = list(Evaluation.objects.filter(run=run))

    def of(version, field):
        if version is None:
            return {}
        return {e.split: getattr(e, field) for e in evaluations if e.version_id == version.pk}

    usage = usage_for(run)
    best = run.best_or_start() if run.best_version_id or run.status == RunStatus.SUCCEEDED else None
    return {
        "run_id": run.pk,
        "status": run.status,
        "stop_reason": run.stop_reason,
        "error": run.last_error,
        "start": of(run.start_version, "score"),
        "best": of(best, "score"),
        "test_delta": run.test_delta,
        "ci_low": run.ci_low,
        "ci_high": run.ci_high,
        "p_value": run.p_value,
        "baseline": baseline_summary(run, [e for e in evaluations if e.is_baseline]),
        "constant_answer": {"start": of(run.start_version, "constant_answer"), "best": of(best, "constant_answer")},
        "verdict": run.verdict,
        "offered_for_review": bool(run.verdict) and best != run.start_version and not best.held_back,
        "overfitting_gap": overfitting_gap(of(best, "score")),
        "calls_saved": run.calls_saved,
        "iterations": run.iterations.count(),
        "llm_calls": usage["llm_calls"],
        "tokens": usage["tokens"],
        "cache_hits": usage["cache_hits"],
        "best_version_id": best.pk if best else None,
    }


def overfitting_gap(scores):
    """The best version's validation score, where it was chosen among others, minus its test score: how much of
    its score the choosing itself may have found."""
    if scores.get(Split.VALIDATION) is None or scores.get(Split.TEST) is None:
        return None
    return scores[Split.VALIDATION] - scores[Split.TEST]


def baseline_summary(run, evaluations):
    """The constant answer chosen on train, its scores, and the best version − it on test; None before the end."""
    if not evaluations:
        return None
    scores = {e.split: e.score for e in evaluations}
    return {
        "answer": evaluations[0].baseline_answer,
        "validation": scores.get(Split.VALIDATION),
        "test": scores.get(Split.TEST),
        "test_delta": run.baseline_delta,
        "ci_low": run.baseline_ci_low,
        "ci_high": run.baseline_ci_high,
        "p_value": run.baseline_p_value,
    }


def run_evaluations(run, *, scored_only=False):
    """The run's evaluations with their number of examples, version by version (the baseline last), split by
    split; `scored_only`: those whose every example is scored."""
    evaluations = run.evaluations.all()
    if scored_only:
        evaluations = evaluations.filter(score__isnull=False)
    return (evaluations.select_related("version", "iteration").annotate(examples=Count("predictions"))
            .order_by(F("version__number").asc(nulls_last=True), "split"))


def run_headline_evaluation(run):
    """The evaluation a person looks at first: the best version's (or the start's) on test, else the last one."""
    evaluations = run_evaluations(run)
    return evaluations.filter(version=run.best_or_start(), split=Split.TEST).first() or evaluations.last()


def run_detail(run):
    """What the run page shows: the summary the CLI prints, usage, each iteration with its candidates' scores,
    and every evaluation of the run."""
    evaluations = list(run_evaluations(run))
    validation = {e.version_id: e.score for e in evaluations if e.split == "validation" and not e.is_baseline}
    iterations = []
    for iteration in run.iterations.prefetch_related("candidates").order_by("number"):
        candidates = sorted(iteration.candidates.all(), key=lambda version: version.number)
        iterations.append({
            "number": iteration.number,
            "best_score_before": iteration.best_score_before,
            "best_score_after": iteration.best_score_after,
            "improved": iteration.improved,
            "optimizer_error": iteration.optimizer_error,
            "started_at": iteration.started_at,
            "finished_at": iteration.finished_at,
            "candidates": [
                {"version": c.number, "version_id": c.pk, "validation_score": validation.get(c.pk),
                 "predicted_score": c.predicted_score}
                for c in candidates
            ],
        })
    return {
        "summary": run_summary(run),
        "usage": usage_for(run),
        "iterations": iterations,
        "evaluations": [
            {"version": e.version.number if e.version else None, "version_id": e.version_id,
             "baseline_answer": e.baseline_answer, "split": e.split, "score": e.score,
             "constant_answer": e.constant_answer, "raced_out": e.raced_out, "spread": e.spread,
             "examples": e.examples,
             "iteration": e.iteration.number if e.iteration else None}
            for e in evaluations
        ],
    }


def run_results(run, version, *, split=None, failures_only=False):
    """Per-example results of `version` in `run`, split by split in the examples' order."""
    predictions = Prediction.objects.filter(evaluation__run=run, evaluation__version=version)
    if split:
        predictions = predictions.filter(evaluation__split=split)
    return answers(predictions, failures_only=failures_only).order_by("evaluation__split", "example__position")


def answers(predictions, *, failures_only=False):
    """Predictions with their examples; `failures_only`: those scored below 1."""
    if failures_only:
        predictions = predictions.filter(score__lt=1)
    return predictions.select_related("example", "evaluation")


def audit_log(entries, *, prompt=None, version_number=None):
    if prompt is not None:
        entries = entries.filter(version__prompt=prompt)
    if version_number is not None:
        entries = entries.filter(version__number=version_number)
    return entries.select_related("actor", "version__prompt")


# ---------------------------------------------------------------------------------------------------------
# The production prompt: what applications read, on their hot path.
#
# Every request asks the database one question that it must ask anyway, "which of the caller's teams is meant,
# and may they read it?", and the same query also answers "which version is in production, since when?". The
# cache key is made of those answers, so a promotion or a rollback changes the key by itself: no process can
# serve the version it replaced, nothing needs to be invalidated, and the cache holds only what is costly to
# redo (the version's text, read and rendered as JSON, and its ETag).

PRODUCTION_CACHE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Production:
    etag: str  # strong: a hash of the body, which holds the version's id, content and promotion time
    body: bytes  # the JSON document, as sent


@functools.cache
def _production_sql(caller, one_team):
    """In SQL, because this runs on every request: the ORM took 2.3 ms to build the same query from subqueries;
    this takes 0.03 ms to run. `status` is written into the SQL rather than bound, so that SQLite plans once for
    the partial index of production versions (bound, each run cost 0.08 ms).

    `caller` says whose teams, as `teams_of` decides them: "member" (a user id: the user's teams), "superuser"
    (every team) or "token" (`ApiToken.live_params` of an API key: the teams of the live token's active owner,
    who is not a superuser; a superuser's token finds nothing here and takes the long way)."""
    User = get_user_model()
    table = {model: connection.ops.quote_name(model._meta.db_table)
             for model in (Team, Membership, Prompt, PromptVersion, AuditEntry, ApiToken, User, Canary)}
    user_id, is_superuser = (connection.ops.quote_name(User._meta.get_field(name).column)
                             for name in (User._meta.pk.name, "is_superuser"))
    production = f"'{PRODUCTION.value}'"
    teams = {
        "superuser": f"{table[Team]} t",
        "member": f"{table[Membership]} m JOIN {table[Team]} t ON t.id = m.team_id AND m.user_id = %s",
        "token": f"{table[ApiToken]} k JOIN {table[User]} u ON u.{user_id} = k.user_id"
                 f" AND {ApiToken.live_sql('k', 'u')} AND NOT u.{is_superuser}"
                 f" JOIN {table[Membership]} m ON m.user_id = u.{user_id} JOIN {table[Team]} t ON t.id = m.team_id",
    }
    return (
        f"SELECT t.id, t.name, p.id, v.id, v.created_at,"
        f" (SELECT MAX(a.created_at) FROM {table[AuditEntry]} a WHERE a.version_id = v.id"
        f" AND a.to_status = {production}), {'k.id, k.scope' if caller == 'token' else 'NULL, NULL'},"
        f" c.id, c.version_id, c.share, c.salt"
        f" FROM {teams[caller]}"
        f" LEFT JOIN {table[Prompt]} p ON p.team_id = t.id AND p.name = %s"
        f" LEFT JOIN {table[PromptVersion]} v ON v.prompt_id = p.id AND v.status = {production}"
        # A canary is served only beside the production version it started beside (one active per prompt).
        f" LEFT JOIN {table[Canary]} c ON c.prompt_id = p.id AND c.status = '{Canary.Status.ACTIVE.value}'"
        f" AND c.baseline_id = v.id"
        + (" WHERE t.id = %s" if one_team else "")
        + " ORDER BY t.id LIMIT 2"
    )


def _production_rows(caller, who, name, team_id):
    """`who`: the parameters that say whose teams (none, a user's id, or `ApiToken.live_params`)."""
    params = [*who, name] + ([] if team_id is None else [team_id])
    with connection.cursor() as cursor:
        cursor.execute(_production_sql(caller, team_id is not None), params)
        columns = ("team_id", "team_name", "prompt_id", "version_id", "version_created_at", "promoted_at",
                   "token_id", "token_scope", "canary_id", "canary_version_id", "canary_share", "canary_salt")
        return [dict(zip(columns, row)) for row in cursor.fetchall()]


def production_rows(*, user, name, team_id=None):
    """At most two of `user`'s teams (only `team_id` if given), each with the prompt called `name`, its
    production version and when that was last promoted (None where there is none)."""
    if user.is_superuser:
        return _production_rows("superuser", [], name, team_id)
    return _production_rows("member", [user.pk], name, team_id)


def production_rows_for_key(*, key_hash, name, team_id=None):
    """`production_rows` of the owner of the live API token with this hash, each row with the token's id and
    scope; no rows for a revoked, expired or unknown token, an inactive owner or a superuser. One query
    authenticates and finds."""
    return _production_rows("token", ApiToken.live_params(key_hash), name, team_id)


def production_cache_key(row, name):
    """Changes whenever what the endpoint returns may change: another version, another promotion of the same
    version (a rollback), a renamed prompt, a canary started or stopped. Ids and times (and a canary's random
    salt) together survive a database that reuses ids."""
    facts = "|".join(str(row[key]) for key in ("team_id", "prompt_id", "version_id", "version_created_at",
                                                "promoted_at", "canary_id", "canary_share", "canary_salt"))
    return "production:" + hashlib.sha256(f"{facts}|{name}".encode()).hexdigest()


def production_prompt(*, user, name, team_id=None, subject=None):
    """The production version of the prompt called `name`, in `user`'s one team (or in team `team_id`).

    Raises Http404 when there is no such team, prompt or production version, and PromptOptError when the user
    is in several teams and none was named."""
    rows = production_rows(user=user, name=name, team_id=team_id)
    if not rows:
        raise Http404(f"No team {team_id} in your teams." if team_id is not None else "You belong to no team.")
    if len(rows) > 1:
        raise PromptOptError(
            "You belong to several teams: say which with ?team=ID (GET /api/v1/teams/ lists your teams)."
        )
    row = rows[0]
    if row["prompt_id"] is None:
        raise Http404(f"Team {row['team_name']} has no prompt named {name!r}.")
    if row["version_id"] is None:
        raise Http404(
            f"Prompt {name!r} of team {row['team_name']} has no production version yet: promote an approved version."
        )
    return production_document(row, name, subject)


def production_document(row, name, subject=None):
    """The production document of a row of `production_rows` that has a production version; for a `subject`
    (a user or session id) the canary's version instead, if a canary runs and gives it to that subject."""
    if subject is not None and row["canary_id"] is not None and in_canary(row["canary_salt"], subject,
                                                                           row["canary_share"]):
        facts = f"{row['canary_id']}|{row['canary_salt']}|{row['canary_version_id']}|{name}"  # the salt: random
        return _document("canary:" + hashlib.sha256(facts.encode()).hexdigest(),
                         lambda: _render_production(row["canary_version_id"]))
    if row["canary_id"] is None:
        return _document(production_cache_key(row, name), lambda: _render_production(row["version_id"]))
    return _document(production_cache_key(row, name), lambda: _render_production(row["version_id"], canary=row))


def _document(key, render):
    production = _recent.get(key)
    if production is None:
        production = cache.get(key)
        if production is None:
            production = render()
            cache.set(key, production, PRODUCTION_CACHE_SECONDS)
        if len(_recent) >= 1000:
            _recent.clear()
        _recent[key] = production
    return production


# This process's copy of what it last read from Django's cache. A key never changes meaning (it is made of what
# the document says), so the copy cannot be stale; it saves reading and unpickling a file on every request.
_recent = {}


def _timestamp(value):
    return value.isoformat().replace("+00:00", "Z") if value else None


def _render_production(version_id, canary=None):
    """The document; with `canary` (a row with a canary), the canary's version and the rule that assigns it, so
    that a client can give each subject its version without asking again (promptopt_client does)."""
    version = PromptVersion.objects.select_related("prompt").get(pk=version_id)
    promoted_at = version.audit_entries.filter(to_status=PRODUCTION).aggregate(at=Max("created_at"))["at"]
    document = {
        "prompt": version.prompt.name,
        "prompt_id": version.prompt_id,
        "team": version.prompt.team_id,
        "version": version.number,
        "version_id": version.pk,
        "system_prompt": version.system_prompt,
        "output_instruction": version.output_instruction,
        "demonstrations": version.demonstrations,
        "created_at": _timestamp(version.created_at),
        "promoted_at": _timestamp(promoted_at),
    }
    if canary is not None:
        other = PromptVersion.objects.get(pk=canary["canary_version_id"])
        document["canary"] = {
            "id": canary["canary_id"], "share": canary["canary_share"], "salt": canary["canary_salt"],
            "version": other.number, "version_id": other.pk, "system_prompt": other.system_prompt,
            "output_instruction": other.output_instruction, "demonstrations": other.demonstrations,
        }
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    return Production(etag=f'"{hashlib.sha256(body).hexdigest()[:32]}"', body=body)
