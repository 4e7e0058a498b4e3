# The service's image: `hitl serve` by default; `hitl worker`, `hitl migrate` and the other
# commands by naming them. Built from the project's own wheels, made on the host first, so the
# build itself reaches no package index (see docs/deploy.md):
#
#   make image            # = pip wheel -w build/wheels . && docker build -t hitl .
#
# The wheels are for one Python version: PYTHON must be the one that built them (make passes it).
ARG PYTHON=3.11

FROM python:${PYTHON}-slim-bookworm AS build
COPY build/wheels /wheels
RUN python3 -m venv /opt/hitl \
    && /opt/hitl/bin/pip install --no-index --find-links /wheels --no-compile \
       --disable-pip-version-check --no-cache-dir hitl-langgraph \
    && /opt/hitl/bin/pip uninstall --yes --quiet --disable-pip-version-check pip setuptools \
    && /opt/hitl/bin/python -m compileall -q -j 0 /opt/hitl/lib

FROM python:${PYTHON}-slim-bookworm
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="hitl" \
      org.opencontainers.image.description="Human-in-the-loop orchestration for LangGraph: the service, its workers and commands" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --gid 10001 hitl \
    && useradd --uid 10001 --gid hitl --home-dir /app --no-create-home --no-log-init \
       --shell /usr/sbin/nologin hitl \
    && mkdir -p /app /data && chown hitl:hitl /app /data
COPY --from=build /opt/hitl /opt/hitl
# Graphs: the image's own examples (HITL_GRAPHS=graphs), or yours mounted under /app (on the
# import path) or added by a derived image; see docs/deploy.md.
ENV PATH=/opt/hitl/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HITL_HOST=0.0.0.0 \
    HITL_PORT=8000 \
    HITL_DATA_DIR=/data \
    HITL_LOG_FORMAT=json
WORKDIR /app
USER hitl
EXPOSE 8000
# Ready = Postgres and Redis answer and the schema is current (GET /readyz). A worker has no
# HTTP: Compose gives it `hitl worker --check` instead.
HEALTHCHECK --interval=15s --timeout=6s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('HITL_PORT', '8000')}/readyz\", timeout=5)"]
# SIGTERM (docker stop): the server finishes its requests, a worker its held runs, then exit.
STOPSIGNAL SIGTERM
CMD ["hitl", "serve"]
