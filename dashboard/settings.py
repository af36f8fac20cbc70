"""BotWatch settings, read from environment variables (SPEC §3).

Every variable is parsed here, once, at start-up. A missing or malformed value raises
ImproperlyConfigured naming the variable, so a typo stops the process instead of
surfacing later as a silent default. `make run` writes a `.env` with generated secrets
on first run; production sets the variables in its environment.
"""

from pathlib import Path

import environ

from dashboard.env import (
    env_bool,
    env_emails,
    env_float,
    env_int,
    env_list,
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
    "django_htmx",
    "checks",
    "dashboard",
    # The bundled Bitrix24 simulator, for its management command (the demo and the tests).
    "simulator",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "dashboard.middleware.RequireRoleMiddleware",
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

VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": parse_database_url(
        "DATABASE_URL",
        f"sqlite:///{VAR_DIR / 'botwatch.sqlite3'}",
        # Per process: at least the worker's threads plus its heartbeat and the broker's.
        pool_size=env_int("BOTWATCH_DB_POOL_SIZE", 40, minimum=2),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_url("REDIS_URL", "", schemes=("redis", "rediss"))
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # A cache every process on this machine sees (SPEC §2: no in-process caches).
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
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
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
    for folder in ("queue", "processed", "control"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
else:
    # A task not acknowledged within this time is redelivered; longer than any task's hard limit.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_IMPORTS = ["checks.engine.tasks", "checks.alerts.tasks"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = "UTC"

# Email (SPEC §3): SMTP when EMAIL_HOST is set, else printed to the console.
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
BITRIX24_OAUTH_URL = env_url("BITRIX24_OAUTH_URL", "https://oauth.bitrix.info/oauth/token/")
BITRIX24_TIMEOUT = env_float("BITRIX24_TIMEOUT", 10.0, minimum=0.1)
# Bounded retries of QUERY_LIMIT_EXCEEDED, 5xx and connection errors, with exponential backoff and jitter.
BITRIX24_RETRIES = env_int("BITRIX24_RETRIES", 2, minimum=0, maximum=5)
BITRIX24_RETRY_DELAY = env_float("BITRIX24_RETRY_DELAY", 0.5, minimum=0.0)
BOTWATCH_CHECK_INTERVAL = env_int("BOTWATCH_CHECK_INTERVAL", 300, minimum=30)
BOTWATCH_HISTORY_DAYS = env_int("BOTWATCH_HISTORY_DAYS", 90, minimum=1)
BOTWATCH_REMINDER_HOURS = env_int("BOTWATCH_REMINDER_HOURS", 24, minimum=0)
# Seconds a fleet wave gathers the portals failing together before its one email (SPEC §8).
BOTWATCH_WAVE_GRACE = env_int("BOTWATCH_WAVE_GRACE", 60, minimum=0, maximum=900)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO").upper()},
    "loggers": {"django": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}

if not DEBUG:
    SESSION_COOKIE_SECURE = SITE_URL.startswith("https://")
    CSRF_COOKIE_SECURE = SITE_URL.startswith("https://")
