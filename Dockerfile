# Comptoir: CPU-only image, non-root, model and search index built into the image.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    COMPTOIR_DATA_DIR=/data \
    COMPTOIR_NLU_MODEL_DIR=/opt/comptoir/models/nlu \
    COMPTOIR_KB_INDEX_DIR=/opt/comptoir/index \
    COMPTOIR_KB_CONTENT_DIR=/opt/comptoir/content \
    COMPTOIR_ADMIN_HOST=0.0.0.0 \
    COMPTOIR_ADMIN_PORT=8080 \
    COMPTOIR_WEBHOOK_LISTEN=0.0.0.0

RUN useradd --create-home --uid 10001 comptoir \
    && mkdir -p /data /opt/comptoir \
    && chown comptoir:comptoir /data /opt/comptoir

WORKDIR /opt/comptoir/src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY nlu ./nlu
COPY knowledge_base ./knowledge_base
RUN pip install ".[postgres]"
# The content the back office edits: a writable copy (mount a git checkout of
# knowledge_base/content here to keep browser edits, and commit them from there).
COPY --chown=comptoir:comptoir knowledge_base/content /opt/comptoir/content

USER comptoir
# Train the default intent model and build the search index now, so a container answers
# at once (both are rebuilt by themselves if the content or the encoder change).
RUN comptoir nlu train --data /opt/comptoir/src/nlu/data/train --out /opt/comptoir/models/nlu \
    && comptoir kb reindex

VOLUME ["/data"]
# 8080: the back office; 8443: the Telegram webhook, /healthz and /metrics of a bot in webhook
# mode (deploy/compose.yaml runs several behind a TLS proxy).
EXPOSE 8080 8443
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["comptoir", "check", "--quiet"]
CMD ["comptoir", "run"]
