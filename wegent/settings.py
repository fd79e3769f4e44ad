"""Django settings, read from environment variables only (see .env.example).

Nothing configured gives the embedded mode: SQLite in the data dir, rooms in the process,
local-memory cache and an in-process Celery. ``DATABASE_URL``, ``REDIS_URL`` and
``CELERY_BROKER_URL`` switch each concern to its scaled backend independently.
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
import warnings
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from wegent.env import env_bool, env_float, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("WEGENT_DATA_DIR", str(BASE_DIR / "data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("WEGENT_DEBUG", False)
TESTING = "pytest" in sys.modules or env_bool("WEGENT_TESTING", False)

SECRET_KEY = env_secret("WEGENT_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG and not TESTING:
        raise ImproperlyConfigured(
            "WEGENT_SECRET_KEY (or WEGENT_SECRET_KEY_FILE) must be set when WEGENT_DEBUG is off. "
            "Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    # A per-process key keeps development possible; tokens do not survive a restart.
    SECRET_KEY = secrets.token_urlsafe(50)
    if not TESTING:
        warnings.warn("WEGENT_SECRET_KEY is not set: using a random key for this process", stacklevel=1)

# Secrets at rest (git tokens, model keys) are encrypted with a key derived from this value.
ENCRYPTION_KEY = env_secret("WEGENT_ENCRYPTION_KEY") or SECRET_KEY

ALLOWED_HOSTS = env_list("WEGENT_ALLOWED_HOSTS", ["*"])
CSRF_TRUSTED_ORIGINS = env_list("WEGENT_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "corsheaders",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "channels",
    "wegent",
    "accounts",
    "audit",
    "kinds",
    "tasks",
    "quotas",
    "chat",
    "devices",
    "knowledge",
    "subscriptions",
    "console",
]

MIDDLEWARE = [
    "wegent.middleware.RequestIdMiddleware",
    "wegent.middleware.MetricsMiddleware",
    "wegent.middleware.RejectNulMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "wegent.middleware.BodySizeLimitMiddleware",
    "wegent.middleware.SiteSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "wegent.middleware.SiteAuthenticationMiddleware",
    "wegent.middleware.SiteMessageMiddleware",
    "wegent.middleware.PathIntegerRangeMiddleware",
    "audit.middleware.AuditMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "wegent.urls"
APPEND_SLASH = False

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

WSGI_APPLICATION = "wegent.wsgi.application"
ASGI_APPLICATION = "wegent.asgi.application"

# --- Database -----------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    _db = dj_database_url.parse(
        DATABASE_URL,
        # Tests close connections per request so live-server threads do not outlive teardown.
        conn_max_age=0 if TESTING else env_int("WEGENT_DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
    if _db["ENGINE"] == "django.db.backends.mysql":
        # PyMySQL stands in for mysqlclient so no C client library is needed.
        import pymysql

        pymysql.install_as_MySQLdb()
        _db.setdefault("OPTIONS", {}).update({"charset": "utf8mb4"})
        _db.setdefault("TEST", {}).update({"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"})
    # Django's backends, checking a reused connection only when its socket has news (db_checks.py).
    _db["ENGINE"] = {
        "django.db.backends.postgresql": "wegent.postgresql",
        "django.db.backends.mysql": "wegent.mysql",
    }.get(_db["ENGINE"], _db["ENGINE"])
else:
    _db = {
        # Django's SQLite backend, with writers queued in the process (see wegent/sqlite/base.py).
        "ENGINE": "wegent.sqlite",
        "NAME": DATA_DIR / "db.sqlite3",
        "OPTIONS": {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
        # Keep each thread's connection (opening one re-runs the PRAGMAs); tests close them.
        "CONN_MAX_AGE": 0 if TESTING else 600,
        # Tests use a file too (not shared-cache memory, whose table locks break threads).
        "TEST": {"NAME": str(Path(tempfile.gettempdir()) / f"wegent-test-{os.getpid()}.sqlite3")},
    }
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, Redis, Celery ------------------------------------------------------------------
# With Redis, Socket.IO events, stream state and cancels cross processes through it
# (wegent/realtime/hub.py, pubsub.py); without it one process holds them all.
REDIS_URL = env_str("REDIS_URL")
# Redis pub/sub channels belong to the whole server, not to one of its numbered databases: two
# installs (or two test runs) on one Redis server with different databases would hear each
# other's events. Every channel name starts with this (the cache prefix and the database).
CACHE_PREFIX = env_str("WEGENT_CACHE_PREFIX", "wegent")
REDIS_CHANNEL_PREFIX = f"{CACHE_PREFIX}:{urlsplit(REDIS_URL).path.strip('/') or '0'}:"
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "wegent.cache.RedisCache",  # Django's, one client per pool (cache.py)
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_PREFIX,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Login failure counts (accounts.services.login_guard) in a cache of their own without Redis:
# the default one keeps 300 entries, and a spray of names must not evict a locked name's count.
CACHES["login"] = (
    CACHES["default"]
    if REDIS_URL
    else {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "login-guard",
        "OPTIONS": {"MAX_ENTRIES": 100_000},
    }
)

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL or "memory://localhost/"
# Embedded mode: the run command starts a worker and beat inside the server process.
CELERY_EMBEDDED = CELERY_BROKER_URL.startswith("memory://")
CELERY_TASK_ALWAYS_EAGER = env_bool("WEGENT_CELERY_EAGER", TESTING)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Built-in periodic jobs (beat copies them into its tables, where staff can see and pause them).
# ``description`` is stored with each (django-celery-beat's scheduler copies the entry's fields),
# so the console's periodic task list says what each job does.
CELERY_BEAT_SCHEDULE = {
    "chat.end_interrupted_answers": {
        "task": "chat.end_interrupted_answers",
        "schedule": 15.0,
        "description": "Ends as FAILED (partial text kept) the chat answers whose stream stopped "
        "renewing its lease: the worker producing them died.",
    },
    "devices.end_lapsed_device_answers": {
        "task": "devices.end_lapsed_device_answers",
        "schedule": 60.0,
        "description": "Ends as FAILED the answers running on a local device whose heartbeat "
        "lapsed (the device went away without disconnecting).",
    },
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Beat's subscription fires have their own queue, listed first: with Redis a worker takes from
# the queues in this order (``queue_order_strategy: priority``), so a fire due now is never queued
# behind the runs earlier fires started, and 100 fires due in one minute all get their execution
# row within the fire latency target. A worker started without ``-Q`` consumes both queues.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = (Queue("schedule"), Queue("celery"))
CELERY_TASK_ROUTES = {"subscriptions.fire": {"queue": "schedule"}}
CELERY_BROKER_TRANSPORT_OPTIONS = {"queue_order_strategy": "priority"}
if CELERY_EMBEDDED:
    # The in-memory transport with the same queue order (kombu's takes from each queue in turn).
    CELERY_BROKER_TRANSPORT = "wegent.memory_broker:Transport"

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.UserNameBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
]
if TESTING:
    # Hashing strength is not what the suite tests; a fast hasher keeps it quick.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]

ADMIN_PASSWORD = env_secret("WEGENT_ADMIN_PASSWORD")
# Seconds a token's user may be served from a per-process cache (0 = query every request).
AUTH_USER_CACHE_SECONDS = env_int("WEGENT_AUTH_CACHE_SECONDS", 5)
ACCESS_TOKEN_EXPIRE_MINUTES = env_int("WEGENT_ACCESS_TOKEN_EXPIRE_MINUTES", 10080)
JWT_SECRET_KEY = env_secret("WEGENT_JWT_SECRET_KEY") or SECRET_KEY

SIMPLE_JWT = {
    "ALGORITHM": "HS256",
    "SIGNING_KEY": JWT_SECRET_KEY,
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=ACCESS_TOKEN_EXPIRE_MINUTES),
    # The reference's tokens carry only sub/user_id/exp; no type or jti claims are required.
    "TOKEN_TYPE_CLAIM": None,
    "JTI_CLAIM": None,
    "USER_ID_FIELD": "user_name",
    "USER_ID_CLAIM": "sub",
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": False,
}

# Service token for the executor-manager and internal routes (never open access).
INTERNAL_SERVICE_TOKEN = env_secret("WEGENT_INTERNAL_SERVICE_TOKEN")

# Password logins count failures, never successes (accounts.services.login_guard): a user name
# is locked after LOGIN_USER_FAILURES wrong passwords in a window, for LOGIN_LOCKOUT_SECONDS,
# doubled on each repeat up to the maximum; past LOGIN_ADDRESS_FAILURES from one address, the
# names that kept failing there are refused. 0 turns a limit off.
LOGIN_USER_FAILURES = env_int("WEGENT_LOGIN_USER_FAILURES", 10)
LOGIN_ADDRESS_FAILURES = env_int("WEGENT_LOGIN_ADDRESS_FAILURES", 100)
LOGIN_FAILURE_WINDOW_SECONDS = max(1, env_int("WEGENT_LOGIN_FAILURE_WINDOW_SECONDS", 600))
LOGIN_LOCKOUT_SECONDS = max(1, env_int("WEGENT_LOGIN_LOCKOUT_SECONDS", 60))
LOGIN_LOCKOUT_MAX_SECONDS = max(1, env_int("WEGENT_LOGIN_LOCKOUT_MAX_SECONDS", 3600))
# Requests per client address to the public OIDC look-ups (user-auth-type, cli-login).
LOGIN_THROTTLE_RATE_IP = env_str("WEGENT_LOGIN_RATE_IP", "120/min")
# Proxies in front that append to X-Forwarded-For; 0 = the connection's address is the client's.
NUM_PROXIES = max(0, env_int("WEGENT_NUM_PROXIES", 0))

# OIDC (mozilla-django-oidc backend; endpoints come from the discovery document).
OIDC_ENABLED = env_bool("OIDC_ENABLED", False)
OIDC_DISCOVERY_URL = env_str("OIDC_DISCOVERY_URL")
OIDC_RP_CLIENT_ID = env_str("OIDC_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = env_secret("OIDC_CLIENT_SECRET")
OIDC_RP_SIGN_ALGO = env_str("OIDC_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = env_str("OIDC_SCOPES", "openid email profile")
OIDC_REDIRECT_URI = env_str("OIDC_REDIRECT_URI")
OIDC_CLI_REDIRECT_URI = env_str("OIDC_CLI_REDIRECT_URI")
OIDC_STATE_SECRET_KEY = env_secret("OIDC_STATE_SECRET_KEY") or SECRET_KEY
OIDC_STATE_EXPIRE_SECONDS = env_int("OIDC_STATE_EXPIRE_SECONDS", 600)
OIDC_CLI_SESSION_TTL = env_int("OIDC_CLI_SESSION_TTL", 300)
OIDC_VERIFY_SSL = env_bool("OIDC_VERIFY_SSL", True)
# Let OIDC logins sign into existing password/API accounts with the same user name.
OIDC_LINK_LOCAL_ACCOUNTS = env_bool("OIDC_LINK_LOCAL_ACCOUNTS", False)
OIDC_TIMEOUT = env_int("OIDC_TIMEOUT", 10)
FRONTEND_URL = env_str("FRONTEND_URL", "http://localhost:3000").rstrip("/")

DEFAULT_TEAM_CHAT = env_str("DEFAULT_TEAM_CHAT", "wegent-chat#default")
DEFAULT_TEAM_CODE = env_str("DEFAULT_TEAM_CODE", "")
DEFAULT_TEAM_KNOWLEDGE = env_str("DEFAULT_TEAM_KNOWLEDGE", "wegent-notebook#default")
DEFAULT_TEAM_TASK = env_str("DEFAULT_TEAM_TASK", "wegent-wework#default")
MEMORY_ENABLED = env_bool("WEGENT_MEMORY_ENABLED", False)

# --- Tasks and attachments ------------------------------------------------------------------
# Hours after its last update within which a task still takes a new turn (0 = no limit).
APPEND_CHAT_TASK_EXPIRE_HOURS = env_int("APPEND_CHAT_TASK_EXPIRE_HOURS", 2)
APPEND_CODE_TASK_EXPIRE_HOURS = env_int("APPEND_CODE_TASK_EXPIRE_HOURS", 24)
# Where share and invite links point (the web frontend).
TASK_SHARE_BASE_URL = (env_str("TASK_SHARE_BASE_URL") or FRONTEND_URL).rstrip("/")
MAX_UPLOAD_FILE_SIZE_MB = env_int("MAX_UPLOAD_FILE_SIZE_MB", 100)
MAX_EXTRACTED_TEXT_LENGTH = env_int("MAX_EXTRACTED_TEXT_LENGTH", 500_000)
# Attachment files go through Django's storage API: the local directory below by default, or
# any django-storages backend named in WEGENT_ATTACHMENT_STORAGE (a dotted class path).
ATTACHMENT_ROOT = Path(env_str("WEGENT_ATTACHMENT_ROOT") or str(DATA_DIR / "attachments"))
ATTACHMENT_STORAGE = env_str("WEGENT_ATTACHMENT_STORAGE") or "django.core.files.storage.FileSystemStorage"

# --- Socket.IO ----------------------------------------------------------------------------
# The reference's intervals (seconds) and frame limit; browsers from these origins may connect
# (default: the CORS setting).
SOCKETIO_PING_INTERVAL = env_int("WEGENT_SOCKETIO_PING_INTERVAL", 25)
SOCKETIO_PING_TIMEOUT = env_int("WEGENT_SOCKETIO_PING_TIMEOUT", 20)
SOCKETIO_MAX_PAYLOAD = env_int("WEGENT_SOCKETIO_MAX_PAYLOAD", 1_000_000)

# --- Chat streams ---------------------------------------------------------------------------
# A running answer's partial text is saved (and its lease renewed) this often; an answer whose
# lease is older than CHAT_STREAM_LEASE_SECONDS lost its worker and is ended FAILED by a periodic
# job. On shutdown running streams get CHAT_SHUTDOWN_GRACE_SECONDS to finish, then are cancelled.
CHAT_SAVE_INTERVAL_SECONDS = env_float("WEGENT_CHAT_SAVE_INTERVAL_SECONDS", 2.0)
CHAT_STREAM_LEASE_SECONDS = env_int("WEGENT_CHAT_STREAM_LEASE_SECONDS", 30)
CHAT_SHUTDOWN_GRACE_SECONDS = env_int("WEGENT_CHAT_SHUTDOWN_GRACE_SECONDS", 30)
# How long one model call may take before it fails with a timeout error.
CHAT_MODEL_TIMEOUT_SECONDS = env_float("WEGENT_CHAT_MODEL_TIMEOUT_SECONDS", 120.0)
# Tool calls one answer may make (then the model must answer without tools), and how long one
# tool may run before its call ends with a timeout error the model reads (reference §3.9).
CHAT_MAX_TOOL_CALLS = env_int("WEGENT_CHAT_MAX_TOOL_CALLS", 10)
CHAT_TOOL_TIMEOUT_SECONDS = env_float("WEGENT_CHAT_TOOL_TIMEOUT_SECONDS", 60.0)
# A coordinating team leader's question to a member: the member writes a whole answer.
CHAT_MEMBER_TIMEOUT_SECONDS = env_float("WEGENT_CHAT_MEMBER_TIMEOUT_SECONDS", 600.0)
# A skill tool that runs in the user's browser (``skill:request``) fails with a timeout after
# this many seconds; the browser's ``skill:response`` may carry at most this many bytes of JSON.
CHAT_SKILL_REQUEST_TIMEOUT_SECONDS = env_float("WEGENT_CHAT_SKILL_REQUEST_TIMEOUT_SECONDS", 30.0)
CHAT_SKILL_RESPONSE_MAX_BYTES = env_int("WEGENT_CHAT_SKILL_RESPONSE_MAX_BYTES", 256 * 1024)

# --- Devices and executors (devices app) ---------------------------------------------------
# A device is online while its entry (refreshed by register/heartbeat/status) lives; a periodic
# job ends RUNNING device answers whose device lapsed. Slots are shown, not enforced.
DEVICE_ONLINE_TTL_SECONDS = env_int("WEGENT_DEVICE_ONLINE_TTL_SECONDS", 90)
DEVICE_SLOT_MAX = env_int("WEGENT_DEVICE_SLOT_MAX", 5)
EXECUTOR_LATEST_VERSION = env_str("EXECUTOR_LATEST_VERSION", "1.0.0")
# The service token Wegent's executor manager sends to /api/executors/* (Bearer or the
# X-Executor-Token header); empty: those routes refuse everyone.
EXECUTOR_TOKEN = env_secret("WEGENT_EXECUTOR_TOKEN")
# How executor teams' tasks reach the executor manager: it polls (pull) or we POST (push).
EXECUTOR_DISPATCH_MODE = env_str("TASK_DISPATCH_MODE", "pull")
EXECUTOR_MANAGER_URL = env_str("EXECUTOR_MANAGER_URL", "http://127.0.0.1:8001")
# Push mode (the reference's names): attempts per task, waiting RETRY_DELAY x attempt between
# them, each with this timeout.
EXECUTOR_PUSH_ATTEMPTS = env_int("TASK_DISPATCH_MAX_RETRIES", 3)
EXECUTOR_PUSH_RETRY_SECONDS = env_float("TASK_DISPATCH_RETRY_DELAY", 1.0)
EXECUTOR_PUSH_TIMEOUT_SECONDS = env_float("TASK_DISPATCH_TIMEOUT", 10.0)
# The URL executors and devices call back (``backend_url`` of the task payload).
EXECUTOR_BACKEND_URL = env_str("WEGENT_BACKEND_URL", "http://127.0.0.1:8000")
# Lifetime of the user token handed to an executor with its task (``auth_token``).
EXECUTOR_TASK_TOKEN_HOURS = env_int("WEGENT_EXECUTOR_TASK_TOKEN_HOURS", 24)

# --- /api/v1/responses ----------------------------------------------------------------------
# Requests per API key (per user for a JWT) and minute, as the reference; "" turns one off.
RESPONSES_RATE_LIMITS = {
    "responses_create": env_str("WEGENT_RESPONSES_RATE_CREATE", "60/min"),
    "responses_get": env_str("WEGENT_RESPONSES_RATE_GET", "120/min"),
    "responses_cancel": env_str("WEGENT_RESPONSES_RATE_CANCEL", "30/min"),
    "responses_delete": env_str("WEGENT_RESPONSES_RATE_DELETE", "30/min"),
}
# Ask OpenAI-compatible chat endpoints for the tokens used (``stream_options.include_usage``);
# turn off for a server that refuses the option.
CHAT_REQUEST_USAGE = env_bool("WEGENT_CHAT_REQUEST_USAGE", True)
# How long a response's stream events stay readable (``GET ...?stream=true&starting_after=N``)
# after its answer ended; afterwards a replay is rebuilt from the stored answer.
RESPONSES_KEEP_SECONDS = env_int("WEGENT_RESPONSES_KEEP_SECONDS", 3600)

# --- Outbound requests and MCP servers -------------------------------------------------------
# URLs fetched for users (MCP servers, tool fetches) may not reach loopback, private,
# link-local or metadata addresses unless named here: host names, IPs (exactly that address)
# or CIDRs, comma-separated (wegent/outbound.py).
OUTBOUND_ALLOWLIST = env_list("WEGENT_OUTBOUND_ALLOWLIST", [])

# --- Metrics (/metrics, Prometheus) -------------------------------------------------------
# With a token, only requests bearing it; without one, only these addresses or networks.
METRICS_TOKEN = env_secret("WEGENT_METRICS_TOKEN")
METRICS_ALLOW = env_list("WEGENT_METRICS_ALLOW", ["127.0.0.1", "::1"])
# A Ghost's ``stdio`` MCP servers run a command on this machine: off unless the operator allows.
MCP_ALLOW_STDIO = env_bool("WEGENT_MCP_ALLOW_STDIO", False)
# How long connecting to one MCP server (and listing its tools) may take before it is skipped.
MCP_CONNECT_TIMEOUT_SECONDS = env_float("WEGENT_MCP_CONNECT_TIMEOUT_SECONDS", 10.0)
# MCP servers every chat gets besides its Ghost's (reference names): JSON, `{"mcpServers": {...}}`.
CHAT_MCP_ENABLED = env_bool("CHAT_MCP_ENABLED", False)
CHAT_MCP_SERVERS = env_str("CHAT_MCP_SERVERS", "{}")
# The ``web_search`` tool (reference names): off by default; engines are a JSON object of
# name -> {"base_url": ..., ...} (chat/tools/web_search.py), fetched through the outbound guard.
WEB_SEARCH_ENABLED = env_bool("WEB_SEARCH_ENABLED", False)
WEB_SEARCH_ENGINES = env_str("WEB_SEARCH_ENGINES", "{}")
WEB_SEARCH_DEFAULT_MAX_RESULTS = env_int("WEB_SEARCH_DEFAULT_MAX_RESULTS", 50)

# --- HTTP / API -----------------------------------------------------------------------------
_cors = env_list("WEGENT_CORS_ALLOWED_ORIGINS", ["*"])
CORS_ALLOW_ALL_ORIGINS = "*" in _cors
CORS_ALLOWED_ORIGINS = [] if CORS_ALLOW_ALL_ORIGINS else _cors
CORS_ALLOW_CREDENTIALS = True
CORS_EXPOSE_HEADERS = ["X-Request-ID"]
SOCKETIO_ALLOWED_ORIGINS = env_list("WEGENT_SOCKETIO_ALLOWED_ORIGINS", _cors)

# Seconds a rendered Kind/agent list may be reused; every write retires them at once (0 = off).
# Without a shared cache, writes from another process (e.g. `manage.py kinds apply` beside the
# embedded server) cannot reach this process's counter, so entries live only briefly there.
LIST_CACHE_SECONDS = env_int("WEGENT_LIST_CACHE_SECONDS", 60 if REDIS_URL else 2)

# Threads that run sync request code (views, ORM); each keeps its own database connection.
SYNC_THREADS = env_int("WEGENT_SYNC_THREADS", 8)
# How many of them build responses at once while each is quick (wegent/asgi_http.py): more
# only trade CPU for switching threads (measured on the Kind write bench).
SYNC_ACTIVE = env_int("WEGENT_SYNC_ACTIVE", 4)
# Threads that run the Socket.IO handlers' and chat streams' database work (SQLite: always 1).
REALTIME_DB_THREADS = env_int("WEGENT_REALTIME_DB_THREADS", 2)
# Seconds a thread may hold the GIL before another may run (Python's default is 0.005); the
# server lowers it so database threads are not starved by the busy event loop.
GIL_SWITCH_INTERVAL = env_float("WEGENT_GIL_SWITCH_INTERVAL", 0.0005)

MAX_REQUEST_BODY_BYTES = env_int("WEGENT_MAX_REQUEST_BODY_BYTES", 20 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES

ENABLE_API_DOCS = env_bool("ENABLE_API_DOCS", True)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["wegent.api.authentication.WegentAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["wegent.api.renderers.FastJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "wegent.api.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_RATES": {
        "login_ip": LOGIN_THROTTLE_RATE_IP,
    },
    # An int, never None: None makes DRF take the whole X-Forwarded-For header as the address.
    "NUM_PROXIES": NUM_PROXIES,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Wegent API",
    "DESCRIPTION": "Wegent on Django: AI agent teams, wire-compatible with Wegent.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "wegent.api.schema.integers_are_int64",
    ],
    # Fields of the same name with different choices get named enums of their own.
    "ENUM_NAME_OVERRIDES": {
        "TaskStatusEnum": "tasks.statuses.TASK_STATUSES",
        "SubtaskStatusEnum": "tasks.statuses.SUBTASK_STATUSES",
        "MessageRoleEnum": "tasks.statuses.MESSAGE_ROLES",
        "SystemRoleEnum": "accounts.roles.SystemRole",
        "KnowledgeDocumentStatusEnum": "knowledge.models.DOCUMENT_STATUSES",
        "SplitterTypeEnum": "knowledge.splitters.TYPES",
        "SubscriptionTaskTypeEnum": "subscriptions.models.TASK_TYPES",
        "SharePermissionLevelEnum": "knowledge.api.share.LEVELS",
    },
}

# --- i18n, static ---------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("WEGENT_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "attachments": {
        "BACKEND": ATTACHMENT_STORAGE,
        "OPTIONS": {"location": str(ATTACHMENT_ROOT)}
        if ATTACHMENT_STORAGE == "django.core.files.storage.FileSystemStorage"
        else {},
    },
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG or TESTING

# --- Logging --------------------------------------------------------------------------------
LOG_LEVEL = env_str("WEGENT_LOG_LEVEL", "INFO").upper()
LOG_FORMAT = env_str("WEGENT_LOG_FORMAT", "console" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "wegent.logging.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "wegent.logging.JsonFormatter"},
        "console": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": LOG_FORMAT if LOG_FORMAT in ("json", "console") else "json",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
        "uvicorn.access": {"level": "WARNING"},
        # The model SDKs' transport logs every request at INFO (a line per provider check).
        "httpx": {"level": "WARNING"},
    },
}

SESSION_COOKIE_SECURE = env_bool("WEGENT_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Knowledge bases (knowledge app) ---------------------------------------------------------
# Seconds an embedding or rerank model may take per request; texts per embedding request; the
# most text one document may hold for indexing (longer text is indexed up to this length).
KNOWLEDGE_MODEL_TIMEOUT = env_int("KNOWLEDGE_MODEL_TIMEOUT", 30)
KNOWLEDGE_EMBED_BATCH = env_int("KNOWLEDGE_EMBED_BATCH", 64)
KNOWLEDGE_MAX_DOCUMENT_CHARS = env_int("KNOWLEDGE_MAX_DOCUMENT_CHARS", 5_000_000)
# The context window (tokens) the knowledge tools budget against: a knowledge base under 30 % of
# it is given whole to the model (direct injection), results past 70 % warn and past 90 % stop.
KNOWLEDGE_CONTEXT_WINDOW = env_int("KNOWLEDGE_CONTEXT_WINDOW", 128_000)
# Document and knowledge-base summaries (a knowledge base's summaryEnabled must be on too), and
# how long the summary model may take.
KNOWLEDGE_SUMMARY_ENABLED = env_bool("KNOWLEDGE_SUMMARY_ENABLED", True)
KNOWLEDGE_SUMMARY_TIMEOUT = env_int("KNOWLEDGE_SUMMARY_TIMEOUT", 120)

# --- Subscriptions (scheduled and webhook agent runs) ----------------------------------------
# Largest webhook body accepted (bytes), and how long a replayed delivery (same signature and
# body) is recognised and answered with the first delivery's execution.
SUBSCRIPTION_WEBHOOK_MAX_BYTES = env_int("WEGENT_SUBSCRIPTION_WEBHOOK_MAX_BYTES", 256 * 1024)
SUBSCRIPTION_WEBHOOK_REPLAY_SECONDS = env_int("WEGENT_SUBSCRIPTION_WEBHOOK_REPLAY_SECONDS", 300)
# Seconds before an execution that failed unexpectedly is tried again (up to its retryCount);
# hours after which a PENDING execution is queued again and a RUNNING one failed.
SUBSCRIPTION_RETRY_DELAY_SECONDS = env_int("WEGENT_SUBSCRIPTION_RETRY_DELAY_SECONDS", 60)
SUBSCRIPTION_STALE_PENDING_HOURS = env_float("WEGENT_SUBSCRIPTION_STALE_PENDING_HOURS", 2.0)
SUBSCRIPTION_STALE_RUNNING_HOURS = env_float("WEGENT_SUBSCRIPTION_STALE_RUNNING_HOURS", 3.0)
CELERY_BEAT_SCHEDULE["subscriptions.recover_stale"] = {
    "task": "subscriptions.recover_stale",
    "schedule": 600.0,
    "description": "Queues again the subscription runs left PENDING too long and fails those left "
    "RUNNING too long (WEGENT_SUBSCRIPTION_STALE_*_HOURS).",
}

# --- Quotas and the audit trail ----------------------------------------------------------------
# Quota days and months begin at midnight in this zone; how long a process keeps the active
# quota rules before reading them again (a save in the console applies at once in its process).
QUOTA_TIME_ZONE = env_str("WEGENT_QUOTA_TIME_ZONE", "UTC")
QUOTA_RULES_CACHE_SECONDS = env_float("WEGENT_QUOTA_RULES_CACHE_SECONDS", 5.0)
# Days an audit entry is kept; the purge job deletes older ones (0 keeps them forever).
AUDIT_RETENTION_DAYS = env_int("WEGENT_AUDIT_RETENTION_DAYS", 365)
CELERY_BEAT_SCHEDULE["audit.purge_expired"] = {
    "task": "audit.purge_expired",
    "schedule": 3600.0,
    "description": "Deletes audit trail entries older than WEGENT_AUDIT_RETENTION_DAYS "
    "(0 keeps them forever).",
}
