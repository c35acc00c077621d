"""PromptOpt settings, read from the environment (and an optional `.env` beside manage.py).

Every variable has a laptop-safe default: SQLite, django-q2's ORM broker, media on local disk and the
embedded model; all but SECRET_KEY, which DEBUG off requires (the Makefile makes one for this checkout). A bad
value stops start-up with a message that names the variable.
"""

import os
import re
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _text(name, default=""):
    """A setting read as it is written (a name, a path, a URL); unset gives the default."""
    return os.environ.get(name, default)


def _bool(name, default):
    raw = os.environ.get(name)
    if raw is None:
        return default
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean: use one of true/false, 1/0, yes/no, on/off.")


def _number(name, default, cast=int, minimum=None):
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = cast(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a valid {cast.__name__}.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} must be at least {minimum}.")
    return value


def _choice(name, default, choices):
    value = os.environ.get(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} is not one of: {', '.join(sorted(choices))}.")
    return value


def _rate(name, default):
    """A rate as DRF's throttles read it: a count per second, minute, hour or day ("6000/min")."""
    value = os.environ.get(name, default).strip()
    if not re.fullmatch(r"[1-9]\d*/(s|sec|second|m|min|minute|h|hour|d|day)", value):
        raise ImproperlyConfigured(f"{name}={value!r} is not a rate: write a count per s, min, hour or day, "
                                   "e.g. 6000/min.")
    return value


def _database(name, default):
    try:
        config = env.db_url(name, default=default)
    except (ImproperlyConfigured, ValueError, KeyError) as exc:
        raise ImproperlyConfigured(f"{name} is not a database URL Django can use: {exc}") from None
    if not config.get("ENGINE", "").startswith("django.db.backends."):
        raise ImproperlyConfigured(
            f"{name}={os.environ.get(name)!r}: unknown database scheme; use sqlite:///PATH or postgres://..."
        )
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # WAL lets the web process read while a worker writes; IMMEDIATE takes the write lock at BEGIN,
        # so two writers queue on the busy timeout instead of failing with "database is locked".
        config["OPTIONS"] = {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
        # One connection per process: opening one per request costs more than the production-prompt endpoint.
        config.setdefault("CONN_MAX_AGE", 600)
        # A file, not memory: tests start real worker and command processes that share the test database.
        config["TEST"] = {"NAME": str(VAR_DIR / f"test-{Path(config['NAME']).stem}.sqlite3")}
    else:
        config.setdefault("CONN_MAX_AGE", 60)
        config["CONN_HEALTH_CHECKS"] = True
    return config


def _secret_key(debug):
    """SECRET_KEY, or the contents of the file named by SECRET_KEY_FILE (a Docker or Kubernetes secret).

    Without either, DEBUG on runs on a development key written here, and DEBUG off refuses to start: sessions,
    password-reset links and CSRF tokens signed with a key anyone can read can be forged by anyone."""
    key = os.environ.get("SECRET_KEY", "")
    path = os.environ.get("SECRET_KEY_FILE", "")
    if not key.strip() and path:
        try:
            key = Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"SECRET_KEY_FILE={path!r} cannot be read: {exc.strerror}.") from None
        if not key:
            raise ImproperlyConfigured(f"SECRET_KEY_FILE={path!r} is an empty file.")
    if key.strip():
        return key
    if debug:
        return "django-insecure-promptopt-development-key-never-use-it-on-a-server"
    raise ImproperlyConfigured(
        "SECRET_KEY is not set and DEBUG is off: set SECRET_KEY (or SECRET_KEY_FILE, a file holding it) to a long "
        "random string, e.g. the output of python -c 'import secrets; print(secrets.token_urlsafe(50))'. "
        "On a development machine, DEBUG=true runs on a local development key instead."
    )


def _origins(name):
    origins = env.list(name, default=[])
    for origin in origins:
        if not origin.startswith(("http://", "https://")) or origin.count("/") != 2:
            raise ImproperlyConfigured(f"{name}: {origin!r} is not an origin such as https://promptopt.example.com.")
    return origins


def _proxy_ssl_header(name):
    """The header by which a TLS-terminating proxy says the request came over HTTPS, e.g. X-Forwarded-Proto."""
    header = os.environ.get(name, "").strip()
    if not header:
        return None
    if not re.fullmatch(r"[A-Za-z0-9-]+", header):
        raise ImproperlyConfigured(f"{name}={header!r} is not a header name such as X-Forwarded-Proto.")
    return ("HTTP_" + header.upper().replace("-", "_"), "https")


DEBUG = _bool("DEBUG", False)
SECRET_KEY = _secret_key(DEBUG)
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])  # old keys, still accepted while rotating
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = _origins("CSRF_TRUSTED_ORIGINS")

# HTTPS: all off by default, for a laptop serving http://127.0.0.1. A server behind TLS turns them on: the
# production block of .env.example, with which `manage.py check --deploy` reports no issue (tests/test_settings.py).
SECURE_SSL_REDIRECT = _bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = _number("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = _bool("SECURE_HSTS_PRELOAD", False)
SECURE_PROXY_SSL_HEADER = _proxy_ssl_header("SECURE_PROXY_SSL_HEADER")
SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = _bool("CSRF_COOKIE_SECURE", False)

# Sign-in throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one username from one address,
# that pair is refused for AXES_COOLOFF_MINUTES (a failure meanwhile starts the wait again), on the sign-in page
# and the admin's alike: both go through authenticate(). `manage.py axes_reset` lifts every lockout at once.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = _number("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=_number("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "promptopt.sign_in.locked_out"
# Behind proxies every request comes from a proxy's address: counting failures per username and that address
# would let anyone lock anyone out. TRUSTED_PROXY_COUNT says how many proxies append to X-Forwarded-For.
TRUSTED_PROXY_COUNT = _number("TRUSTED_PROXY_COUNT", 0, minimum=0)
AXES_CLIENT_IP_CALLABLE = "promptopt.sign_in.client_address"

INSTALLED_APPS = [
    "promptopt.apps.PromptOptAdminConfig",  # django.contrib.admin, on the site of promptopt.admin_site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "axes",
    "promptopt.teams",
    "datasets",
    "optimization",
    "optimization.webhooks",
    "optimization.rollouts",
]

MIDDLEWARE = [
    # First: /healthz, /readyz and /metrics answer before the host check, the HTTPS redirect and sessions, so a
    # container's health check (Host: localhost) and a scraper work whatever ALLOWED_HOSTS and SSL settings say.
    "promptopt.monitoring.ProbesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out sign-in into the lockout page
]

ROOT_URLCONF = "promptopt.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "promptopt.wsgi.application"

# Local state of a laptop install: the SQLite database and uploaded files.
VAR_DIR = Path(_text("PROMPTOPT_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {"default": _database("DATABASE_URL", f"sqlite:///{VAR_DIR / 'promptopt.sqlite3'}")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(_text("MEDIA_ROOT", VAR_DIR / "media"))

# With GS_BUCKET_NAME, media go to Google Cloud Storage (application-default credentials), or to an emulator at
# STORAGE_EMULATOR_HOST, which the google client reads itself. A file read back spills to a temporary file past
# 2.5 MB, as Django's uploads do: django-storages' default keeps the whole object in memory, and the upload page
# reads a kept upload back for its preview and again for its import.
GS_BUCKET_NAME = _text("GS_BUCKET_NAME", "")
STORAGES = {
    "default": (
        {
            "BACKEND": "storages.backends.gcloud.GoogleCloudStorage",
            "OPTIONS": {"bucket_name": GS_BUCKET_NAME, "max_memory_size": 2_621_440},
        }
        if GS_BUCKET_NAME
        else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    ),
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# A file uploaded for a preview is kept (default storage, uploads/pending/) until the person imports it; one
# nobody imported within this many hours is deleted by the hourly task in datasets/tasks.py.
PENDING_UPLOAD_MAX_AGE_HOURS = _number("PENDING_UPLOAD_MAX_AGE_HOURS", 24, minimum=1)
# Limits of a dataset file, stated on the upload page; past one, the upload is refused with a message that names it.
# A file larger than DATASET_WORKER_IMPORT_MB is imported by the worker (the web request only keeps it), so no
# request spends more than a few seconds reading a file.
DATASET_MAX_FILE_MB = _number("DATASET_MAX_FILE_MB", 100.0, cast=float, minimum=0.001)
DATASET_MAX_ROWS = _number("DATASET_MAX_ROWS", 1_000_000, minimum=1)
DATASET_MAX_CELL_CHARS = _number("DATASET_MAX_CELL_CHARS", 100_000, minimum=100)
DATASET_WORKER_IMPORT_MB = _number("DATASET_WORKER_IMPORT_MB", 2.0, cast=float, minimum=0)
# Refuses a file past DATASET_MAX_FILE_MB while it arrives, before it is written anywhere (see datasets/uploads.py).
FILE_UPLOAD_HANDLERS = [
    "datasets.uploads.SizeLimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "promptopt.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated", "promptopt.api.authentication.TokenScope",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "promptopt.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": ["promptopt.api.throttling.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"token": _rate("API_TOKEN_RATE", "6000/min")},
    "EXCEPTION_HANDLER": "promptopt.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PromptOpt API",
    "DESCRIPTION": "Datasets, prompts and versions, optimization runs, reviews and the production prompt.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "VersionStatusEnum": "optimization.models.VersionStatus",
        "RunStatusEnum": "optimization.models.RunStatus",
        "DatasetFormatEnum": "datasets.models.Dataset.Format",
        "DatasetStatusEnum": "datasets.models.Dataset.Status",
        "ProviderEnum": "optimization.llm.providers.NAMES",
    },
}

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# django-q2: the ORM broker needs no service; REDIS_URL switches to Redis. One worker by default: the
# embedded model uses every core of the machine, and two copies of it would fight over them.
REDIS_URL = _text("REDIS_URL", "")
Q_TIMEOUT = _number("Q_TIMEOUT", 3600, minimum=10)
Q_CLUSTER = {
    # The queue's name: deployments (or test suites) sharing one Redis keep their tasks apart by it.
    "name": _text("Q_CLUSTER_NAME", "promptopt") or "promptopt",
    "workers": _number("Q_WORKERS", 1, minimum=1),
    "timeout": Q_TIMEOUT,
    "retry": Q_TIMEOUT + 120,
    "max_attempts": 0,
    "ack_failures": True,
    "catch_up": False,
    "label": "Background tasks",
}
if REDIS_URL:
    if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(f"REDIS_URL={REDIS_URL!r} must start with redis://, rediss:// or unix://.")
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = 1

# Webhooks: one attempt per task, retried after WEBHOOK_RETRY_SECONDS, then 4 times longer each time (10 s, 40 s,
# ~3 min, ~11 min, ~43 min with the defaults), at most WEBHOOK_MAX_ATTEMPTS attempts. Loopback, private and
# reserved addresses are refused as targets unless WEBHOOK_ALLOW_PRIVATE_TARGETS (a closed network, tests).
WEBHOOK_ALLOW_PRIVATE_TARGETS = _bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", False)
WEBHOOK_TIMEOUT_SECONDS = _number("WEBHOOK_TIMEOUT_SECONDS", 10, cast=float, minimum=0.1)
WEBHOOK_RETRY_SECONDS = _number("WEBHOOK_RETRY_SECONDS", 10, cast=float, minimum=0)
WEBHOOK_MAX_ATTEMPTS = _number("WEBHOOK_MAX_ATTEMPTS", 6, minimum=1)
# A rotated secret still signs deliveries (beside the new one) this long, so receivers can switch without a gap.
WEBHOOK_SECRET_OVERLAP_HOURS = _number("WEBHOOK_SECRET_OVERLAP_HOURS", 24, cast=float, minimum=0)

# How long a worker holds a run for its current step without news; a dead worker's run is resumed after it.
RUN_LEASE_SECONDS = _number("RUN_LEASE_SECONDS", 120, minimum=1)

# Django's cache: shared by every process of the machine (the production-prompt endpoint is invalidated
# on promotion and must not stay stale in another gunicorn worker); Redis when configured.
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(VAR_DIR / "cache")}
    )
}

# LLM providers. The embedded model is the default so that everything works offline.
LLM_DEFAULT_PROVIDER = _choice("LLM_DEFAULT_PROVIDER", "embedded", {"embedded", "openai", "vertex"})
LLM_EMBEDDED_THREADS = _number("LLM_EMBEDDED_THREADS", os.cpu_count() or 1, minimum=1)
LLM_EMBEDDED_CONTEXT = _number("LLM_EMBEDDED_CONTEXT", 2048, minimum=256)
OPENAI_BASE_URL = _text("OPENAI_BASE_URL", "")
OPENAI_API_KEY = _text("OPENAI_API_KEY", "")
OPENAI_MODEL = _text("OPENAI_MODEL", "gpt-4o-mini")
OPENAI_CONCURRENCY = _number("OPENAI_CONCURRENCY", 32, minimum=1)
VERTEX_PROJECT = _text("VERTEX_PROJECT", "")
VERTEX_LOCATION = _text("VERTEX_LOCATION", "us-central1")
VERTEX_MODEL = _text("VERTEX_MODEL", "gemini-2.5-flash")
VERTEX_CONCURRENCY = _number("VERTEX_CONCURRENCY", 16, minimum=1)
VERTEX_BASE_URL = _text("VERTEX_BASE_URL", "")  # tests or a proxy; empty: Google's endpoint
VERTEX_ACCESS_TOKEN = _text("VERTEX_ACCESS_TOKEN", "")  # a static OAuth token; empty: ADC
# Batch prediction (a run's batch_from): the share of the online price a batch job's answers cost (Gemini's is half),
# and how often a worker asks Vertex AI whether a job is done.
VERTEX_BATCH_PRICE_SHARE = _number("VERTEX_BATCH_PRICE_SHARE", 0.5, cast=float, minimum=0)
VERTEX_BATCH_POLL_SECONDS = _number("VERTEX_BATCH_POLL_SECONDS", 60, minimum=1)
LLM_TIMEOUT = _number("LLM_TIMEOUT", 60.0, cast=float, minimum=0.1)
LLM_RETRY_INITIAL_DELAY = _number("LLM_RETRY_INITIAL_DELAY", 1.0, cast=float, minimum=0)
LLM_RETRY_MAX_DELAY = _number("LLM_RETRY_MAX_DELAY", 30.0, cast=float, minimum=0)
LLM_MAX_RETRIES = _number("LLM_MAX_RETRIES", 5, minimum=0)
LLM_REQUESTS_PER_MINUTE = _number("LLM_REQUESTS_PER_MINUTE", 0, minimum=0)  # 0: no limit
LLM_TOKENS_PER_MINUTE = _number("LLM_TOKENS_PER_MINUTE", 0, minimum=0)
# USD per million tokens (input, output), by model name; unknown models cost 0.
# The trained policy the `policy` strategy uses, by its name in the default storage (manage.py train_policy).
POLICY_FILE = _text("POLICY_FILE", "policies/default.zip")
LLM_PRICES = {
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-pro": (1.25, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "smollm2-135m-instruct": (0.0, 0.0),
}

# Monitoring. /metrics (Prometheus' text format) answers a request bearing `Authorization: Bearer METRICS_TOKEN`;
# without a token set, only requests from the machine itself (loopback). Counters of the web processes (production
# endpoint requests) are per process; with several gunicorn workers, PROMETHEUS_MULTIPROC_DIR (an empty directory
# per container, which prometheus_client reads itself) adds them up. Everything kept in the database (runs, steps,
# LLM calls) and the queue's depth is counted when scraped, the same from any process.
METRICS_TOKEN = _text("METRICS_TOKEN", "")
PROMETHEUS_MULTIPROC_DIR = _text("PROMETHEUS_MULTIPROC_DIR", "")
if PROMETHEUS_MULTIPROC_DIR and not os.path.isdir(PROMETHEUS_MULTIPROC_DIR):
    raise ImproperlyConfigured(f"PROMETHEUS_MULTIPROC_DIR={PROMETHEUS_MULTIPROC_DIR!r} is not a directory.")

# LOG_FORMAT=json: one JSON object a line (time, level, logger, message, exception) for a log collector.
LOG_FORMAT = _choice("LOG_FORMAT", "text", {"text", "json"})
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "promptopt.monitoring.JsonFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", **({"formatter": "json"} if LOG_FORMAT == "json" else {})}
    },
    "root": {"handlers": ["console"], "level": _text("LOG_LEVEL", "WARNING")},
    "loggers": {"promptopt": {"level": _text("LOG_LEVEL", "INFO")}},
}
