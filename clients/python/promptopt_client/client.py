"""Fetching production prompts: revalidated after a TTL, kept on disk, served stale when the server is down."""

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path

from .rendering import in_canary, render_messages

logger = logging.getLogger("promptopt_client")

try:
    import fcntl
except ImportError:  # Windows: threads are still safe; processes share the copy without a lock
    fcntl = None


class PromptOptError(Exception):
    """The server refused the request (a bad token, a team to name, ...): the message says why."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class PromptNotFound(PromptOptError):
    """No such prompt, or it has no production version (404 or 410): any cached copy was deleted."""


class ServerUnavailable(PromptOptError):
    """The server did not answer in time or failed, and no copy was ever fetched to fall back on."""


@dataclass(frozen=True)
class Prompt:
    """A production version of a prompt. `stale`: served from the last good copy because the server was down."""

    name: str
    version: int
    system_prompt: str
    output_instruction: str
    demonstrations: list
    etag: str
    document: dict = field(repr=False)
    checked_at: float = 0.0  # when the server last confirmed it (time.time())
    stale: bool = False

    @property
    def canary(self):
        """While a canary runs: {"version", "share", ...} of the version tried on a share of subjects; else None."""
        return self.document.get("canary")

    def for_subject(self, subject):
        """The version `subject` (a user or session id) gets: the canary's for its share of subjects, always the
        same one for the same subject, else this production version."""
        canary = self.canary
        if subject is None or canary is None or not in_canary(canary["salt"], str(subject), canary["share"]):
            return self
        return replace(self, version=canary["version"], system_prompt=canary["system_prompt"],
                       output_instruction=canary["output_instruction"], demonstrations=canary["demonstrations"])

    def messages(self, text):
        """The chat messages for one input: the same rendering the server uses when it scores the prompt."""
        return render_messages(self.system_prompt, self.output_instruction, self.demonstrations, text)

    @classmethod
    def from_document(cls, document, etag, checked_at):
        return cls(name=document["prompt"], version=document["version"], system_prompt=document["system_prompt"],
                   output_instruction=document["output_instruction"], demonstrations=document["demonstrations"],
                   etag=etag, document=document, checked_at=checked_at)


class PromptClient:
    """`get(name)` returns the production version of the prompt called `name`, for a token of the server."""

    def __init__(self, base_url, token, *, team=None, ttl=60.0, timeout=2.0, retry_after=None, cache_dir=None,
                 background_refresh=False):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.team = team
        self.ttl = ttl
        self.timeout = timeout
        self.retry_after = min(ttl, 5.0) if retry_after is None else retry_after
        self.cache_dir = Path(cache_dir or Path.home() / ".cache" / "promptopt")
        self._memory = {}  # name -> Prompt
        self._next_check = {}  # name -> time.monotonic() of the next revalidation
        self._locks = {}
        self._locks_lock = threading.Lock()
        self._stop = threading.Event()
        self._refresher = None
        if background_refresh:
            self._refresher = threading.Thread(target=self._refresh_forever, name="promptopt-refresh", daemon=True)
            self._refresher.start()

    # -----------------------------------------------------------------------------------------------------
    # What applications call

    def get(self, name, subject=None):
        """The production prompt called `name`: from memory within the TTL, else revalidated with the server.
        With a `subject` (a user or session id), the version that subject gets while a canary runs, decided
        here from the one document the server sent, so a subject costs no request of its own.

        Raises PromptNotFound (and forgets any copy) on 404/410, ServerUnavailable when the server is down and
        there is no copy, PromptOptError when the server refuses the request."""
        with self._lock(name):
            prompt = self._memory.get(name)
            if prompt is None or time.monotonic() >= self._next_check.get(name, 0):
                prompt = self._revalidate(name)
        return prompt.for_subject(subject)

    def report(self, name, subject, version, score):
        """Report how it went for `subject` with `version` (the `version` of what `get(name, subject)` gave), while
        a canary runs: e.g. 1 for a thumbs-up, 0 for a thumbs-down. Raises PromptOptError with the server's
        reason if refused, ServerUnavailable if the server does not answer."""
        url = f"{self.base_url}/api/v1/prompts/{urllib.parse.quote(name, safe='')}/outcomes/"
        if self.team is not None:
            url += f"?team={int(self.team)}"
        body = json.dumps({"subject": str(subject), "version": version, "score": score}).encode()
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        try:
            status, _, answer = self._open(urllib.request.Request(url, data=body, headers=headers, method="POST"))
        except (OSError, TimeoutError) as error:
            raise ServerUnavailable(f"{self.base_url} gave no answer: {error}") from None
        if status != 201:
            raise PromptOptError(_message(answer, status), status)

    def close(self):
        """Stop the background refresh (if any)."""
        self._stop.set()
        if self._refresher is not None:
            self._refresher.join(timeout=self.timeout + 1)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -----------------------------------------------------------------------------------------------------
    # Revalidation

    def _revalidate(self, name):
        """Called with the thread lock held. Holds the file lock while it asks, so that of several processes
        only one asks the server and the others read what it wrote."""
        path = self._path(name)
        with self._file_lock(path):
            on_disk = self._read(path)
            if on_disk is not None and not on_disk.stale and time.time() - on_disk.checked_at < self.ttl:
                return self._remember(name, on_disk, on_disk.checked_at + self.ttl - time.time())
            known = self._memory.get(name) or on_disk
            try:
                status, etag, body = self._request(name, known.etag if known else None)
            except (OSError, TimeoutError) as error:  # refused, reset, timed out: the server is down or slow
                return self._fall_back(name, known, f"no answer: {error}")
            if status == 304 and known is not None:
                fresh = replace(known, checked_at=time.time(), stale=False)
            elif status == 200:
                try:
                    fresh = Prompt.from_document(json.loads(body), etag, time.time())
                except (ValueError, KeyError, TypeError):  # a proxy's error page, a truncated body
                    return self._fall_back(name, known, "an answer that is not a production prompt")
            elif status in (404, 410):
                self._forget(name, path)
                raise PromptNotFound(_message(body, status), status)
            elif status >= 500 or status == 429:
                return self._fall_back(name, known, f"HTTP {status}")
            else:
                raise PromptOptError(_message(body, status), status)
            self._write(path, fresh)
            return self._remember(name, fresh, self.ttl)

    def _fall_back(self, name, known, why):
        if known is None:
            raise ServerUnavailable(f"{self.base_url} gave {why}, and there is no copy of {name!r} to serve.")
        return self._remember(name, replace(known, stale=True), self.retry_after)

    def _remember(self, name, prompt, seconds):
        self._memory[name] = prompt
        self._next_check[name] = time.monotonic() + seconds
        return prompt

    def _forget(self, name, path):
        self._memory.pop(name, None)
        self._next_check.pop(name, None)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    def _request(self, name, etag):
        url = f"{self.base_url}/api/v1/prompts/{urllib.parse.quote(name, safe='')}/production/"
        if self.team is not None:
            url += f"?team={int(self.team)}"
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if etag:
            headers["If-None-Match"] = etag
        return self._open(urllib.request.Request(url, headers=headers))

    def _open(self, request):
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, response.headers.get("ETag", ""), response.read()
        except urllib.error.HTTPError as error:  # urllib raises for 304 as for every status >= 300
            with error:
                return error.code, error.headers.get("ETag", ""), error.read()

    def _refresh_forever(self):
        while not self._stop.wait(self.ttl):
            for name in list(self._memory):
                try:
                    with self._lock(name):
                        self._revalidate(name)
                except PromptOptError:
                    pass  # dropped (404), refused, or down with no copy: `get` says so when asked
                except Exception:  # never let one failure end the refreshing of every prompt
                    logger.exception("Refreshing the prompt %r failed", name)

    # -----------------------------------------------------------------------------------------------------
    # The copy on disk: one JSON file per server, team and prompt, replaced atomically

    def _path(self, name):
        key = hashlib.sha256(f"{self.base_url}|{self.team}|{name}".encode()).hexdigest()[:32]
        return self.cache_dir / f"{key}.json"

    def _read(self, path):
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            return Prompt.from_document(saved["document"], saved["etag"], saved["checked_at"])
        except (OSError, ValueError, KeyError, TypeError):  # none yet, or unreadable: as if none
            return None

    def _write(self, path, prompt):
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        saved = {"document": prompt.document, "etag": prompt.etag, "checked_at": prompt.checked_at}
        handle, temporary = tempfile.mkstemp(dir=self.cache_dir, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(saved, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)  # readers see the old copy or the new one, never half of one
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    @contextlib.contextmanager
    def _file_lock(self, path):
        if fcntl is None:
            yield
            return
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _lock(self, name):
        with self._locks_lock:
            return self._locks.setdefault(name, threading.Lock())


def _message(body, status):
    try:
        return json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return f"HTTP {status}"
