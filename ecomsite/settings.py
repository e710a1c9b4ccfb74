"""ecomsite settings: one module, read from the environment.

No variables set: SQLite under BASE_DIR, a Celery broker that needs no server, local-memory cache.
DATABASE_URL / REDIS_URL set: PostgreSQL, Redis broker and cache, real workers and beat.
Every variable is documented in README.md ("Configuration").
"""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_optional_int(name: str) -> int | None:
    """An integer, or None when unset or empty."""
    value = os.environ.get(name, "").strip()
    return int(value) if value else None


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


DEBUG = env_bool("DJANGO_DEBUG")
# The fallback key is deliberately marked insecure so that `manage.py check --deploy` flags it.
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "django-insecure-ecomsite-embedded-development-key")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

VAR_DIR = Path(env_str("ECOMSITE_VAR_DIR", str(BASE_DIR / "var")))
ARTIFACTS_DIR = Path(env_str("ARTIFACTS_DIR", str(VAR_DIR / "artifacts")))
# Uploaded import files; must be on storage the workers can read (a shared volume in production).
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "ecomsite",
    "segments",
    "recommendations",
    "campaigns",
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
]

ROOT_URLCONF = "ecomsite.urls"
WSGI_APPLICATION = "ecomsite.wsgi.application"

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
                "ecomsite.context_processors.role",
            ],
        },
    },
]

# https://github.com/jazzband/dj-database-url
# SQLite runs in WAL mode with immediate transactions so that the web process and the embedded
# worker can write at the same time without "database is locked" (Django 5.1+ "init_command").
_SQLITE_DEFAULT = f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(env_str("DATABASE_URL", _SQLITE_DEFAULT))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = 60
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env_str("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve static files from the app directories too, so a fresh checkout works before collectstatic.
WHITENOISE_USE_FINDERS = True

# Largest upload accepted by the import page (bytes). The file is streamed to disk, not memory.
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
IMPORT_UPLOAD_MAX_BYTES = int(env_str("IMPORT_UPLOAD_MAX_BYTES", str(2 * 1024**3)))

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the progress page's fetch() reads it for POSTs
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if env_bool("DJANGO_SECURE"):
    # Behind TLS in production: https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 3600

REDIS_URL = env_str("REDIS_URL")

# Cache: Redis when configured (shared by all processes: throttling, cached recommendations).
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: https://docs.celeryq.dev/en/stable/django/first-steps-with-django.html
# Without REDIS_URL the broker is kombu's filesystem transport: messages are files under var/celery,
# so the worker started by ./run.sh needs no server, and web requests still never run long work
# themselves (eager mode would run an import inside the upload request).
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
else:
    _celery_dir = VAR_DIR / "celery"
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_dir / "queue"),
        "data_folder_out": str(_celery_dir / "queue"),
        "processed_folder": str(_celery_dir / "processed"),
        # Broadcast/remote-control messages; kombu's default is ./control in the working directory.
        "control_folder": str(_celery_dir / "control"),
        "store_processed": False,
    }
# The run row is the result: tasks ignore results, so no result backend is needed.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Beat reads its schedule from the database, editable in the admin (django-celery-beat).
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# DRF: deny by default. https://www.django-rest-framework.org/api-guide/settings/
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header makes anonymous calls 401, not 403.
        "ecomsite.api.authentication.PartnerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["ecomsite.api.throttling.CallerRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"caller": env_str("API_THROTTLE_RATE", "600/min")},
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "ecomsite.api.exceptions.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "ecomsite API",
    "DESCRIPTION": "Shop data in; segments, recommendations and campaigns out. "
    "Partners authenticate with `Authorization: Bearer <token>`; each endpoint names its scope.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
}

# The largest batch POST /api/v1/events/ takes (README "Bulk event API").
EVENTS_API_MAX_BATCH = 1000

# Predictive customer scores (segments/services/predictions.py, a pipeline step after features):
# the horizon of expected orders, revenue and churn risk (days), the bootstrap replicates behind
# each interval, and the model of purchase counts ("mbgnbd" or "bgnbd").
PREDICTIVE_HORIZON_DAYS = env_int("PREDICTIVE_HORIZON_DAYS", 90)
PREDICTIVE_BOOTSTRAP = env_int("PREDICTIVE_BOOTSTRAP", 200)
PREDICTIVE_MODEL = os.environ.get("PREDICTIVE_MODEL", "mbgnbd")

# Recommenders (recommendations/services/training.py). A training round holds out the newest
# RECOMMENDER_HOLDOUT_DAYS of purchases as the test period (91: the last three months) and tunes
# on the RECOMMENDER_VALIDATION_DAYS before it; models are then refitted on all data to serve.
RECOMMENDER_HOLDOUT_DAYS = env_int("RECOMMENDER_HOLDOUT_DAYS", 91)
RECOMMENDER_VALIDATION_DAYS = env_int("RECOMMENDER_VALIDATION_DAYS", 42)
# The search: algorithms to train (empty: all of recommendations/engine/tuning.py DEFAULT_SPACES),
# at most this many configurations per algorithm (unset: the engine's default) and the time
# after which an algorithm stops starting new configurations (seconds).
RECOMMENDER_ALGORITHMS = env_list("RECOMMENDER_ALGORITHMS")
RECOMMENDER_MAX_TRIALS = env_optional_int("RECOMMENDER_MAX_TRIALS")
RECOMMENDER_BUDGET_SECONDS = env_float("RECOMMENDER_BUDGET_SECONDS", 120.0)
# Deep-model rounds (Keras: sequence model, neural CF, learned ranker; weekly and "Train deep
# models"): the algorithms (empty: all of tuning.py DEEP_SPACES) and their search budget each.
RECOMMENDER_DEEP_ALGORITHMS = env_list("RECOMMENDER_DEEP_ALGORITHMS")
RECOMMENDER_DEEP_BUDGET_SECONDS = env_float("RECOMMENDER_DEEP_BUDGET_SECONDS", 900.0)
# Precomputed recommendations per customer (and the length of every fallback list).
RECOMMENDATIONS_TOP_N = env_int("RECOMMENDATIONS_TOP_N", 50)
# Model files are kept for the newest this many training rounds (about 70 MB a round on the demo
# data), plus the serving and the previous model; older runs can no longer be promoted.
RECOMMENDER_KEEP_TRAININGS = env_int("RECOMMENDER_KEEP_TRAININGS", 10)

# Campaign delivery (campaigns/services/delivery.py): the backend per channel, "outbox" (the
# OutboxMessage table is the delivery) unless set; email goes through Django's email framework
# (SMTP) when EMAIL_HOST is set. https://docs.djangoproject.com/en/5.2/topics/email/
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "shop@localhost")
CAMPAIGN_DELIVERY_BACKENDS = {"email": "email" if EMAIL_HOST else "outbox"}
# A launch without progress for this long (seconds) is presumed dead and queued again by the
# every-minute campaigns sweep.
CAMPAIGN_LAUNCH_STALE_SECONDS = env_int("CAMPAIGN_LAUNCH_STALE_SECONDS", 600)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
}
