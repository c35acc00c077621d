"""The production prompt: what applications fetch, on their hot path, in one module.

A token's GET of a prompt in production is answered by `ProductionPromptView.served`: one query
(`_production_sql`) authenticates the token, checks its scope and finds the team, the prompt, the production version
and any canary; the document comes from a cache whose key is made of that query's answers. Anything else (a
session, a bad token, an error, throttling) takes DRF's way, which alone words the errors. What makes a token live
is `ApiToken.live_sql`, the one rule both this query and `TokenAuthentication` use. tests/test_api_production.py
checks that both ways answer alike.
"""

import functools
import hashlib
import json
import logging
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.db.models import Max
from django.http import Http404, HttpResponse, HttpResponseNotModified
from django.utils.http import parse_etags
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from promptopt.api.authentication import TokenAuthentication, TokenScope
from promptopt.api.conventions import ApiConventions
from promptopt.api.errors import documented
from promptopt.api.parameters import int_param
from promptopt.api.throttling import TokenRateThrottle
from promptopt.errors import PromptOptError
from promptopt.teams.models import ApiToken, Membership, Team

from ..models import AuditEntry, Prompt, PromptVersion, VersionStatus
from ..monitoring import count_production_request
from ..rollouts.models import Canary, in_canary
from .serializers import ProductionPromptSerializer

logger = logging.getLogger("promptopt.api")

PRODUCTION = VersionStatus.PRODUCTION

# ---------------------------------------------------------------------------------------------------------
# The read: what applications ask for, in one query.
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


# ---------------------------------------------------------------------------------------------------------
# The view


CACHE_CONTROL = "private, max-age=0, must-revalidate"


SUBJECT_MAX = 200


def subject_param(request):
    subject = request.query_params.get("subject")
    if subject is not None and not 0 < len(subject) <= SUBJECT_MAX:
        raise exceptions.ValidationError({"subject": [f"A user or session id of 1 to {SUBJECT_MAX} characters."]})
    return subject


def _etag_matches(header, etag):
    if not header:
        return False
    if header.strip() == "*":
        return True
    # If-None-Match compares weakly (RFC 9110 13.1.2): W/"x" matches "x".
    return etag in {tag.removeprefix("W/") for tag in parse_etags(header)}


class ProductionPromptView(ApiConventions, APIView):
    serves_applications = True  # what a token of scope `serve` may call (TokenScope)
    parser_classes = ()  # a GET: no body to parse
    renderer_classes = (JSONRenderer,)  # only JSON, so no `Vary: Accept` either
    renderer = JSONRenderer()

    def perform_content_negotiation(self, request, force=False):
        return self.renderer, self.renderer.media_type  # always JSON; negotiating was 6 % of the endpoint's time

    @extend_schema(
        summary="The production version of a prompt, by the prompt's name",
        description=(
            "What applications fetch. The team is the caller's one team; a caller in several teams names it with "
            "`?team=ID` (400 otherwise). 404 with a message when there is no such prompt or nothing is promoted.\n\n"
            "Send the `ETag` back in `If-None-Match` to get a 304 while the version in production is the same. "
            "`Cache-Control: private, max-age=0, must-revalidate`: a cache may keep the document but must ask "
            "again before using it, so a promotion or rollback shows from the next request on."
        ),
        parameters=[
            OpenApiParameter("name", str, OpenApiParameter.PATH, description="The prompt's name."),
            OpenApiParameter("team", int, description="Which of your teams; needed if you are in several."),
            OpenApiParameter("subject", str, description="A user or session id: while a canary runs, the version "
                                                         "this subject gets (always the same one)."),
            OpenApiParameter("If-None-Match", str, OpenApiParameter.HEADER, description="An ETag from before."),
        ],
        responses=documented(
            {200: ProductionPromptSerializer,
             304: OpenApiResponse(description="Not modified: the ETag sent is the production version's.")},
            400, 404,
        ),
    )
    def get(self, request, name):
        production = production_prompt(user=request.user, name=name, team_id=int_param(request, "team"),
                                                 subject=subject_param(request))
        return self.respond(request, production)

    def respond(self, request, production):
        # A new response: its Vary is set, not patched. META, not `request.headers`, which would copy all of it.
        headers = {"ETag": production.etag, "Cache-Control": CACHE_CONTROL, "Vary": "Authorization, Cookie"}
        if _etag_matches(request.META.get("HTTP_IF_NONE_MATCH"), production.etag):
            return HttpResponseNotModified(headers=headers)
        return HttpResponse(production.body, content_type="application/json", headers=headers)

    def dispatch(self, request, *args, **kwargs):
        """Application traffic, a GET with a valid token for a prompt in production, is served by `served`: one
        query authenticates the token and finds the version, without DRF's request cycle, which cost as much as
        the rest of the request. Everything else (a session, a bad token, an error, throttling) takes DRF's way,
        which alone words the errors."""
        try:
            response = self.served(request, kwargs["name"])
        except Exception:  # a database or cache failure: DRF's way meets it again, logs it, answers it as JSON
            logger.warning("The production prompt's quick path failed; DRF's way answers", exc_info=True)
            response = None
        if response is None:
            response = super().dispatch(request, *args, **kwargs)
        count_production_request(response.status_code)
        return response

    def quick_path_applies(self):
        """Whether `served` answers as DRF would: the view's authentication, permission and throttle classes are
        the ones it reproduces. Another configuration (tokens turned off, another throttle) takes DRF's way."""
        return (
            list(self.authentication_classes[:1]) == [TokenAuthentication]  # a token before a session, as DRF tries
            and list(self.permission_classes) == [IsAuthenticated, TokenScope]
            and list(self.throttle_classes) == [TokenRateThrottle]
        )

    def served(self, request, name):
        """The response to a token's successful GET, or None for anything else (then DRF's way answers it)."""
        if request.method != "GET" or "\x00" in name or not self.quick_path_applies():
            return None
        team = subject = None
        if request.META.get("QUERY_STRING"):  # rare without a subject: parsing it costs as much as a header
            team, subject = request.GET.get("team"), request.GET.get("subject")
            if request.GET.keys() - {"team", "subject"} or (
                team is not None and not (team and team.isascii() and team.isdigit() and len(team) <= 18)
            ) or (subject is not None and not 0 < len(subject) <= SUBJECT_MAX):
                return None
        try:
            key = TokenAuthentication.key_of(request)
        except exceptions.AuthenticationFailed:
            return None
        if key is None:
            return None
        rows = production_rows_for_key(key_hash=ApiToken.hash(key), name=name,
                                                 team_id=None if team is None else int(team))
        if len(rows) != 1 or rows[0]["version_id"] is None:
            return None
        if TokenScope.refusal(rows[0]["token_scope"], request.method, self) is not None:
            return None  # DRF's way refuses it, in words
        token_id = rows[0]["token_id"]
        if not TokenRateThrottle().allow_token(token_id):
            return None  # DRF's way counts it once more and answers 429: only a token already over its rate
        TokenAuthentication.touch(token_id)
        self.args, self.kwargs, self.request = (), {"name": name}, request
        self.headers = self.default_response_headers
        return self.finalize_response(request, self.respond(request, production_document(rows[0], name,
                                                                                                  subject)))
