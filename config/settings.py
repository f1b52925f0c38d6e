"""Countersign settings: everything comes from the environment, with safe defaults for local use."""

import ipaddress
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from config.errors import codes_table

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
PRODUCTION = env.bool("PRODUCTION", default=False)
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]", "testserver")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=list(LOCAL_HOSTS))
# The built-in key is for local use only: not PRODUCTION and served under loopback names only.
# Anything else (a production profile, a host name people reach) refuses to start without a key.
LOCAL_SECRET_KEY = "countersign-insecure-local-key-change-me-in-production"
SECRET_KEY = env.str("SECRET_KEY", default=LOCAL_SECRET_KEY)
if SECRET_KEY == LOCAL_SECRET_KEY and (PRODUCTION or not set(ALLOWED_HOSTS) <= set(LOCAL_HOSTS)):
    raise ImproperlyConfigured(
        "Set SECRET_KEY: the built-in key is for local use only (not PRODUCTION, and ALLOWED_HOSTS "
        f"among {', '.join(LOCAL_HOSTS)})."
    )
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # Django's admin for superusers only (config.admin); ADMIN_ENABLED=false removes its URL.
    "config.admin.CountersignAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_htmx",
    "pgtrigger",
    "audit",
    "people",
    "agents",
    "policies",
    "sandbox",
    "notifications",
    "approvals",
    "escalations",
    "qa",
]
# Django's admin at /admin/ (superusers only); false removes the URL, e.g. on a public port.
ADMIN_ENABLED = env.bool("ADMIN_ENABLED", default=True)

MIDDLEWARE = [
    # First: answers /healthz, /readyz and /metrics before any other middleware, and gives every
    # other request its id, its log line and its latency histogram entry (config.observability).
    "config.observability.ObservabilityMiddleware",
    "config.limits.BodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Signs out a session past its lifetime or idle too long, then holds people who must prove a
    # second factor on the enrolment or verification page until they have.
    "config.sessions.SessionLifetimeMiddleware",
    "config.two_factor.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
            # The top bar's links ask the rulebook (see config.nav).
            "libraries": {"countersign_nav": "config.nav"},
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/countersign"),
}
# A connection pool per process (psycopg_pool): under ASGI every request may run in its own thread,
# so persistent per-thread connections would leak; opening a connection per request costs a
# PostgreSQL backend fork each time. The pool serves web, long-poll and Celery processes alike.
DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=20)
if DB_POOL_MAX_SIZE > 0:
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # required by pooling; closing returns to the pool
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
        "max_size": DB_POOL_MAX_SIZE,
        "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# The role the app connects as when migrations run as the tables' owner (see README, "Audit"):
# audit migration 0004 gives it SELECT and INSERT on the audit log and nothing else there.
DATABASE_APP_ROLE = env.str("DATABASE_APP_ROLE", default="countersign_app")
DATABASES["default"].setdefault("TEST", {})["NAME"] = env.str("TEST_DATABASE_NAME", default=None)
if not DATABASES["default"]["TEST"]["NAME"]:
    del DATABASES["default"]["TEST"]["NAME"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "countersign",
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # channels_redis reads a channel with a blocking pop that waits up to 5 s, redis-py's
            # default read timeout: without a longer one every idle dashboard drops every 5 s.
            "hosts": [{"address": REDIS_URL, "socket_timeout": 15, "socket_connect_timeout": 5}],
            # channels_redis silently drops messages above `capacity` (default 100); a burst of
            # submissions must not vanish, and clients resync from the database anyway.
            "capacity": env.int("CHANNEL_CAPACITY", default=5000),
            "expiry": 30,
            "prefix": env.str("CHANNEL_PREFIX", default="countersign"),
        },
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# Sign-in (see the README's "Sign-in"). django-axes counts failed sign-ins, on our pages and the
# admin's alike, per username (whatever the address) and per client address (whatever the
# username); past the limit both are refused with 429 until the lockout ends.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_MAX_FAILURES", default=10)
AXES_COOLOFF_TIME = timedelta(seconds=env.int("LOGIN_LOCKOUT_SECONDS", default=900))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "config.login.locked_out"
AXES_CLIENT_IP_CALLABLE = "config.client_address.client_address"
AXES_USERNAME_FORM_FIELD = "username"
# The client's address comes from the proxies we run, never from what a client says: with
# TRUSTED_PROXY_COUNT = 0 it is REMOTE_ADDR; with N, the Nth address from the right of
# TRUSTED_PROXY_HEADER, the one our outermost proxy saw (nginx appends it; anything to its left
# was written by the client).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
TRUSTED_PROXY_HEADER = env.str("TRUSTED_PROXY_HEADER", default="X-Forwarded-For")
# A session ends SESSION_MAX_SECONDS after sign-in, or after SESSION_IDLE_SECONDS without a request.
SESSION_MAX_SECONDS = env.int("SESSION_MAX_SECONDS", default=8 * 3600)
SESSION_IDLE_SECONDS = env.int("SESSION_IDLE_SECONDS", default=30 * 60)
SESSION_COOKIE_AGE = SESSION_MAX_SECONDS
# TOTP (django-otp): the issuer authenticator apps show next to the code.
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Countersign")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Serve static files from the app itself (no CDN, no separate web server needed for a pilot).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "agents.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["config.parsers.BoundedJSONParser"],
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    # Per API key (agents) and per person (sessions), in Redis; empty API_RATE_LIMIT turns it off.
    "DEFAULT_THROTTLE_CLASSES": ["agents.throttling.ApiRateThrottle"],
    # The policy dry run has a budget of its own on top (POLICY_CHECK_RATE_LIMIT, per agent key).
    "DEFAULT_THROTTLE_RATES": {
        "api": env.str("API_RATE_LIMIT", default="600/min"),
        "policy_check": env.str("POLICY_CHECK_RATE_LIMIT", default="30/min"),
    },
}

# Bounds on input (see the README's "Limits"). An API body over the cap is answered 413 by the app
# itself under WSGI and ASGI (config.limits); DRF parses from the stream, so Django's own
# DATA_UPLOAD_MAX_MEMORY_SIZE never applies to it. The rest are answered 400.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=64 * 1024)
API_MAX_JSON_DEPTH = env.int("API_MAX_JSON_DEPTH", default=32)
# In an agent's params and context: each string (and key), each array, the context as a whole.
API_MAX_STRING_CHARS = env.int("API_MAX_STRING_CHARS", default=4000)
API_MAX_LIST_ITEMS = env.int("API_MAX_LIST_ITEMS", default=100)
API_MAX_CONTEXT_BYTES = env.int("API_MAX_CONTEXT_BYTES", default=16 * 1024)
# A websocket frame from a browser over this closes the socket (1008); pages only send pings.
WS_MAX_MESSAGE_BYTES = env.int("WS_MAX_MESSAGE_BYTES", default=4096)
# A policy condition still running after this long stops and fails closed (see "Policies").
CEL_TIME_BUDGET_MS = env.float("CEL_TIME_BUDGET_MS", default=100.0)

SPECTACULAR_SETTINGS = {
    "TITLE": "Countersign API",
    "DESCRIPTION": (
        "Human-in-the-loop gateway for the actions AI agents take.\n\n"
        'Every error is `{"error": {"code", "message", "details"}}` with the HTTP status of its '
        "code. The codes:\n\n" + codes_table()
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Actions and escalation cases both have a `status`: name each set of choices.
    "ENUM_NAME_OVERRIDES": {
        "ActionStatusEnum": "approvals.models.Status",
        "CaseStatusEnum": "escalations.models.CaseStatus",
    },
}

# Celery: at-least-once delivery; the execution lease on the action (see README, "Execution")
# turns it into exactly-once effect, with executors idempotent on the action id.
# - Late acks and prefetch 1: a message is acked only when its task has finished, and a worker
#   holds at most one message it has not started, so a dead worker strands little.
# - A worker process lost mid-task (SIGKILL, OOM) has its message rejected and delivered again.
#   Redelivery is bounded by the action, not by Celery: a redelivered task finds the action
#   `executing` under a live lease and exits, or takes over an expired lease as the next attempt,
#   and after EXECUTION_MAX_ATTEMPTS attempts the action fails and goes to a person.
# - visibility_timeout: how long Redis keeps a delivered, unacked message before handing it to
#   another worker. It must outlast the longest a live worker holds one: a retry's countdown
#   (at most EXECUTION_RETRY_MAX_SECONDS, 120 s) plus one attempt (at most the lease, 60 s), or a
#   slow attempt would be delivered twice while it runs. 300 s leaves room; messages of workers
#   killed outright come back after it, and the sweeper re-enqueues their actions sooner than that.
# - Connection loss: a running task is left to finish (not cancelled): its outcome goes to
#   PostgreSQL, not to the broker, and the message it can no longer ack comes back later to find
#   the action finished. Cancelling it would only turn a nearly done attempt into a recovery.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("BROKER_VISIBILITY_TIMEOUT", default=300),
}
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="countersign")
# Calls out to other servers (agent callbacks, notification webhooks, Slack, email) wait on them,
# so they have a queue of their own: a slow receiver can hold only outbound workers, never the
# execution of approved actions. A worker started without -Q consumes both queues (both are
# declared here); docker-compose runs a second worker for the outbound queue alone.
CELERY_OUTBOUND_QUEUE = env.str(
    "CELERY_OUTBOUND_QUEUE", default=f"{CELERY_TASK_DEFAULT_QUEUE}-outbound"
)
CELERY_TASK_QUEUES = {CELERY_TASK_DEFAULT_QUEUE: {}, CELERY_OUTBOUND_QUEUE: {}}
CELERY_TASK_ROUTES = {
    "approvals.tasks.deliver_callback": {"queue": CELERY_OUTBOUND_QUEUE},
    "notifications.tasks.send_delivery": {"queue": CELERY_OUTBOUND_QUEUE},
    "notifications.tasks.send_digests": {"queue": CELERY_OUTBOUND_QUEUE},
}
CELERY_BROKER_CONNECTION_RETRY = True
# Workers log through LOGGING below (JSON in production, redacted), not through a root handler
# of Celery's own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None  # a worker waits for the broker as long as it takes
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# Enqueueing happens on commit, in a web request: with the broker down, give up after ~0.5 s
# instead of holding the request; the action stays `approved` and the sweeper enqueues it later.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2,
}  # fmt: skip
CELERY_BEAT_SCHEDULE = {
    "sweep-stalled-executions": {
        "task": "approvals.tasks.sweep_stalled_actions",
        "schedule": env.float("SWEEP_INTERVAL_SECONDS", default=30.0),
    },
    "release-expired-claims": {
        "task": "approvals.tasks.release_expired_claims",
        "schedule": env.float("CLAIM_SWEEP_INTERVAL_SECONDS", default=15.0),
    },
    "sweep-callbacks": {
        "task": "approvals.tasks.sweep_callbacks",
        "schedule": env.float("CALLBACK_SWEEP_INTERVAL_SECONDS", default=30.0),
    },
    # Actions past their SLA (expire, reject or escalate, as their rule says), then cases past
    # theirs (next tier, or breached and told again at the last tier). Idempotent; catches up.
    "sweep-slas": {
        "task": "escalations.tasks.sweep_slas",
        "schedule": env.float("SLA_SWEEP_INTERVAL_SECONDS", default=30.0),
    },
    # Notifications whose task was lost (broker down at commit, a worker killed) are sent again.
    "sweep-notifications": {
        "task": "notifications.tasks.sweep_deliveries",
        "schedule": env.float("NOTIFY_SWEEP_INTERVAL_SECONDS", default=30.0),
    },
    # One email per person with what their digest subscriptions gathered since the last one.
    "send-notification-digests": {
        "task": "notifications.tasks.send_digests",
        "schedule": env.float("NOTIFY_DIGEST_INTERVAL_SECONDS", default=3600.0),
    },
    # Each active QA sampling plan's periods that ended and are not drawn yet (catches up).
    "draw-qa-samples": {
        "task": "qa.tasks.draw_samples",
        "schedule": env.float("QA_DRAW_INTERVAL_SECONDS", default=300.0),
    },
    # Audit events committed since the last run get their place in the hash chain. A run is one
    # short transaction; one that waited in the queue longer than the interval is dropped.
    "audit-seal": {
        "task": "audit.tasks.audit_seal",
        "schedule": env.float("AUDIT_SEAL_INTERVAL_SECONDS", default=1.0),
        "options": {"expires": env.float("AUDIT_SEAL_INTERVAL_SECONDS", default=1.0) * 5},
    },
    # A signed checkpoint of the audit chain's head, written outside the database.
    "audit-checkpoint": {
        "task": "audit.tasks.audit_checkpoint",
        "schedule": env.float("AUDIT_CHECKPOINT_INTERVAL_SECONDS", default=300.0),
    },
}

# The audit log (see README, "Audit"): signed checkpoints of its head go to a directory outside
# the database, signed with an Ed25519 key that is not in the database either (`./run` makes one
# under var/ on first start; production mounts one).
_VAR_DIR = Path(env.str("COUNTERSIGN_VAR_DIR", default=str(BASE_DIR / "var")))
AUDIT_SIGNING_KEY = env.str("AUDIT_SIGNING_KEY", default="")
AUDIT_SIGNING_KEY_FILE = env.str(
    "AUDIT_SIGNING_KEY_FILE", default=str(_VAR_DIR / "audit-signing-key.pem")
)
AUDIT_CHECKPOINT_DIR = env.str("AUDIT_CHECKPOINT_DIR", default=str(_VAR_DIR / "audit-checkpoints"))
# `verify_audit` fails when an event was left unsealed longer than this (a lost seal: beat's
# `audit-seal` chains events within about AUDIT_SEAL_INTERVAL_SECONDS of their commit).
AUDIT_SEAL_GRACE_SECONDS = env.float("AUDIT_SEAL_GRACE_SECONDS", default=60.0)

COUNTERSIGN = {
    # The sweeper enqueues again an action nothing happened to for this many seconds: approved and
    # not started (the broker was down, the message was lost), or executing with its lease run out
    # (the worker died). It marks what it enqueued, so a backlog is not enqueued every sweep.
    "STALL_AFTER_SECONDS": env.int("STALL_AFTER_SECONDS", default=60),
    # A rollback still `rolling_back` this long after its last change lost its compensation task
    # (broker down, worker lost): the sweeper enqueues it again. Longer than a task's own retries.
    "ROLLBACK_STALL_AFTER_SECONDS": env.int("ROLLBACK_STALL_AFTER_SECONDS", default=300),
    # Execution (see README, "Execution"). An attempt holds its action for the lease; executors
    # must give up on the target well within it (connector timeouts are far shorter).
    "EXECUTION_LEASE_SECONDS": env.float("EXECUTION_LEASE_SECONDS", default=60.0),
    # Attempts per action, crashes and transient failures alike; then it fails and escalates.
    "EXECUTION_MAX_ATTEMPTS": env.int("EXECUTION_MAX_ATTEMPTS", default=5),
    # Backoff after a transient failure of attempt n: half of min(max, base * 2**(n-1)) plus a
    # random part up to the other half, so retries of many actions failed at once spread out.
    "EXECUTION_RETRY_BASE_SECONDS": env.float("EXECUTION_RETRY_BASE_SECONDS", default=2.0),
    "EXECUTION_RETRY_MAX_SECONDS": env.float("EXECUTION_RETRY_MAX_SECONDS", default=120.0),
    "WAIT_MAX_SECONDS": env.int("WAIT_MAX_SECONDS", default=60),
    "WAIT_DEFAULT_SECONDS": 30,
    # An action waiting for a person whose rule names no SLA is due this long after submission.
    "DEFAULT_SLA_SECONDS": env.int("DEFAULT_SLA_SECONDS", default=4 * 3600),
    # Opening an action claims it for this long; the reviewer's page renews it while open.
    "CLAIM_SECONDS": env.int("CLAIM_SECONDS", default=300),
    # The queue page batch-approves or rejects only single-approval pending actions up to this
    # amount (minor units); larger ones need a look each.
    "BATCH_MAX_AMOUNT": env.int("BATCH_MAX_AMOUNT", default=50000),
    "BATCH_MAX_SIZE": env.int("BATCH_MAX_SIZE", default=100),
    # HTTP connectors, by action type: a JSON object, or the path of a file holding one (see the
    # README's "HTTP connector"). Empty: every action type runs its built-in sandbox executor.
    "CONNECTORS": env.str("COUNTERSIGN_CONNECTORS", default=""),
    # Callbacks to agents (see the README's "Callbacks"): signed with a key per agent derived from
    # this secret (empty: from SECRET_KEY); retried with capped exponential backoff and jitter.
    "CALLBACK_SIGNING_SECRET": env.str("CALLBACK_SIGNING_SECRET", default=""),
    "CALLBACK_TIMEOUT_SECONDS": env.float("CALLBACK_TIMEOUT_SECONDS", default=5.0),
    "CALLBACK_MAX_ATTEMPTS": env.int("CALLBACK_MAX_ATTEMPTS", default=8),
    "CALLBACK_BACKOFF_SECONDS": env.float("CALLBACK_BACKOFF_SECONDS", default=10.0),
    "CALLBACK_BACKOFF_MAX_SECONDS": env.float("CALLBACK_BACKOFF_MAX_SECONDS", default=600.0),
    # A pending delivery overdue by this much lost its task: the beat sweep enqueues it again.
    "CALLBACK_SWEEP_GRACE_SECONDS": env.float("CALLBACK_SWEEP_GRACE_SECONDS", default=60.0),
    # Unset: callbacks to loopback and private addresses are refused in production (PRODUCTION)
    # and allowed elsewhere (a laptop, the tests).
    "CALLBACK_ALLOW_PRIVATE_ADDRESSES": env.bool("CALLBACK_ALLOW_PRIVATE_ADDRESSES", default=None),
    # Notifications (see the README's "Notifications"): links in messages start with SITE_URL.
    # Webhooks are signed like callbacks (a key per subscription, derived from the same secret)
    # and go where callbacks may go; each delivery is retried with capped exponential backoff.
    "SITE_URL": env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/"),
    "NOTIFY_TIMEOUT_SECONDS": env.float("NOTIFY_TIMEOUT_SECONDS", default=5.0),
    "NOTIFY_MAX_ATTEMPTS": env.int("NOTIFY_MAX_ATTEMPTS", default=5),
    "NOTIFY_BACKOFF_SECONDS": env.float("NOTIFY_BACKOFF_SECONDS", default=10.0),
    "NOTIFY_BACKOFF_MAX_SECONDS": env.float("NOTIFY_BACKOFF_MAX_SECONDS", default=600.0),
    # A pending delivery overdue by this much lost its task: the beat sweep enqueues it again.
    "NOTIFY_SWEEP_GRACE_SECONDS": env.float("NOTIFY_SWEEP_GRACE_SECONDS", default=60.0),
    # Slack's signing secret (the app's Basic Information page); empty: the interactions
    # endpoint answers 404. Ephemeral replies go only to response URLs on these hosts.
    "SLACK_SIGNING_SECRET": env.str("SLACK_SIGNING_SECRET", default=""),
    "SLACK_RESPONSE_HOSTS": env.list("SLACK_RESPONSE_HOSTS", default=["hooks.slack.com"]),
}

# Email (notifications), through Django's mailers: SMTP when EMAIL_HOST is set or in production,
# else printed to the console (a laptop has no mail server to send to).
_EMAIL_HOST = env.str("EMAIL_HOST", default="")
_SMTP = "django.core.mail.backends.smtp.EmailBackend"
_EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default=_SMTP
    if _EMAIL_HOST or env.bool("PRODUCTION", default=False)
    else "django.core.mail.backends.console.EmailBackend",
)
MAILERS = {
    "default": {
        "BACKEND": _EMAIL_BACKEND,
        "OPTIONS": {
            "host": _EMAIL_HOST or "localhost",
            "port": env.int("EMAIL_PORT", default=25),
            "username": env.str("EMAIL_HOST_USER", default=""),
            "password": env.str("EMAIL_HOST_PASSWORD", default=""),
            "use_tls": env.bool("EMAIL_USE_TLS", default=False),
            "use_ssl": env.bool("EMAIL_USE_SSL", default=False),
            "timeout": env.float("EMAIL_TIMEOUT", default=10.0),
        }
        if _EMAIL_BACKEND == _SMTP
        else {},
    }
}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Countersign <countersign@localhost>")

SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Scripts, styles, images, fonts and connections from our own origin only: no inline script,
# style or handler anywhere (htmx is told not to inject its indicator styles, see base.html),
# and no page of ours may be framed.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# Logs (see the README's "Operating"): one JSON object per line (LOG_FORMAT=json, the default in
# production) or plain text (the default elsewhere, easier to read under `./run`); each record
# carries the id of the request it belongs to. REQUEST_LOG: one line per answered request.
LOG_FORMAT = env.str("LOG_FORMAT", default="json" if PRODUCTION else "text")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured("LOG_FORMAT is json or text.")
REQUEST_LOG = env.bool("REQUEST_LOG", default=True)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "config.logs.RequestIdFilter"},
        # No card number, email address or phone number reaches the logs (see config.redaction).
        "redact": {"()": "config.redaction.RedactingFilter"},
    },
    "formatters": {
        "json": {"()": "config.logs.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id", "redact"],
            "formatter": LOG_FORMAT,
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # django-axes tells of every sign-in at INFO; failures past the limit (lockouts) are warnings.
    "loggers": {"axes": {"level": env.str("AXES_LOG_LEVEL", default="WARNING")}},
}

# /metrics (see the README's "Operating"): readable with `Authorization: Bearer <METRICS_TOKEN>`
# (compared as hashes, in constant time) or from an address in METRICS_ALLOWED_NETWORKS (the
# client address as the trusted proxies saw it). Defaults: no token; the loopback addresses
# locally, no network in production, so a production /metrics without either answers 404.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = [
    spec
    for spec in env.list(
        "METRICS_ALLOWED_NETWORKS", default=[] if PRODUCTION else ["127.0.0.1/32", "::1/128"]
    )
    if spec.strip()
]
try:
    for _spec in METRICS_ALLOWED_NETWORKS:
        ipaddress.ip_network(_spec.strip(), strict=False)
except ValueError as _exc:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {_exc}") from None
