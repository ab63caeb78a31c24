"""Real processes on free ports, for the tests and the benchmarks: the model server as
SageMaker starts it (`model_container/serve`) and the web app as `make run` starts it
(`manage.py runlocal`)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
CONTAINER = REPO / "model_container"
# Settings that would point a web app under test at something outside its own folder.
NOT_INHERITED = ("DATABASE_URL", "REDIS_URL", "SQLITE_PATH", "MEDIA_ROOT", "DJANGO_ENV",
                 "DJANGO_DEBUG", "DJANGO_SECRET_KEY", "DJANGO_SETTINGS_MODULE", "ALLOWED_HOSTS",
                 "CSRF_TRUSTED_ORIGINS")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ManagedProcess:
    """A child process with its output in a log file, ready once `ready_path` answers 200."""

    ready_path = "/"

    def __init__(self, command: list[str], env: dict, log_path: Path, port: int):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.log = open(log_path, "wb")
        # A session of its own, so that kill() takes the whole process group (gunicorn's
        # workers, the model server under runlocal) and leaves no orphan holding the port.
        self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.log_path.name}: exited ({self.process.returncode}):\n"
                                   f"{self.log_tail()}")
            try:
                if requests.get(self.url + self.ready_path, timeout=5).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):  # not up yet, or busy starting
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.log_path.name}: not ready in {timeout:.0f} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL to the whole group: no clean-up, as when the OOM killer strikes."""
        self._signal_group(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.log.close()

    def stop(self) -> None:
        self._signal_group(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.log.close()

    def _signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass


class Server(ManagedProcess):
    """The model server, `serve` started as SageMaker would."""

    ready_path = "/ping"

    def __init__(self, env: dict, log_path: Path, port: int | None = None):
        port = port or free_port()
        full_env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", **env,
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        super().__init__([str(CONTAINER / "serve")], full_env, log_path, port)

    def invoke(self, data, *, attributes: str | None = None, content_type="application/octet-stream",
               timeout: float = 300) -> requests.Response:
        headers = {"Content-Type": content_type}
        if attributes:
            headers["X-Amzn-SageMaker-Custom-Attributes"] = attributes
        if isinstance(data, Path):
            data = data.read_bytes()
        return requests.post(self.url + "/invocations", data=data, headers=headers, timeout=timeout)


class WebApp(ManagedProcess):
    """`manage.py runlocal` on a free port, with its own database and media under `var_dir`,
    sending jobs to `model_url`; with `own_model_server` it starts the model server there
    itself, exactly as `make run` does."""

    ready_path = "/accounts/login/"

    def __init__(self, var_dir: Path, model_url: str, port: int | None = None,
                 own_model_server: bool = False, **env):
        port = port or free_port()
        full_env = {key: value for key, value in os.environ.items() if key not in NOT_INHERITED}
        full_env.update(VAR_DIR=str(var_dir), MODEL_CONTAINER_URL=model_url, PYTHONUNBUFFERED="1",
                        **env)
        command = [sys.executable, "manage.py", "runlocal", "--host", "127.0.0.1", "--port", str(port)]
        if not own_model_server:
            command.append("--no-model-server")
        super().__init__(command, full_env, var_dir / f"runlocal-{port}.log", port)


def start_server(folder: Path, port: int | None = None, **env) -> Server:
    """Start the model server, logging into `folder`, and wait until its model is loaded."""
    defaults = {"WHISPER_CACHE_DIR": os.environ.get("WHISPER_CACHE_DIR",
                                                    str(Path.home() / ".cache/whisper-server")),
                "WHISPER_CPU_THREADS": "2"}
    server = Server({**defaults, **env}, folder / f"serve-{port or 'any'}.log", port=port)
    server.wait_ready()
    return server


def start_web_app(var_dir: Path, model_url: str, port: int | None = None,
                  own_model_server: bool = False, **env) -> WebApp:
    app = WebApp(var_dir, model_url, port=port, own_model_server=own_model_server, **env)
    app.wait_ready(timeout=90)
    return app
