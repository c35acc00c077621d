"""What an operator's tools ask a process: is it up (/healthz), can it serve (/readyz), what has it done (/metrics);
and the JSON log format (LOG_FORMAT=json).

The three answer in a middleware placed before every other one: a container's health check or a scraper sends
whatever Host it knows (localhost, a pod's address) and plain HTTP, which the host check and the HTTPS redirect
would refuse, and none of them needs a session. Apps add what they count with `add_collector` (the optimization
app's runs, steps and LLM calls), read from the database at scrape time, so every process answers the same.
"""

import hmac
import ipaddress
import json
import logging
import time

from django.conf import settings
from django.db import connections
from django.http import HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger(__name__)

_collectors = []


def add_collector(collector):
    """A prometheus_client collector (an object with `collect()`) asked at every scrape of /metrics."""
    if not any(type(known) is type(collector) for known in _collectors):  # ready() may run twice
        _collectors.append(collector)


def healthz(request):
    """The process is up and answers; nothing else is asked (a database outage must not restart every web
    container)."""
    return JsonResponse({"status": "ok"})


def readyz(request):
    """The process can serve: its database answers, and so does the broker when REDIS_URL is set. 503 with the
    reason otherwise, so a load balancer sends no traffic here meanwhile."""
    for name, check in (("database", _database_answers), ("broker", _broker_answers)):
        try:
            check()
        except Exception as exc:  # whatever the driver raises: the answer is "not ready" and why
            logger.warning("Not ready: the %s does not answer: %s", name, exc)
            return JsonResponse(
                {"status": "unavailable", "reason": f"The {name} does not answer: {type(exc).__name__}: {exc}"},
                status=503,
            )
    return JsonResponse({"status": "ok"})


def _database_answers():
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")


def _broker_answers():
    if settings.REDIS_URL:
        _redis().ping()


_redis_clients = {}  # by URL: one connection pool per process


def _redis():
    import redis

    url = settings.REDIS_URL
    if url not in _redis_clients:
        _redis_clients[url] = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    return _redis_clients[url]


def metrics(request):
    """Prometheus' text format. Open to a bearer of METRICS_TOKEN; without one set, to this machine only."""
    if not _may_scrape(request):
        return JsonResponse(
            {"detail": "Send Authorization: Bearer METRICS_TOKEN (without METRICS_TOKEN set, only this machine "
                       "may read /metrics)."},
            status=403,
        )
    return HttpResponse(generate_latest(_scrape_registry()), content_type=CONTENT_TYPE_LATEST)


def _may_scrape(request):
    if settings.METRICS_TOKEN:
        sent = request.META.get("HTTP_AUTHORIZATION", "")
        return hmac.compare_digest(sent.encode(), f"Bearer {settings.METRICS_TOKEN}".encode())
    try:
        loopback = ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False
    # A reverse proxy on this machine connects from loopback on behalf of anyone: a forwarded request is not local.
    return loopback and "HTTP_X_FORWARDED_FOR" not in request.META and "HTTP_FORWARDED" not in request.META


class _ThisProcess:
    """The in-process metrics (prometheus_client's default registry), when there is one process to ask."""

    def collect(self):
        return REGISTRY.collect()


def _scrape_registry():
    registry = CollectorRegistry(auto_describe=False)
    if settings.PROMETHEUS_MULTIPROC_DIR:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry, path=settings.PROMETHEUS_MULTIPROC_DIR)
    else:
        registry.register(_ThisProcess())
    registry.register(QueueCollector())
    for collector in _collectors:
        registry.register(collector)
    return registry


class QueueCollector:
    """How many tasks wait in the broker's queue: steps of runs no worker has taken yet."""

    def collect(self):
        from django_q.brokers import get_broker
        from django_q.conf import Conf

        depth = GaugeMetricFamily("promptopt_queue_depth", "Tasks waiting in the queue for a worker.",
                                  labels=["queue"])
        try:
            depth.add_metric([Conf.CLUSTER_NAME], get_broker().queue_size())
        except Exception:
            logger.warning("The queue's depth could not be read", exc_info=True)
            return
        yield depth


PROBES = {"/healthz": healthz, "/readyz": readyz, "/metrics": metrics}


class ProbesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        probe = PROBES.get(request.path_info)
        if probe is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return JsonResponse({"detail": "Only GET and HEAD."}, status=405, headers={"Allow": "GET, HEAD"})
        response = probe(request)
        response["Cache-Control"] = "no-store"
        return response


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for a log collector: time (UTC), level, logger, process, message, exception."""

    def format(self, record):
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "process": record.process,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)
