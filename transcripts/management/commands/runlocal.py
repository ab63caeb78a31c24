"""`make run`: the whole system on one machine. Prepares the database, makes a first admin
account (its password is printed once), starts the model server on 127.0.0.1:8080 and the
web app with its dispatcher on 127.0.0.1:8000. Ctrl-C stops all of it."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import uvicorn
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

CONTAINER = Path(settings.BASE_DIR) / "model_container" / "serve"


SIGN_UP = {  # what SIGNUP_MODE lets others do
    "open": "Anyone can also sign up at /accounts/signup/ (SIGNUP_MODE=open).",
    "invite": "Others sign up at /accounts/signup/ with an invite code made in the admin "
              "(/admin/transcripts/invite/; SIGNUP_MODE=invite).",
    "closed": "Sign-up is closed (SIGNUP_MODE=closed): make accounts in the admin (/admin/auth/user/).",
}


class Command(BaseCommand):
    help = "Run the web app, the local dispatcher and the model server together."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("WEB_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("WEB_PORT", "8000")))
        parser.add_argument("--no-model-server", action="store_true",
                            help="the model server runs elsewhere (MODEL_CONTAINER_URL)")

    def handle(self, *args, host, port, no_model_server, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        self._first_admin()
        container = None if no_model_server else self._start_model_server()
        self.stdout.write(self.style.SUCCESS(f"Open http://{host}:{port}/ (Ctrl-C stops everything)"))
        try:
            uvicorn.run("webapp.asgi:application", host=host, port=port, lifespan="on",
                        log_level="info", ws_max_size=1024 * 1024)
        except KeyboardInterrupt:  # uvicorn hands Ctrl-C back once it has shut down
            pass
        finally:
            if container and container.poll() is None:
                container.send_signal(signal.SIGINT)  # gunicorn's quick shutdown
                try:
                    container.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    container.kill()

    def _first_admin(self) -> None:
        users = get_user_model()
        if users.objects.exists():
            self.stdout.write(f"Log in with your account. {SIGN_UP[settings.SIGNUP_MODE]}")
            return
        password = secrets.token_urlsafe(12)
        users.objects.create_superuser("admin", "", password)
        self.stdout.write(self.style.WARNING(
            f"First run: an admin account was made. Username: admin  Password: {password}\n"
            f"This password is shown only now. {SIGN_UP[settings.SIGNUP_MODE]}"))

    def _start_model_server(self) -> subprocess.Popen | None:
        url = urlparse(settings.MODEL_CONTAINER_URL)
        if url.hostname not in ("127.0.0.1", "localhost"):
            self.stdout.write(f"Using the model server at {settings.MODEL_CONTAINER_URL}.")
            return None
        # OMP_WAIT_POLICY=PASSIVE: CTranslate2's threads sleep instead of spinning between
        # steps, which on a shared machine leaves the CPU to the web app (a dedicated
        # SageMaker instance keeps the default).
        env = {"OMP_WAIT_POLICY": "PASSIVE", **os.environ, "PORT": str(url.port or 8080), "HOST": "127.0.0.1",
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        # Other programs on this machine could reach 127.0.0.1:8080 too: unless one is set,
        # a token made for this run, known to the model server and to the dispatcher in this
        # process. (Workers in a separate `manage.py work` need MODEL_SERVER_TOKEN set.)
        if settings.MODEL_SERVER_TOKEN is None and settings.WORKERS_IN_WEB:
            settings.MODEL_SERVER_TOKEN = secrets.token_urlsafe(32)
        if settings.MODEL_SERVER_TOKEN:
            env["MODEL_SERVER_TOKEN"] = settings.MODEL_SERVER_TOKEN
        self.stdout.write(f"Starting the model server on {settings.MODEL_CONTAINER_URL} "
                          "(jobs wait until its model is loaded).")
        # Transcription is batch work; pages are interactive. On one machine the model server
        # runs at a lower CPU priority so that the site stays quick while it is busy.
        niceness = int(os.environ.get("MODEL_SERVER_NICE", "10"))
        return subprocess.Popen([str(CONTAINER)], env=env, preexec_fn=lambda: os.nice(niceness))
