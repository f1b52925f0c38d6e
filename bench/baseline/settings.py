"""Settings of the bare baseline: DRF, PostgreSQL with the pool options of Countersign's web."""

import os

SECRET_KEY = "bench-baseline-not-secret"  # a throwaway bench project on 127.0.0.1
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["rest_framework"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "baseline.urls"
USE_TZ = True
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ["BASELINE_DB_NAME"],
        "HOST": os.environ.get("BASELINE_DB_HOST", "127.0.0.1"),
        "PORT": os.environ.get("BASELINE_DB_PORT", "5432"),
        "USER": os.environ.get("BASELINE_DB_USER", "postgres"),
        "OPTIONS": {
            # As docker-compose gives Countersign's sync workers: one request at a time each.
            "pool": {
                "min_size": int(os.environ.get("DB_POOL_MIN_SIZE", "1")),
                "max_size": int(os.environ.get("DB_POOL_MAX_SIZE", "2")),
            }
        },
    }
}
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
}
