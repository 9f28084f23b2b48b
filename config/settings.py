"""Weft settings: everything comes from the environment (see README "Configuration")."""

import warnings
from datetime import timedelta
from pathlib import Path

import dj_database_url

from config.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
# Local state of `make run` (SQLite database, beat schedule, SQS server log).
VAR_DIR = Path(env_str("WEFT_VAR_DIR") or BASE_DIR / "var")

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY") or (
    "dev-only-insecure-key" if DEBUG or env_bool("WEFT_DEV", False) else ""
)
if not SECRET_KEY:
    # Refuse to start with a guessable key outside development.
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("SECRET_KEY must be set (or DEBUG=1 for development)")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc assets served from here, not a CDN
    "django_celery_beat",
    "workflows",
    "api",
    "examples",
]

MIDDLEWARE = [
    "api.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files (the admin's, the Swagger UI and ReDoc assets) from the web process itself,
    # so the docs work without a CDN or a separate file server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --- Database -------------------------------------------------------------------------------
# PostgreSQL via psycopg 3 with Django's built-in connection pool (psycopg_pool) and server-side
# parameter binding, which lets psycopg prepare statements that repeat (prepare_threshold).
# SQLite under var/ when DATABASE_URL is unset, so `make run` works on a bare machine.
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    # Health checks: a pooled session can be dead (PostgreSQL restarted, failover, idle
    # timeout). Django then has the pool check each session as it hands it out (one empty
    # round trip), so a dead one is replaced instead of failing a request or a step.
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=0, conn_health_checks=True)
    }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        options = DATABASES["default"].setdefault("OPTIONS", {})
        if env_bool("WEFT_DB_POOL", True):
            options["pool"] = {
                "min_size": env_int("WEFT_DB_POOL_MIN", 10),
                "max_size": env_int("WEFT_DB_POOL_MAX", 100),
                "timeout": 10,
            }
        options["server_side_binding"] = env_bool("WEFT_DB_SERVER_SIDE_BINDING", True)
        options.setdefault("connect_timeout", 5)
else:
    VAR_DIR.mkdir(exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "weft.sqlite3",
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }

# Celery prefork children run one task at a time: a small pool each (workflows.worker).
WEFT_DB_POOL_CHILD_MIN = env_int("WEFT_DB_POOL_CHILD_MIN", 2)
WEFT_DB_POOL_CHILD_MAX = env_int("WEFT_DB_POOL_CHILD_MAX", 10)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ----------------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("WEFT_CACHE_PREFIX", "weft"),
            "OPTIONS": {
                # Fail fast when Redis is down: callers fall back to the database.
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

WEFT_DEFINITION_CACHE_TTL = env_int("WEFT_DEFINITION_CACHE_TTL", 3600)
WEFT_ACTIVITY_TYPES_CACHE_TTL = env_int("WEFT_ACTIVITY_TYPES_CACHE_TTL", 86400)

# --- Auth and API ---------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

# Request bodies above this are refused with 413 before they are parsed.
WEFT_MAX_REQUEST_BYTES = env_int("WEFT_MAX_REQUEST_BYTES", 1_048_576)
DATA_UPLOAD_MAX_MEMORY_SIZE = WEFT_MAX_REQUEST_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],
    "DEFAULT_THROTTLE_CLASSES": [
        "api.throttling.AnonymousThrottle",
        "api.throttling.UserThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("WEFT_THROTTLE_ANON", "60/min"),
        "user": env_str("WEFT_THROTTLE_USER", "1200/min"),
    },
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

# When set, /metrics answers only scrapes sending `Authorization: Bearer <token>`.
WEFT_METRICS_TOKEN = env_str("WEFT_METRICS_TOKEN", "")

# Requests per client address and tenant on the public `/hooks/` endpoints.
WEFT_THROTTLE_HOOKS = env_str("WEFT_THROTTLE_HOOKS", "600/min")

# The audit log: how a client's address is read (the throttles' rule), and how long entries are
# kept (days; 0 keeps them for ever). Beat purges older ones every hour.
WEFT_CLIENT_ADDRESS = "api.throttling.client_address"
WEFT_AUDIT_RETENTION_DAYS = env_int("WEFT_AUDIT_RETENTION_DAYS", 365)

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("WEFT_JWT_ACCESS_MINUTES", 30)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("WEFT_JWT_REFRESH_DAYS", 7)),
    "AUTH_HEADER_TYPES": ("Bearer",),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Weft API",
    "DESCRIPTION": "Durable workflows for Django: definitions, instances, events.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Request bodies get their own components (`<Name>Request`); serializers of request
    # bodies set a `component_name` so that no name reads `StartRequestRequest`.
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No validator badge: it would send the schema URL to an outside service.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None,
                            "persistAuthorization": True},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.document_tenant_header_and_errors",
    ],
}

# --- Internationalisation and static files -------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# Found in the installed apps at start: no `collectstatic` needed before serving, so an empty
# STATIC_ROOT (development, tests) is expected, not worth WhiteNoise's warning.
WHITENOISE_USE_FINDERS = True
warnings.filterwarnings("ignore", message="No directory at: ")

# --- Logging --------------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOG_FORMAT = env_str("WEFT_LOG_FORMAT", "json")  # json | console
LOGGING_CONFIG = None  # configured by config.logs so structlog and stdlib share one pipeline
# What masks secret-looking keys in values shown to operators (the admin), as in the logs.
WEFT_SECRET_MASKER = "config.logs.mask_secrets"  # noqa: S105 (a dotted path, not a secret)

from config.logs import configure_logging  # noqa: E402

configure_logging(level=LOG_LEVEL, fmt=LOG_FORMAT)

# --- Celery on SQS --------------------------------------------------------------------------
# Broker settings from AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL_SQS,
# WEFT_QUEUE_PREFIX, WEFT_SQS_* and WEFT_WORKER_PREFETCH (see docs/sqs.md); CELERY_BROKER_URL
# overrides the URL (memory:// in unit tests). No endpoint and no AWS credentials: memory://.
import os  # noqa: E402

from workflows.sqs.config import sqs_settings  # noqa: E402

WEFT_SQS = sqs_settings(os.environ)
for _name, _value in WEFT_SQS.celery_settings().items():
    globals()[f"CELERY_{_name.upper()}"] = _value
CELERY_TASK_ALWAYS_EAGER = False
# Keep our structured JSON logs in workers and beat (Celery would reformat the root logger).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
WEFT_BEAT_STANDBY_INTERVAL = float(env_str("WEFT_BEAT_STANDBY_INTERVAL", "1.0"))
CELERY_BEAT_SCHEDULER = "workflows.scheduler:LockedDatabaseScheduler"
# A takeover must not re-send a recent slot: the leader records every send at once.
CELERY_BEAT_SYNC_EVERY = 1
CELERY_BEAT_SCHEDULE = {
    # The outbox sweeper: due retries, unpublished steps (broker was down), dead workers' steps.
    "weft-sweep-steps": {"task": "weft.sweep_steps", "schedule": 1.0},
    # Durable timers: due bookmarks are claimed and resumed on the workers.
    "weft-fire-due-timers": {"task": "weft.fire_due_timers", "schedule": 1.0},
    "weft-collect-dead-letters": {"task": "weft.collect_dead_letters", "schedule": 10.0},
    "weft-mark-lost-workers": {"task": "weft.mark_lost_workers", "schedule": 10.0},
    "weft-purge-audit-entries": {"task": "weft.purge_audit_entries", "schedule": 3600.0},
}

# --- Execution ------------------------------------------------------------------------------
# Synchronous `execute/` stops (with an incident, state kept) past either budget.
WEFT_SYNC_MAX_STEPS = env_int("WEFT_SYNC_MAX_STEPS", 100_000)
WEFT_SYNC_TIME_BUDGET = float(env_str("WEFT_SYNC_TIME_BUDGET", "10"))
# Hosts/CIDRs SendHttpRequest may call although they are loopback or private.
WEFT_HTTP_ALLOWED_HOSTS = tuple(env_list("WEFT_HTTP_ALLOWED_HOSTS"))
# Modules imported at start for their @activity functions (besides apps' activities.py).
WEFT_ACTIVITY_MODULES = tuple(env_list("WEFT_ACTIVITY_MODULES"))
# Steps on the workers: a burst of inline activities per step, the lease a running step holds
# (kept alive while it runs), how often a step may be delivered before it is poison, and how
# long a published-but-unclaimed step waits before the sweeper publishes it again.
WEFT_BURST_MAX_STEPS = env_int("WEFT_BURST_MAX_STEPS", 10_000)
WEFT_BURST_TIME_BUDGET = float(env_str("WEFT_BURST_TIME_BUDGET", "5"))
WEFT_STEP_LEASE_SECONDS = env_int("WEFT_STEP_LEASE_SECONDS", 60)
WEFT_STEP_MAX_DELIVERIES = env_int("WEFT_STEP_MAX_DELIVERIES", 3)
WEFT_STEP_REPUBLISH_AFTER = env_int("WEFT_STEP_REPUBLISH_AFTER", 330)
# A worker that finishes a step runs the next step of the same instance itself (no broker
# round trip), up to this many in a row and for this long, then publishes as usual.
WEFT_STEP_CONTINUE_MAX = env_int("WEFT_STEP_CONTINUE_MAX", 20)
WEFT_STEP_CONTINUE_SECONDS = float(env_str("WEFT_STEP_CONTINUE_SECONDS", "2"))
# Publishing many steps at once: up to this many get a message each, more share messages.
WEFT_STEPS_SINGLE_MESSAGES = env_int("WEFT_STEPS_SINGLE_MESSAGES", 16)
WEFT_STEPS_PER_MESSAGE = env_int("WEFT_STEPS_PER_MESSAGE", 10)
WEFT_WORKER_HEARTBEAT_SECONDS = float(env_str("WEFT_WORKER_HEARTBEAT_SECONDS", "5"))
WEFT_WORKER_LOST_AFTER = env_int("WEFT_WORKER_LOST_AFTER", 30)
# Due timers claimed per transaction by the every-second beat task.
WEFT_TIMER_BATCH_SIZE = env_int("WEFT_TIMER_BATCH_SIZE", 500)
# HTTP endpoints (/hooks/): how long a request waits for WriteHttpResponse before a 202.
WEFT_HOOK_WAIT_SECONDS = float(env_str("WEFT_HOOK_WAIT_SECONDS", "10"))
