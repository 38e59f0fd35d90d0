# Tipster in a container. `docker compose up -d` (docker-compose.yml) runs it with Redis; alone:
#   docker build -t tipster . && docker run -e TIPSTER_TELEGRAM__TOKEN=... -v tipster-data:/app/data tipster
# The image carries the offline sentiment model (numpy only) and the `live` extra (ccxt, Alpaca, feeds, Redis).
# For FinBERT, install the `ml` extra with a CPU build of torch pinned first, and mount the weights at
# /app/models/finbert (sentiment.finbert_path is models/finbert, relative to the working directory /app).
# Stage 1 builds Tipster's wheel; only the wheel reaches the image (no sources, no build leftovers).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY engine ./engine
COPY storage ./storage
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

COPY --from=build /wheels /wheels
# The `live` extra is what `tipster run` uses beyond the base install: ccxt and Alpaca (live market data and
# brokers), feedparser (news feeds) and redis (storage.redis_url, the compose file's cache).
RUN pip install "$(echo /wheels/tipster-*.whl)[live]" \
    && rm -rf /wheels \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin tipster \
    && mkdir -p /app/data /app/models /config \
    && chown tipster:tipster /app/data /app/models

# The bundled config; mount your own over it (docker-compose.yml does). Secrets come from the environment
# (TIPSTER_TELEGRAM__TOKEN, TIPSTER_DISCORD__TOKEN, TIPSTER_SECRET_KEY …), never from this file.
COPY config.yaml /config/config.yaml
ENV TIPSTER_CONFIG=/config/config.yaml

# Not root: the bot can write only its database and logs (/app/data) and the model folder; /config is read.
USER tipster
VOLUME ["/app/data", "/app/models", "/config"]

# `tipster health` prints one line per part; it fails (exit 1) only when storage or the config does.
HEALTHCHECK --interval=60s --timeout=20s --start-period=60s --retries=3 CMD ["tipster", "health"]
# SIGTERM (docker stop) shuts the bot down gracefully within 10 s.
STOPSIGNAL SIGTERM
CMD ["tipster", "run"]
