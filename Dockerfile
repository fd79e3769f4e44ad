# syntax=docker/dockerfile:1
# Two stages: wheels are built in the first, the slim runtime gets only the installed result.
FROM python:3.11-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /build
COPY requirements.txt constraints.txt ./
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install -r requirements.txt -c constraints.txt

FROM python:3.11-slim
LABEL org.opencontainers.image.title="wegent-django" \
      org.opencontainers.image.description="Wegent on Django: a self-hostable backend for AI agent teams"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    WEGENT_DATA_DIR=/data \
    WEGENT_STATIC_ROOT=/app/staticfiles \
    HOST=0.0.0.0 \
    PORT=8000
RUN groupadd --system wegent && useradd --system --gid wegent --home /app wegent \
    && mkdir -p /data && chown wegent:wegent /data
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY --chown=wegent:wegent . /app
# Static files are collected at build time with a throwaway key (never used at run time).
RUN WEGENT_SECRET_KEY=build-only-not-secret WEGENT_DATA_DIR=/tmp/build-data \
    python manage.py collectstatic --noinput -v 0 && rm -rf /tmp/build-data
USER wegent
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "scripts/healthcheck.py"]
ENTRYPOINT ["scripts/docker-entrypoint.sh"]
CMD ["python", "manage.py", "serve"]
