# The understudy server: `understudy serve` of a run folder behind API keys, from the wheel with the serve extra.
#   docker build -t understudy-serve .
#   docker run --rm -v understudy-keys:/keys understudy-serve understudy api-keys create website
#   docker run -d -p 8000:8000 -v "$PWD/runs/reviews:/model" -v understudy-keys:/keys understudy-serve
# A static (or onnx) student needs nothing more; a transformer student or a language model needs torch and
# transformers: build on this image with pip install "understudy[serve,transformer]" (torch's CPU build first).
# scripts/check_dockerfile.py builds and runs this where a docker engine answers, else runs its pip and CMD steps.

# 1. The wheel, built from the sources alone (.dockerignore keeps the context to what is copied here).
FROM python:3.11-slim AS builder
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src/ src/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

# 2. The server: the wheel with the serve extra at the lock's versions (requirements.txt as constraints).
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin understudy \
    && mkdir -p /model /keys && chown understudy:understudy /model /keys
COPY requirements.txt /install/requirements.txt
COPY --from=builder /dist/ /install/
RUN pip install -c /install/requirements.txt "$(ls /install/understudy-*.whl)[serve]"
USER understudy
# The key file: `understudy api-keys create NAME` in this image writes it to the /keys volume.
ENV UNDERSTUDY_KEYS=/keys/keys.sqlite
# /model: a run folder (its review queue is written there when it has an oversight policy); /keys: the key file.
VOLUME ["/model", "/keys"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"]
CMD ["understudy", "serve", "/model", "--host", "0.0.0.0", "--port", "8000", "--keys", "/keys/keys.sqlite"]
