# The web app and its background workers (one image, two commands), for ECS Fargate
# (infra/web.py) or any container host. Build context: the repository root (.dockerignore
# there is an allow-list):  docker build -f deploy/web.Dockerfile -t transcribe-web .
FROM python:3.11-slim-bookworm

# ffprobe checks every upload for an audio stream before it is queued.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_ENV=production \
    VAR_DIR=/app/var \
    WORKERS_IN_WEB=false

WORKDIR /app
COPY requirements/web.txt requirements/web.txt
RUN pip install -r requirements/web.txt

COPY manage.py ./
COPY webapp webapp
COPY transcripts transcripts
COPY templates templates
COPY contracts contracts
COPY deploy/container_env.py deploy/container_env.py

# Static files are collected into the image and served by WhiteNoise (compressed); the key
# here only lets settings load during the build and is in no running container.
RUN useradd --system --uid 10001 --home-dir /app app \
 && DJANGO_SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
 && mkdir -p /app/var/media && chown -R app:app /app/var && chmod 700 /app/var

USER app
EXPOSE 8000
ENTRYPOINT ["python", "/app/deploy/container_env.py"]
# The web service; the workers service runs `python manage.py work` with the same image.
CMD ["uvicorn", "webapp.asgi:application", "--host", "0.0.0.0", "--port", "8000", \
     "--ws", "websockets", "--timeout-graceful-shutdown", "20"]
