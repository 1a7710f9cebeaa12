# syntax=docker/dockerfile:1
# The dashboard as a container: gunicorn on port 8000, static files served by WhiteNoise.
# Build with `docker build -t devin-dashboard .`; compose.yaml and docs/deploy.md show how to run it.
# The same image runs the background worker (`python manage.py db_worker --no-reload`) and the
# scheduler (`python manage.py sync_sessions --loop --interval 60`), each as its own container.

ARG PYTHON_VERSION=3.12

# --- builder: a virtualenv with the dependencies -------------------------------------------------
FROM python:${PYTHON_VERSION}-slim AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Only the dependencies, read from pyproject.toml (their one list), so this layer is rebuilt only
# when they change. The app itself runs from /app, not site-packages: templates/ and static/ live
# beside the dashboard package, where settings.BASE_DIR finds them.
COPY pyproject.toml ./
RUN python -m venv /opt/venv \
 && python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['postgres']))" > requirements.txt \
 && /opt/venv/bin/pip install -r requirements.txt

# --- runtime ------------------------------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    DASHBOARD_DATA_DIR=/data \
    GUNICORN_BIND=0.0.0.0:8000
RUN useradd --system --user-group --uid 10001 --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin dashboard \
 && install -d -o dashboard -g dashboard -m 0700 /data
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY manage.py gunicorn.conf.py ./
COPY dashboard ./dashboard
COPY templates ./templates
COPY static ./static
COPY docker ./docker
# The settings refuse to load without these two secrets, even for collectstatic. Throwaway values
# that live only in this step's shell: never in the image's environment, never used again.
RUN SECRET_KEY=collectstatic-only \
    DASHBOARD_CREDENTIAL_KEYS="build:$(python -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')" \
    DASHBOARD_DATA_DIR=/tmp/build-data \
    python manage.py collectstatic --noinput --verbosity 0 \
 && rm -rf /tmp/build-data

# The code and static files stay root-owned: the app can write only to /data (SQLite, if used).
USER dashboard
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "docker/healthcheck.py"]
ENTRYPOINT ["/bin/sh", "/app/docker/entrypoint.sh"]
CMD ["gunicorn", "-c", "gunicorn.conf.py", "dashboard.wsgi"]
