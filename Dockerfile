# Tipster in a container: `docker build -t tipster . && docker run -e TIPSTER_TELEGRAM__TOKEN=... tipster`
# The image carries the offline sentiment model (numpy only). For FinBERT, install the `ml` extra with a
# CPU build of torch pinned first, and mount the weights at /app/models/finbert.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY engine ./engine
COPY storage ./storage
COPY config.yaml ./
RUN pip install --no-cache-dir '.[live,charts]'
VOLUME ["/app/data", "/app/models"]
CMD ["tipster", "run"]
