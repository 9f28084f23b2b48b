"""Weft settings: everything comes from the environment (see README "Configuration")."""

import contextlib
import json
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
# `production` turns on HTTPS-only defaults (redirect, HSTS, secure cookies); each stays
# settable on its own. The default follows DEBUG: off means production.
WEFT_PROFILE = env_str("WEFT_PROFILE", "development" if DEBUG else "production").lower()
if WEFT_PROFILE not in ("production", "development"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("WEFT_PROFILE must be 'production' or 'development'")
PRODUCTION = WEFT_PROFILE == "production"
# Earlier keys, comma-separated, still accepted after a rotation (sessions, signed values and
# the encrypted secrets in workflow data: workflows.sealed_fields).
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# A separate host name for `/hooks/` (e.g. hooks.example.com): when set, hooks answer only
# there and the rest of the site never does (see README "Security").
WEFT_HOOKS_HOST = env_str("WEFT_HOOKS_HOST", "").lower()
if WEFT_HOOKS_HOST and WEFT_HOOKS_HOST not in ALLOWED_HOSTS:
    ALLOWED_HOSTS.append(WEFT_HOOKS_HOST)

INSTALLED_APPS = [
    "config.admin_apps.WeftAdminConfig",  # django.contrib.admin, superusers only
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc assets served from here, not a CDN
    "django_celery_beat",
    "workflows",
    "api",
    "studio",
    "examples",
]

MIDDLEWARE = [
    "api.middleware.RequestContextMiddleware",
    "api.middleware.HooksHostMiddleware",
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
        # Django turns psycopg's prepared statements off unless asked (for PgBouncer in
        # transaction mode before 1.21). A step's two statements are the same text every
        # time: prepared after 5 runs on a session, PostgreSQL stops parsing and planning them
        # (about half a millisecond of its CPU per step). 0 turns preparing off.
        prepare_threshold = env_int("WEFT_DB_PREPARE_THRESHOLD", 5)
        options["prepare_threshold"] = prepare_threshold or None
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

# --- HTTPS and cookies (README "Security") ---------------------------------------------------
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
# Load balancers probe and scrape over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", PRODUCTION)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", PRODUCTION)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", PRODUCTION)
# Behind a TLS-terminating proxy the request reaches Django as plain HTTP; the proxy's
# X-Forwarded-Proto says whether the client used HTTPS. Trusted only with trusted proxies.
if env_bool("SECURE_PROXY_SSL_HEADER", env_int("WEFT_TRUSTED_PROXIES", 0) > 0):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Auth and API ---------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# How many reverse proxies in front of the web process append to X-Forwarded-For. 0: the
# socket's address is the client (X-Forwarded-For is ignored); see README "Security".
WEFT_TRUSTED_PROXIES = env_int("WEFT_TRUSTED_PROXIES", 0)

# Request bodies above this are refused with 413 before they are parsed.
WEFT_MAX_REQUEST_BYTES = env_int("WEFT_MAX_REQUEST_BYTES", 1_048_576)
DATA_UPLOAD_MAX_MEMORY_SIZE = WEFT_MAX_REQUEST_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.oidc.OIDCAuthentication",
        "api.authentication.VersionedJWTAuthentication",
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
    # Throttles identify clients with api.throttling.client_address (WEFT_TRUSTED_PROXIES);
    # DRF's own setting is kept in step for anything else that reads it.
    "NUM_PROXIES": WEFT_TRUSTED_PROXIES,
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

# Tokens: refresh tokens rotate on use and the used one is blacklisted; a user's tokens can all
# be revoked at once (api.authentication checks the token version claim). HS256 with SECRET_KEY
# by default; RS256/ES256 (or PS256, ES384, ...) with a PEM key pair from the environment, so
# that other services can verify Weft's tokens with the public key alone.
WEFT_JWT_ALGORITHM = env_str("WEFT_JWT_ALGORITHM") or "HS256"
WEFT_JWT_PRIVATE_KEY = env_str("WEFT_JWT_PRIVATE_KEY").replace("\\n", "\n")
WEFT_JWT_PUBLIC_KEY = env_str("WEFT_JWT_PUBLIC_KEY").replace("\\n", "\n")
if WEFT_JWT_ALGORITHM.startswith("HS"):
    _JWT_KEYS = {"SIGNING_KEY": env_str("WEFT_JWT_SIGNING_KEY") or SECRET_KEY,
                 "VERIFYING_KEY": ""}
elif WEFT_JWT_PRIVATE_KEY and WEFT_JWT_PUBLIC_KEY:
    _JWT_KEYS = {"SIGNING_KEY": WEFT_JWT_PRIVATE_KEY, "VERIFYING_KEY": WEFT_JWT_PUBLIC_KEY}
else:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"WEFT_JWT_ALGORITHM={WEFT_JWT_ALGORITHM} needs "
                               "WEFT_JWT_PRIVATE_KEY and WEFT_JWT_PUBLIC_KEY (PEM)")

# The audit log: how a client's address is read (the throttles' rule), and how long entries are
# kept (days; 0 keeps them for ever). Beat purges older ones every hour.
WEFT_CLIENT_ADDRESS = "api.throttling.client_address"
WEFT_AUDIT_RETENTION_DAYS = env_int("WEFT_AUDIT_RETENTION_DAYS", 365)

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("WEFT_JWT_ACCESS_MINUTES", 30)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("WEFT_JWT_REFRESH_DAYS", 7)),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "ALGORITHM": WEFT_JWT_ALGORITHM,
    **_JWT_KEYS,
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "TOKEN_OBTAIN_SERIALIZER": "api.authentication.VersionedTokenObtainPairSerializer",
    "TOKEN_REFRESH_SERIALIZER": "api.authentication.VersionedTokenRefreshSerializer",
}

# An external OpenID Connect provider (optional, besides Weft's own tokens): its access tokens
# are accepted when their issuer is WEFT_OIDC_ISSUER (see README "Security").
WEFT_OIDC_ISSUER = env_str("WEFT_OIDC_ISSUER")
WEFT_OIDC_AUDIENCE = env_str("WEFT_OIDC_AUDIENCE")
# Unset: read from the provider's discovery document (<issuer>/.well-known/openid-configuration).
WEFT_OIDC_JWKS_URL = env_str("WEFT_OIDC_JWKS_URL")
WEFT_OIDC_ALGORITHMS = tuple(env_list("WEFT_OIDC_ALGORITHMS", "RS256,ES256"))
WEFT_OIDC_USERNAME_CLAIM = env_str("WEFT_OIDC_USERNAME_CLAIM", "sub")
WEFT_OIDC_USERNAME_PREFIX = env_str("WEFT_OIDC_USERNAME_PREFIX", "oidc:")
WEFT_OIDC_ROLES_CLAIM = env_str("WEFT_OIDC_ROLES_CLAIM", "weft_roles")
try:
    # {"<claim value>": "tenant:role" or ["tenant:role", ...]}; unset: values are "tenant:role".
    WEFT_OIDC_ROLE_MAP = json.loads(env_str("WEFT_OIDC_ROLE_MAP") or "null")
except ValueError as _exc:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"WEFT_OIDC_ROLE_MAP is not valid JSON: {_exc}") from None
WEFT_OIDC_LEEWAY = env_int("WEFT_OIDC_LEEWAY", 30)
WEFT_OIDC_JWKS_CACHE_SECONDS = env_int("WEFT_OIDC_JWKS_CACHE_SECONDS", 300)
WEFT_OIDC_JWKS_REFETCH_COOLDOWN = float(env_str("WEFT_OIDC_JWKS_REFETCH_COOLDOWN", "30"))
if WEFT_OIDC_ISSUER and not WEFT_OIDC_AUDIENCE:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("WEFT_OIDC_ISSUER needs WEFT_OIDC_AUDIENCE (this API's "
                               "audience at the identity provider)")

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

# Tenant secrets (`secrets.NAME` in definitions) are encrypted with these Fernet keys, newest
# first; after putting a new key in front, `manage.py weft_rotate_secrets` re-encrypts every
# secret with it and the old key can go. Unset: a key derived from SECRET_KEY (development).
WEFT_SECRETS_KEYS = tuple(env_list("WEFT_SECRETS_KEYS"))
for _key in WEFT_SECRETS_KEYS:
    try:
        from cryptography.fernet import Fernet

        Fernet(_key)
    except ValueError:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("WEFT_SECRETS_KEYS holds a value that is not a Fernet key "
                                   "(32 url-safe base64-encoded bytes)") from None

# --- Internationalisation and static files -------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# Without `collectstatic`, WhiteNoise finds files in the apps' static/ folders (make run, tests);
# after it, production serves the collected copies with far-future cache headers for hashed names.
WHITENOISE_USE_FINDERS = env_bool("WEFT_STATIC_FROM_APPS", True)
# An empty STATIC_ROOT (development, tests) is expected, not worth WhiteNoise's warning.
warnings.filterwarnings("ignore", message="No directory at: ")
with contextlib.suppress(OSError):  # a read-only image collects its files at build time
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Studio and sign-in ---------------------------------------------------------------------
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/studio/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# --- Logging --------------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOG_FORMAT = env_str("WEFT_LOG_FORMAT", "json")  # json | console
LOGGING_CONFIG = None  # configured by config.logs so structlog and stdlib share one pipeline
# What masks secret-looking keys in values shown to operators (the admin), as in the logs.

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
    # Durable timers are fired by the beat leader itself (workflows.scheduler), not by a task.
    "weft-collect-dead-letters": {"task": "weft.collect_dead_letters", "schedule": 10.0},
    "weft-mark-lost-workers": {"task": "weft.mark_lost_workers", "schedule": 10.0},
    # Events kept with `retain_seconds` that no wait took before they expired.
    "weft-purge-retained-events": {"task": "weft.purge_retained_events", "schedule": 60.0},

    "weft-purge-audit-entries": {"task": "weft.purge_audit_entries", "schedule": 3600.0},
}

# --- Retention and archive (README "Data retention and archive") ----------------------------
# Days a finished or cancelled instance (a faulted one) is kept before it is archived to S3 and
# deleted; a tenant's own values, then a definition's `options.retention`, override these.
WEFT_RETENTION_FINISHED_DAYS = env_int("WEFT_RETENTION_FINISHED_DAYS", 30)
WEFT_RETENTION_FAULTED_DAYS = env_int("WEFT_RETENTION_FAULTED_DAYS", 90)
# Done or cancelled steps, time-trigger fires: their own (shorter) retention, in days.
WEFT_RETENTION_STEP_DAYS = env_int("WEFT_RETENTION_STEP_DAYS", 7)
WEFT_RETENTION_FIRE_DAYS = env_int("WEFT_RETENTION_FIRE_DAYS", 30)
# Instances per transaction, and instances (and as many rows of each other kind, x20) per tick.
WEFT_RETENTION_BATCH_SIZE = env_int("WEFT_RETENTION_BATCH_SIZE", 50)
WEFT_RETENTION_MAX_PER_TICK = env_int("WEFT_RETENTION_MAX_PER_TICK", 500)
WEFT_RETENTION_INTERVAL = float(env_str("WEFT_RETENTION_INTERVAL", "60"))
CELERY_BEAT_SCHEDULE["weft-apply-retention"] = {
    "task": "weft.apply_retention", "schedule": WEFT_RETENTION_INTERVAL}
# Monthly partitions of the journal and the activity executions (PostgreSQL; docs/decisions.md
# "Partitions"): made this many months ahead by `weft.maintain_partitions` every interval
# (seconds); creating, detaching and dropping one waits at most this long for its locks.
WEFT_PARTITION_MONTHS_AHEAD = env_int("WEFT_PARTITION_MONTHS_AHEAD", 3)
WEFT_PARTITION_INTERVAL = float(env_str("WEFT_PARTITION_INTERVAL", "3600"))
WEFT_PARTITION_LOCK_TIMEOUT_MS = env_int("WEFT_PARTITION_LOCK_TIMEOUT_MS", 100)
CELERY_BEAT_SCHEDULE["weft-maintain-partitions"] = {
    "task": "weft.maintain_partitions", "schedule": WEFT_PARTITION_INTERVAL}
# The archive: gzip JSON Lines objects in this bucket under this prefix. No bucket: expired
# instances are deleted without an archive. The endpoint only for a local or compatible server.
WEFT_ARCHIVE_BUCKET = env_str("WEFT_ARCHIVE_BUCKET", "")
WEFT_ARCHIVE_PREFIX = env_str("WEFT_ARCHIVE_PREFIX", "weft-archive").strip("/")
WEFT_ARCHIVE_ENDPOINT_URL = env_str("AWS_ENDPOINT_URL_S3", "") or None
WEFT_ARCHIVE_REGION = env_str("AWS_REGION", "") or env_str("AWS_DEFAULT_REGION", "us-east-1")

# --- Execution ------------------------------------------------------------------------------
# Synchronous `execute/` stops (with an incident, state kept) past either budget.
WEFT_SYNC_MAX_STEPS = env_int("WEFT_SYNC_MAX_STEPS", 100_000)
WEFT_SYNC_TIME_BUDGET = float(env_str("WEFT_SYNC_TIME_BUDGET", "10"))
# Hosts/CIDRs SendHttpRequest may call although they are loopback or private.
WEFT_HTTP_ALLOWED_HOSTS = tuple(env_list("WEFT_HTTP_ALLOWED_HOSTS"))
# Modules imported at start for their @activity functions (besides apps' activities.py).
WEFT_ACTIVITY_MODULES = tuple(env_list("WEFT_ACTIVITY_MODULES"))
# Steps on the workers: a burst of inline activities per step, the lease a running step holds
# (kept alive while it runs), and how often a step may be delivered before it is poison.
WEFT_BURST_MAX_STEPS = env_int("WEFT_BURST_MAX_STEPS", 10_000)
WEFT_BURST_TIME_BUDGET = float(env_str("WEFT_BURST_TIME_BUDGET", "5"))
WEFT_STEP_LEASE_SECONDS = env_int("WEFT_STEP_LEASE_SECONDS", 60)
WEFT_STEP_MAX_DELIVERIES = env_int("WEFT_STEP_MAX_DELIVERIES", 3)
# A step handed to the broker whose sending was never confirmed (the process died between
# commit and send) is sent again by the sweeper after this many seconds. A step whose message
# the broker accepted is left alone while it waits in the queue, however deep the queue; only
# after WEFT_STEP_LOST_AFTER (SQS's default message retention, 4 days: SQS may then have
# dropped it unreceived) is it sent again.
WEFT_STEP_REPUBLISH_AFTER = env_int("WEFT_STEP_REPUBLISH_AFTER", 5)
WEFT_STEP_LOST_AFTER = env_int("WEFT_STEP_LOST_AFTER", 345_600)
# A worker that finishes a step runs the next step of the same instance itself (no broker
# round trip), up to this many in a row and for this long, then publishes as usual.
WEFT_STEP_CONTINUE_MAX = env_int("WEFT_STEP_CONTINUE_MAX", 20)
WEFT_STEP_CONTINUE_SECONDS = float(env_str("WEFT_STEP_CONTINUE_SECONDS", "2"))
# Publishing many steps at once: up to this many get a message each, more share messages.
WEFT_STEPS_SINGLE_MESSAGES = env_int("WEFT_STEPS_SINGLE_MESSAGES", 16)
WEFT_STEPS_PER_MESSAGE = env_int("WEFT_STEPS_PER_MESSAGE", 10)
WEFT_WORKER_HEARTBEAT_SECONDS = float(env_str("WEFT_WORKER_HEARTBEAT_SECONDS", "5"))
WEFT_WORKER_LOST_AFTER = env_int("WEFT_WORKER_LOST_AFTER", 30)
# Due timers claimed per transaction by the beat leader, which wakes for the next due time and
# at least every WEFT_TIMER_POLL_SECONDS (for timers written meanwhile).
WEFT_TIMER_BATCH_SIZE = env_int("WEFT_TIMER_BATCH_SIZE", 500)
WEFT_TIMER_POLL_SECONDS = float(env_str("WEFT_TIMER_POLL_SECONDS", "1.0"))
# Resumes of timers due together go out up to this many to a message (spread over at least
# WEFT_STEPS_SINGLE_MESSAGES messages); a worker resumes a message's instances in one
# transaction (workflows.services.resumes).
WEFT_RESUMES_PER_MESSAGE = env_int("WEFT_RESUMES_PER_MESSAGE", 20)
# Resume a message's instances in one transaction (off: each by the hot path, which measured
# cheaper here; see workflows/services/resumes.py).
WEFT_RESUME_BATCHES = env_bool("WEFT_RESUME_BATCHES", False)
# HTTP endpoints (/hooks/): how long a request waits for WriteHttpResponse before a 202.
WEFT_HOOK_WAIT_SECONDS = float(env_str("WEFT_HOOK_WAIT_SECONDS", "10"))

# --- Large payloads (docs/decisions.md "Large payloads") --------------------------------------
# Values whose JSON is at least this many characters are stored apart, gzip, once per tenant and
# content: in the archive's bucket (WEFT_ARCHIVE_BUCKET, under <prefix>/payloads/) or, without
# one, in the database (PayloadObject). 0: never.
WEFT_PAYLOAD_INLINE_BYTES = env_int("WEFT_PAYLOAD_INLINE_BYTES", 65_536)
# Where new ones go: "s3" (needs WEFT_ARCHIVE_BUCKET) or "db"; empty: s3 when there is a bucket.
# `make run` says "db" while its S3 is the in-memory one, so a persistent database never
# refers to objects that vanished with it.
WEFT_PAYLOAD_STORE = env_str("WEFT_PAYLOAD_STORE", "").lower()
if WEFT_PAYLOAD_STORE not in ("", "s3", "db"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("WEFT_PAYLOAD_STORE must be s3, db or empty.")
# Per process: stored values read or written lately, decompressed.
WEFT_PAYLOAD_CACHE_BYTES = env_int("WEFT_PAYLOAD_CACHE_BYTES", 64 * 1024 * 1024)
# A stored value no instance refers to any more is deleted this long after it was last written.
WEFT_PAYLOAD_SWEEP_GRACE_SECONDS = env_int("WEFT_PAYLOAD_SWEEP_GRACE_SECONDS", 3600)
