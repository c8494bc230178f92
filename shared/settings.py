"""Settings, read from the environment. Every variable is documented in `.env.example`."""

import os
from pathlib import Path

from shared.env import database_from_url, env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY") or (
    "dev-only-insecure-key-do-not-use-in-production" if DEBUG or env_bool("TESTING") else ""
)
if not SECRET_KEY:
    raise RuntimeError("SECRET_KEY is not set (see .env.example); DEBUG=1 uses a development key")

# The platform's own host; every association is a subdomain of it (sichuan.<PLATFORM_DOMAIN>).
PLATFORM_DOMAIN = env_str("PLATFORM_DOMAIN", "localhost")
# Associations may bring their own domains (added in the operator console), so the host allow-list is
# the Domain table itself: tenant routing answers 404 for any host it does not know, before any view.
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["*"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# --- apps -----------------------------------------------------------------------------------
# Identity is per tenant (DESIGN §2): auth, sessions and accounts exist in every schema, so a
# session cookie of one association means nothing on another. The public schema holds the
# tenants, their domains and the platform operators.
SHARED_APPS = [
    "django_tenants",
    "tenants",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django.contrib.staticfiles",
    "shared",
    "shared.accounts",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",  # operators' logins are protected too
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.admin",
    "shared",
    "shared.accounts",
    "shared.documents",
    "shared.notices",
    "tenant_configs",
    "registration",
    "membership",
    "billing",
    "certificates",
    "learning",
    "axes",
    "rest_framework.authtoken",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Association"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_NAME = "public"
# New tenants are cloned from this always-migrated template schema instead of running every
# migration again (tenants.schemas; `make bench B=tenant_onboard`). django-tenants' own clone path,
# which fakes migrations, stays off.
TENANT_BASE_SCHEMA = "tenant_template"
TENANT_CREATION_FAKES_MIGRATIONS = False
# 4.0.1 keeps the search_path cache correct across rollbacks and savepoint rollbacks (#1249, #1262).
TENANT_LIMIT_SET_CALLS = True

ROOT_URLCONF = "shared.urls_tenant"
PUBLIC_SCHEMA_URLCONF = "shared.urls_public"
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

MIDDLEWARE = [
    "shared.middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files are the same for every tenant: served before host routing, with no database access.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "tenants.middleware.TenantRoutingMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "shared.middleware.RequestContextMiddleware",
    # Last, as django-axes requires: answers locked-out logins.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out login before any password is checked (per account and per IP).
    "axes.backends.AxesStandaloneBackend",
    # Login by whatever identifier the association's rules allow (phone, ID number, USCC, company name).
    "shared.accounts.backends.RulesLoginBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one locks (per account, per IP)
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "shared" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "shared.context_processors.platform",
            ],
        },
    }
]
WSGI_APPLICATION = "shared.wsgi.application"

# --- database -----------------------------------------------------------------------------------
_database_url = env_str("DATABASE_URL")
if not _database_url:
    raise RuntimeError(
        "DATABASE_URL is not set. `make run` and `make test` set it (embedded PostgreSQL when none is given)."
    )
DATABASES = {
    "default": {
        "ENGINE": "django_tenants.postgresql_backend",
        **database_from_url(_database_url),
        # Persistent connections, checked before reuse so a restarted server does not surface as errors.
        "CONN_MAX_AGE": env_int("CONN_MAX_AGE", 60),
        "CONN_HEALTH_CHECKS": True,
        "TEST": {"NAME": env_str("TEST_DATABASE_NAME", "") or None},
    }
}

# --- cache -----------------------------------------------------------------------------------
# Keys are prefixed with the current schema (django_tenants.cache.make_key) so no cached value
# crosses tenants. Without Redis the cache is per process: fine for one dev server, not for several.
REDIS_URL = env_str("REDIS_URL")
_cache_keys = {
    "KEY_FUNCTION": "django_tenants.cache.make_key",
    "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
    # Test runs share one Redis with each other: keep each run's keys apart.
    "KEY_PREFIX": f"test{os.getpid()}" if env_bool("TESTING") else env_str("CACHE_KEY_PREFIX", ""),
}
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            **_cache_keys,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", **_cache_keys}}

# --- sessions and security ---------------------------------------------------------------------------
SESSION_COOKIE_DOMAIN = None  # host-only: a session of sichuan.* is never sent to henan.*
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG and not env_bool("TESTING"))
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY") else None
X_FRAME_OPTIONS = "DENY"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- i18n -----------------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS: list = []  # catalogues live in shared/locale (an app folder)
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- files -----------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
# Uploads are stored under MEDIA_ROOT/<schema>/ and served by views that check access, never directly.
MULTITENANT_RELATIVE_MEDIA_ROOT = "%s"
STORAGES = {
    "default": {"BACKEND": "django_tenants.files.storage.TenantFileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env_bool("STATIC_MANIFEST", not DEBUG and not env_bool("TESTING"))
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = True

# --- API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Tokens live in the tenant's schema: a token issued on one association's host does not exist on another.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "shared.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "协会培训报名与会员平台 API",
    "DESCRIPTION": "Per-association REST API. Call it on the association's own host (sichuan.<domain>).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Served from drf-spectacular-sidecar: the docs page loads no CDN asset.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery -----------------------------------------------------------------------------------
# With Redis when REDIS_URL is set; otherwise kombu's filesystem transport, which needs no server
# and is shared by the web process, the worker and beat on one machine.
CELERY_BROKER_DIR = VAR_DIR / "celery"
if env_str("CELERY_BROKER_URL"):
    CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
elif REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
else:
    CELERY_BROKER_URL = "filesystem://"
    # kombu does not create its folders: a fresh checkout without Redis would fail on the first task sent.
    for folder in ("queue", "processed"):
        (CELERY_BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "tenants-usage-collect": {"task": "tenants.tasks.usage_collect_all", "schedule": 600.0},
    "registration-expire-waiting": {"task": "registration.tasks.applications_expire_all", "schedule": 300.0},
    "billing-housekeeping": {"task": "billing.tasks.billing_housekeeping_all", "schedule": 300.0},
    # Expiry at the day's turn and reminders once a day are enough; hourly keeps a missed run short.
    "membership-housekeeping": {"task": "membership.tasks.membership_housekeeping_all", "schedule": 3600.0},
}

# --- logging and error reporting ---------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"tenant": {"()": "shared.logging.TenantFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(tenant)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "json_ensure_ascii": False,
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["tenant"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # WeasyPrint logs seven INFO lines per PDF ("Step 1 - Fetching and parsing HTML" ...); keep its warnings.
        "weasyprint.progress": {"level": "WARNING"},
    },
}

SENTRY_DSN = env_str("SENTRY_DSN")
if SENTRY_DSN:
    import sentry_sdk

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        environment=env_str("SENTRY_ENVIRONMENT", "production"),
        traces_sample_rate=float(env_str("SENTRY_TRACES_SAMPLE_RATE", "0") or 0),
    )

# The built-in payment gateway simulator (billing/providers/simulator.py) serves online channels of tenants
# without merchant keys: on by default only in development and tests (DEBUG or TESTING); a production
# deployment (DEBUG=0) has it off unless PAYMENT_SIMULATOR=1 is set explicitly, which `check --deploy` flags.
# GATEWAY_SIMULATOR_ENABLED is the earlier name of the same switch.
PAYMENT_SIMULATOR = env_bool(
    "PAYMENT_SIMULATOR", env_bool("GATEWAY_SIMULATOR_ENABLED", DEBUG or env_bool("TESTING"))
)
GATEWAY_SIMULATOR_ENABLED = PAYMENT_SIMULATOR

# --- e-mail (paid-order receipts) ----------------------------------------------------------------------
# Development (DEBUG) prints mails to the console; otherwise SMTP. Tests use Django's locmem outbox.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", f"noreply@{PLATFORM_DOMAIN}")

# --- SMS and real-name verification ------------------------------------------------------------------
# Dotted path of the SMS backend (shared/sms.py). The console backend only logs codes (development).
SMS_BACKEND = env_str("SMS_BACKEND", "shared.sms.ConsoleSmsBackend")
# Real-name (name + ID number) check, shared/realname.py: "local" accepts any well-formed ID number
# (development and demos only); "http" calls a two-element ID verification API.
REALNAME_PROVIDER = env_str("REALNAME_PROVIDER", "local")
REALNAME_BASE_URL = env_str("REALNAME_BASE_URL")
REALNAME_APP_CODE = env_str("REALNAME_APP_CODE")
