# syntax=docker/dockerfile:1
# One image for every smartfarm process: `docker run smartfarm:latest gateway|controller|api|sim|up`.
# Needs BuildKit (the default builder since Docker Engine 23 and in `docker compose`);
# with an older engine set DOCKER_BUILDKIT=1 (and COMPOSE_DOCKER_CLI_BUILD=1 for docker-compose 1.x).

ARG PYTHON_IMAGE=python:3.11-slim

# ---- builder: wheels of smartfarm and of every dependency --------------------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Only what the wheel is built from (pyproject's readme is README.md).
COPY pyproject.toml README.md ./
COPY smartfarm/ smartfarm/
COPY gateway/ gateway/
COPY controller/ controller/
COPY api/ api/
COPY firmware_sim/ firmware_sim/
RUN pip wheel --wheel-dir /wheels .

# ---- final: the wheels installed, no compiler, no sources, not root ---------------------
FROM ${PYTHON_IMAGE}
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SMARTFARM_FARM_FILE=/app/examples/farm.yaml \
    SMARTFARM_VAR_DIR=/app/var \
    SMARTFARM_HOST=0.0.0.0 \
    SMARTFARM_PORT=8080

RUN groupadd --system --gid 10001 smartfarm \
 && useradd --system --uid 10001 --gid smartfarm --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin smartfarm

# The wheels are bind-mounted from the builder, so they never become a layer of this image.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels smartfarm

WORKDIR /app
# The demo farm; mount your own file and set SMARTFARM_FARM_FILE for a real farm.
COPY examples/ /app/examples/
# Owned by the service user before VOLUME, so a fresh named volume inherits the owner.
RUN mkdir -p /app/var && chown smartfarm:smartfarm /app/var

USER smartfarm:smartfarm
VOLUME /app/var
EXPOSE 8080
ENTRYPOINT ["smartfarm"]
CMD ["--help"]
