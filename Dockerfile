# Tipster in a container: `docker build -t tipster . && docker run -e TIPSTER_TELEGRAM__TOKEN=... tipster`
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# CPU-only torch first, pinned, so nothing pulls a CUDA build.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY engine ./engine
COPY storage ./storage
COPY config.yaml ./
RUN pip install --no-cache-dir '.[ml]'
VOLUME ["/app/data", "/app/models"]
CMD ["tipster", "run"]
