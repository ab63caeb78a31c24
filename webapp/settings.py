"""Django settings. Every knob is an environment variable with a safe default for one
machine (listed in .env.example and the README); a bad value stops the start with a message."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
ENV = os.environ


def env_bool(name: str, default: bool) -> bool:
    raw = ENV.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = ENV.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in ENV.get(name, default).split(",") if item.strip()]


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = ENV.get(name) or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


DJANGO_ENV = env_choice("DJANGO_ENV", "local", ("local", "production"))
PRODUCTION = DJANGO_ENV == "production"
VAR_DIR = Path(ENV.get("VAR_DIR", BASE_DIR / "var"))


def _private_dir(path: Path) -> Path:
    """The folder, made 0700: var/ holds the database (sessions, webhook secrets), the
    secret key and the uploads, which are the owner's alone. A folder that already exists is
    tightened only when it is plainly ours (empty, or holding our database or key), so that
    VAR_DIR=/tmp, say, never changes /tmp."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    ours = not any(path.iterdir()) or (path / "secret_key").exists() or (path / "db.sqlite3").exists()
    if ours and path.stat().st_uid == os.getuid():
        path.chmod(0o700)
    return path


def _private_file(path: Path) -> None:
    """Made if missing, then 0600 (SQLite gives its -wal and -shm files the same mode)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    if path.stat().st_uid == os.getuid():
        path.chmod(0o600)


def _secret_key() -> str:
    """From the environment; on one machine, made once and kept in var/ so sessions survive
    a restart. Production refuses to start without one."""
    key = ENV.get("DJANGO_SECRET_KEY")
    if key:
        return key
    if PRODUCTION:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_ENV=production")
    path = _private_dir(VAR_DIR) / "secret_key"
    try:  # created with its mode: never readable by others, not even for a moment
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        _private_file(path)
    else:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "transcripts",
]

MIDDLEWARE = [
    "transcripts.health.HealthCheckMiddleware",  # first: see transcripts/health.py
    "django.middleware.security.SecurityMiddleware",
    "transcripts.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "transcripts.middleware.LoginThrottleMiddleware",  # after CSRF: a forged post counts nothing
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "webapp.urls"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [BASE_DIR / "templates"],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
WSGI_APPLICATION = "webapp.wsgi.application"
ASGI_APPLICATION = "webapp.asgi.application"


def _databases() -> dict:
    url = ENV.get("DATABASE_URL")
    if url:
        import dj_database_url

        database = dj_database_url.parse(url, conn_max_age=0)
        if ENV.get("DATABASE_TEST_NAME"):  # lets two test runs share one server
            database["TEST"] = {"NAME": ENV["DATABASE_TEST_NAME"]}
        return {"default": database}
    sqlite_path = Path(ENV["SQLITE_PATH"]) if ENV.get("SQLITE_PATH") else _private_dir(VAR_DIR) / "db.sqlite3"
    _private_file(sqlite_path)
    return {"default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(sqlite_path),
        # WAL lets readers go on while the dispatcher writes; the timeout waits out a
        # writer instead of raising "database is locked" at a person.
        "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE",
                    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
    }}


DATABASES = _databases()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def _channel_layers() -> dict:
    url = ENV.get("REDIS_URL")
    if url:
        return {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                            "CONFIG": {"hosts": [url], "prefix": ENV.get("REDIS_PREFIX", "asgi")}}}
    return {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


CHANNEL_LAYERS = _channel_layers()

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = ENV.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_ROOT = Path(ENV.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = None  # media is served only through views that check the owner
# Uploads and results: the owner's alone on the host too.
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(MEDIA_ROOT)}},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
                    if PRODUCTION else "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = not PRODUCTION  # serve app static files without collectstatic locally

# Uploads always go to a temporary file (never into memory), where ffprobe can check them.
FILE_UPLOAD_HANDLERS = ["django.core.files.uploadhandler.TemporaryFileUploadHandler"]
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 1024**3, minimum=1)  # SageMaker async's limit

# Transcription
TRANSCRIBE_BACKEND = env_choice("TRANSCRIBE_BACKEND", "local", ("local", "aws"))
MODEL_CONTAINER_URL = ENV.get("MODEL_CONTAINER_URL", "http://127.0.0.1:8080").rstrip("/")
MODEL_SERVER_TOKEN = ENV.get("MODEL_SERVER_TOKEN") or None  # sent as a Bearer token when set
DISPATCHER_CONCURRENCY = env_int("DISPATCHER_CONCURRENCY", 1, minimum=1)
# The background workers (dispatcher or outcome sync, webhook delivery) run inside the web
# process unless this is off; then `manage.py work` runs them. DISPATCHER_IN_WEB is its old name.
WORKERS_IN_WEB = env_bool("WORKERS_IN_WEB", env_bool("DISPATCHER_IN_WEB", True))
DISPATCHER_POLL_SECONDS = float(env_int("DISPATCHER_POLL_MS", 2000, minimum=50)) / 1000
DISPATCHER_LEASE_SECONDS = env_int("DISPATCHER_LEASE_SECONDS", 60, minimum=5)
DISPATCHER_RETRY_SECONDS = env_int("DISPATCHER_RETRY_SECONDS", 5, minimum=0)  # back-off unit after a failure
INVOCATION_TIMEOUT_SECONDS = env_int("INVOCATION_TIMEOUT_SECONDS", 3600, minimum=1)
JOBS_PER_PAGE = env_int("JOBS_PER_PAGE", 25, minimum=1)
# Webhooks (docs/webhooks.md): targets that resolve to loopback, private, link-local,
# multicast, reserved or unspecified addresses are refused, when the webhook is made and
# before every delivery, unless the operator allows them (e.g. a receiver on the same host).
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE", False)
# Per person: uploads accepted per hour (429 beyond), and how long jobs and their files are
# kept (0: forever; `manage.py purge_expired` deletes older ones; on AWS, match the stack's
# retention_days, after which the bucket's lifecycle rules delete the files).
UPLOADS_PER_HOUR = env_int("UPLOADS_PER_HOUR", 120, minimum=1)
RETENTION_DAYS = env_int("RETENTION_DAYS", 0)
# Abuse limits (docs/security.md). Quotas count a ledger of accepted uploads that deleting a
# job does not shrink, over the last hour (UPLOADS_PER_HOUR, above) and the last 24 hours;
# 0 turns a limit off. Over a quota: 429 with Retry-After; over QUEUE_MAX_JOBS (jobs waiting
# or running, everyone's together): 503 with Retry-After.
UPLOADS_PER_DAY = env_int("UPLOADS_PER_DAY", 500)
AUDIO_HOURS_PER_DAY = env_int("AUDIO_HOURS_PER_DAY", 24)
QUEUE_MAX_JOBS = env_int("QUEUE_MAX_JOBS", 1000)
# Who may make an account: anyone (open), someone with a staff member's invite code (invite),
# nobody but staff in the admin (closed, the production default).
SIGNUP_MODE = env_choice("SIGNUP_MODE", "closed" if PRODUCTION else "open", ("open", "invite", "closed"))
# Log-in throttling on /accounts/login/ and /admin/login/: after this many failed attempts
# within LOGIN_LOCKOUT_SECONDS for one username, or from one client address, further
# attempts are answered 429 with Retry-After until the oldest falls out of the window.
LOGIN_FAILURES_PER_ACCOUNT = env_int("LOGIN_FAILURES_PER_ACCOUNT", 5, minimum=1)
LOGIN_FAILURES_PER_ADDRESS = env_int("LOGIN_FAILURES_PER_ADDRESS", 30, minimum=1)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 900, minimum=1)
# Proxies in front of the app that append the client's address to X-Forwarded-For (a load
# balancer: 1); 0 takes the connection's address. Used to count log-in attempts per address.
TRUSTED_PROXIES = env_int("TRUSTED_PROXIES", 0)
# The OpenAI-compatible endpoint waits this long for the job, then answers 202 with its URL.
OPENAI_WAIT_SECONDS = env_int("OPENAI_WAIT_SECONDS", 120, minimum=0)

# The AWS backend: the names come from the CDK stack's outputs (docs/deploy-aws.md).
AWS_REGION = ENV.get("AWS_REGION") or ENV.get("AWS_DEFAULT_REGION") or "us-east-1"
AWS_STORAGE_BUCKET_NAME = ENV.get("AWS_STORAGE_BUCKET_NAME", "")
SAGEMAKER_ENDPOINT_NAME = ENV.get("SAGEMAKER_ENDPOINT_NAME", "")
JOBS_TABLE_NAME = ENV.get("JOBS_TABLE_NAME", "")
SAGEMAKER_REQUEST_TTL_SECONDS = env_int("SAGEMAKER_REQUEST_TTL_SECONDS", 6 * 3600, minimum=60)
OUTCOME_POLL_SECONDS = float(env_int("OUTCOME_POLL_MS", 2000, minimum=100)) / 1000
RECONCILE_EVERY_SECONDS = env_int("RECONCILE_EVERY_SECONDS", 300, minimum=10)
# A job whose notification was lost is settled from its output or failure object (both
# known at submission) once it is this old; one with neither expires after the request TTL
# plus the invocation timeout.
RECONCILE_AFTER_SECONDS = env_int("RECONCILE_AFTER_SECONDS", 600, minimum=60)
# Rounds the outcome sync tries to record an outcome it cannot read before failing the job.
OUTCOME_READ_TRIES = env_int("OUTCOME_READ_TRIES", 5, minimum=1)
SIGNED_URL_SECONDS = env_int("SIGNED_URL_SECONDS", 300, minimum=10)
JOB_ITEM_TTL_DAYS = env_int("JOB_ITEM_TTL_DAYS", 30, minimum=1)  # the stack's retention_days


def s3_storage(bucket: str, region: str) -> dict:
    """Private objects, never overwritten, reached by people only through short-lived signed
    URLs. The bucket enforces owner-only objects, so no ACL is sent."""
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": bucket, "region_name": region, "default_acl": None,
        "file_overwrite": False, "querystring_auth": True,
        "querystring_expire": SIGNED_URL_SECONDS, "signature_version": "s3v4",
        "endpoint_url": ENV.get("AWS_S3_ENDPOINT_URL") or None}}


if TRANSCRIBE_BACKEND == "aws":
    _missing = [name for name in ("AWS_STORAGE_BUCKET_NAME", "SAGEMAKER_ENDPOINT_NAME", "JOBS_TABLE_NAME")
                if not globals()[name]]
    if _missing:
        raise ImproperlyConfigured(f"TRANSCRIBE_BACKEND=aws needs {', '.join(_missing)} "
                                   "(the CDK stack's outputs)")
    STORAGES["default"] = s3_storage(AWS_STORAGE_BUCKET_NAME, AWS_REGION)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": ENV.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = True
