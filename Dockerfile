# One image for the webhook, the recommender, the updater and the cert Job (see manifests/).
#   docker build -t ghcr.io/tidal-dev/tidal:0.1.0 .
# The builder installs Tidal into a virtualenv; the final image copies only that virtualenv
# onto the same slim base: no compilers, no pip, no build caches, a non-root numeric user.
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/tidal
COPY pyproject.toml README.md ./
COPY recommender ./recommender
COPY webhook ./webhook
COPY certs ./certs
COPY updater ./updater
RUN /opt/tidal/bin/pip install . \
 && /opt/tidal/bin/pip uninstall -y pip setuptools wheel

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="tidal" \
      org.opencontainers.image.description="Kubernetes resource right-sizer: VPA-compatible recommender and admission webhook" \
      org.opencontainers.image.licenses="Apache-2.0"
# The base's own pip is not needed at run time either.
RUN python -m pip uninstall -y pip setuptools wheel >/dev/null 2>&1 || true \
 && groupadd --system --gid 65532 tidal \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin tidal
COPY --from=build /opt/tidal /opt/tidal
ENV PATH=/opt/tidal/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /tmp
USER 65532:65532
EXPOSE 8443 8080
# The manifests choose the program: tidal-webhook, tidal-recommender, tidal-updater, tidal-certs.
CMD ["tidal-webhook", "--help"]
