"""gunicorn settings for `serve`. One worker holds one model; its threads keep /ping
answering while a long transcription runs. Each knob is an environment variable."""

import os

from whisper_server.settings import bind_address

# 127.0.0.1 unless HOST says otherwise; the image sets HOST=0.0.0.0 for SageMaker.
bind = bind_address()
workers = 1
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
# A one-hour recording must never be cut off by the worker timeout.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "3700"))
# On SIGTERM (scale-in, redeploy) finish the transcriptions in flight before exiting.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "3600"))
keepalive = 75  # longer than SageMaker's idle connection reuse
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
