"""Settings shared by every environment. Anything that differs between machines
comes from the environment, never from the repository."""
from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
# Where the embedded database and the generated development key live (git-ignored).
VAR_DIR = Path(os.environ.get("BANKING_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# --- Core ---------------------------------------------------------------------
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")  # local/test fill it in; production requires it
# Former keys, comma-separated, while rotating SECRET_KEY: they still check signatures and
# decrypt webhook secrets (events/secrets.py) until those are re-encrypted or expire.
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", "")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "banking.apps.BankingAdminConfig",  # django.contrib.admin, as the staff console
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI / ReDoc assets served locally: no CDN
    "banking",
    "users",
    "accounts",
    "transactions",
    "events",
]

MIDDLEWARE = [
    # Outermost, so that its duration covers the whole request.
    "banking.middleware.RequestLogMiddleware",
    "banking.middleware.BodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serves the admin's static files from gunicorn, with no separate web server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Sessions, the session's user and messages: on the console's paths only (the API
    # authenticates each request by its token).
    "banking.middleware.ConsoleSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "banking.middleware.ConsoleAuthenticationMiddleware",
    # Advances the user's read fence after a write (only with DATABASE_REPLICA_URLS).
    "banking.replicas.ReadYourWritesMiddleware",
    "banking.middleware.ConsoleMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Every API path answers with and without a trailing slash itself (see banking/urls.py),
# so Django must not redirect; a redirect would turn a POST into a GET in most clients.
APPEND_SLASH = False

ROOT_URLCONF = "banking.urls"
WSGI_APPLICATION = "banking.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "banking" / "templates"],
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

# --- Database -----------------------------------------------------------------
# DATABASE_URL (PostgreSQL) when given; otherwise an embedded SQLite file. SQLite gets
# BEGIN IMMEDIATE so that writers are serialized: select_for_update() is a no-op there,
# and the write lock taken at BEGIN is what keeps balance checks and appends atomic.
CONN_MAX_AGE = env_int("CONN_MAX_AGE", 60)
# A kept connection is checked at the start of each request that uses it, so the first
# request after a database restart reconnects instead of failing. On PostgreSQL the check
# costs no round trip (banking/postgresql/base.py).
CONN_HEALTH_CHECKS = env_bool("CONN_HEALTH_CHECKS", True)
# Every wait is bounded. A request that waits longer than this for a row lock held by
# someone else fails fast with a retryable 503 (instead of tying up a server thread for
# as long as the other holds it); no statement runs longer than the statement timeout.
DATABASE_LOCK_TIMEOUT_MS = env_int("DATABASE_LOCK_TIMEOUT_MS", 1000)
DATABASE_STATEMENT_TIMEOUT_MS = env_int("DATABASE_STATEMENT_TIMEOUT_MS", 10000)
DATABASE_URL = os.environ.get("DATABASE_URL", "").strip()
# DATABASE_POOLER=pgbouncer when DATABASE_URL (and any replica URL) points at PgBouncer in
# transaction pooling mode: no startup options, no server-side cursors, timeouts per
# transaction (banking/postgresql/base.py).
DATABASE_POOLER = os.environ.get("DATABASE_POOLER", "").strip().lower()
if DATABASE_POOLER not in ("", "pgbouncer"):
    raise ImproperlyConfigured("DATABASE_POOLER must be empty or pgbouncer")
# Streaming replicas (comma-separated URLs) for the reads that tolerate a little lag,
# with read-your-writes (banking/replicas.py); one more than this many seconds behind
# the primary is skipped.
DATABASE_REPLICA_URLS = env_list("DATABASE_REPLICA_URLS", "")
REPLICA_MAX_LAG_SECONDS = float(os.environ.get("REPLICA_MAX_LAG_SECONDS", "").strip() or 5)
# A replica that does not answer within this many seconds is skipped (primary: libpq's default).
REPLICA_CONNECT_TIMEOUT_SECONDS = env_int("REPLICA_CONNECT_TIMEOUT_SECONDS", 2)


def postgres_database(url: str) -> dict:
    database = dj_database_url.parse(url, conn_max_age=CONN_MAX_AGE, conn_health_checks=CONN_HEALTH_CHECKS)
    if database["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured(f"not a PostgreSQL URL: {database['ENGINE']}")
    # Django's backend with the timeouts, a health check that asks the socket, not the
    # server, and the pooler mode.
    database["ENGINE"] = "banking.postgresql"
    if DATABASE_POOLER:
        database["POOLER"] = DATABASE_POOLER
        database["DISABLE_SERVER_SIDE_CURSORS"] = True
    return database


if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=CONN_MAX_AGE, conn_health_checks=CONN_HEALTH_CHECKS)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"] = postgres_database(DATABASE_URL)
    for number, url in enumerate(DATABASE_REPLICA_URLS, start=1):
        replica = postgres_database(url)
        replica.setdefault("OPTIONS", {})["connect_timeout"] = REPLICA_CONNECT_TIMEOUT_SECONDS
        replica["TEST"] = {"MIRROR": "default"}  # a test run's replica is the test database itself
        DATABASES[f"replica{number}"] = replica
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
if DATABASE_REPLICA_URLS and DATABASES["default"]["ENGINE"] != "banking.postgresql":
    raise ImproperlyConfigured("DATABASE_REPLICA_URLS needs DATABASE_URL to point at PostgreSQL")
DATABASE_ROUTERS = ["banking.replicas.ReplicaRouter"] if DATABASE_REPLICA_URLS else []

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "users.User"

# --- Shared state for throttling counters ----------------------------------------------
# Shared by every gunicorn worker and every app server: a counter table in the database
# by default (banking/throttling.py), Redis (through Django's cache) when REDIS_URL is set.
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}

# --- Throttling -----------------------------------------------------------------------
# Failed logins, counted per username and per client address in fixed windows; past the
# limit every login for that username / from that address answers 429 until the window ends.
LOGIN_FAILURES_PER_USERNAME = env_int("LOGIN_FAILURES_PER_USERNAME", 5)
LOGIN_FAILURES_PER_ADDRESS = env_int("LOGIN_FAILURES_PER_ADDRESS", 20)
LOGIN_FAILURE_WINDOW_SECONDS = env_int("LOGIN_FAILURE_WINDOW_SECONDS", 900)
# Money movements and account openings per user: "<count>/<second|minute|hour>", or "off".
# The default matches the common API-provider limit (e.g. Stripe's 100/s in live mode):
# it stops a runaway client from taking the service without refusing real automation.
WRITE_THROTTLE_RATE = os.environ.get("WRITE_THROTTLE_RATE", "100/second").strip()

# --- Passwords ----------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- API ----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["users.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "banking.negotiation.JSONFirstContentNegotiation",
    "DEFAULT_PARSER_CLASSES": ["banking.parsers.DecimalJSONParser"],
    "EXCEPTION_HANDLER": "banking.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "COERCE_DECIMAL_TO_STRING": True,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Banking Backend API",
    "DESCRIPTION": (
        "Accounts, deposits, withdrawals, transfers and history over an append-only ledger. "
        "Authenticate with `Authorization: Token <token>` (or `Bearer <token>`; the token comes "
        "from `POST /auth/login`): in Swagger "
        "UI press **Authorize** and enter `Token <token>`. Money is a decimal string with at "
        "most two places. Every error is `{\"error\": \"...\"}`."
    ),
    "VERSION": "1.0.0",
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"HoldStatusEnum": "transactions.models.HoldStatus", "TransactionStatusEnum": "transactions.models.Status",
                            "AccountStatusEnum": "accounts.models.AccountStatus"},
    "PREPROCESSING_HOOKS": ["banking.openapi.contract_paths"],
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "banking.openapi.id_path_parameters"],
}

# Lifetime of an API token issued by POST /auth/login.
AUTH_TOKEN_TTL_HOURS = env_int("AUTH_TOKEN_TTL_HOURS", 24)
# Largest JSON request body the API reads (bytes); larger ones answer 413.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 64 * 1024)
# Django's own limit for form bodies (the admin's): never above the API's, which
# BodyLimitMiddleware enforces for every path.
DATA_UPLOAD_MAX_MEMORY_SIZE = min(API_MAX_BODY_BYTES, env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", API_MAX_BODY_BYTES))
# Idempotency keys are kept at least this long (purge_expired removes older ones).
IDEMPOTENCY_KEY_TTL_HOURS = max(24, env_int("IDEMPOTENCY_KEY_TTL_HOURS", 24))

# --- Events and webhooks ----------------------------------------------------------------
# Events are kept at least this long (purge_expired removes older ones).
EVENT_RETENTION_DAYS = max(30, env_int("EVENT_RETENTION_DAYS", 30))
# Webhook URLs that are plain http or resolve to loopback/private/link-local/reserved
# addresses: refused in production (events/addresses.py), allowed elsewhere by default.
WEBHOOK_ALLOW_PRIVATE_URLS = env_bool("WEBHOOK_ALLOW_PRIVATE_URLS", True)
# A receiver must answer 2xx within this many seconds.
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10)
# Seconds to wait after each failed attempt (with +/-20 % jitter); after the last, the
# delivery has failed: about three days in all.
WEBHOOK_RETRY_SCHEDULE = [int(s) for s in env_list(
    "WEBHOOK_RETRY_SCHEDULE", "5,300,1800,7200,18000,36000,50400,72000,72000")]
# An endpoint all of whose attempts failed for this long is disabled.
WEBHOOK_DISABLE_AFTER_HOURS = env_int("WEBHOOK_DISABLE_AFTER_HOURS", 5 * 24)
# A worker's claim on a delivery (its lease): another worker takes it over once it has
# run out (the first one died). Longer than a send can take.
WEBHOOK_CLAIM_SECONDS = env_int("WEBHOOK_CLAIM_SECONDS", 60)
# Deliveries each worker sends at once (threads), and how often it looks for due ones.
WEBHOOK_WORKER_THREADS = env_int("WEBHOOK_WORKER_THREADS", 8)
WEBHOOK_POLL_SECONDS = float(os.environ.get("WEBHOOK_POLL_SECONDS", "0.2"))
# How often the worker expires holds past their time (with their hold.expired events).
HOLD_SWEEP_SECONDS = env_int("HOLD_SWEEP_SECONDS", 15)

# --- I18N / time --------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files (the admin's) -------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Logging ------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "bare": {"format": "%(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "requests": {"class": "logging.StreamHandler", "formatter": "bare"},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # 4xx answers are expected traffic for an API; do not log each as a warning.
        "django.request": {"level": "ERROR"},
        # One JSON line per request (banking.middleware); REQUEST_LOG_LEVEL=WARNING silences it.
        "banking.requests": {
            "handlers": ["requests"], "level": os.environ.get("REQUEST_LOG_LEVEL", "INFO"), "propagate": False,
        },
    },
}
