# One image for every Countersign process; docker-compose.yml picks the command of each service
# (gunicorn web, uvicorn ws, celery worker and beat, migrate).
FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PATH=/opt/venv/bin:$PATH

RUN pip install --no-cache-dir uv \
    && groupadd --system countersign \
    && useradd --system --gid countersign --home-dir /app --no-create-home countersign

WORKDIR /app

# Dependencies first: this layer is rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock .python-version ./
RUN uv sync --frozen --no-dev --no-cache

COPY . .

# Static files are collected into the image (WhiteNoise serves them from var/staticfiles);
# var/beat holds Celery beat's schedule and var/audit-checkpoints the audit log's signed
# checkpoints, each on a volume in docker-compose.yml.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p var/beat var/audit-checkpoints \
    && chown -R countersign:countersign var

USER countersign
EXPOSE 8000 8001
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4", "--access-logfile", "-"]
