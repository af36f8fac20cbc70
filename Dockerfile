# BotWatch: one image for web, worker and beat (docker-compose.yml picks the command).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# collectstatic needs settings to load; these placeholders exist only for this build step.
RUN SECRET_KEY=build-only BOTWATCH_SECRET_KEYS=build-only-key-0000 BOTWATCH_VAR_DIR=/tmp/var \
    python manage.py collectstatic --noinput -v0 \
    && useradd --system --uid 10001 --home-dir /app botwatch \
    && mkdir -p /app/var && chown botwatch /app/var

USER 10001
EXPOSE 8000
CMD ["gunicorn", "dashboard.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
