"""The model server as a real process on a free port, for the container's contract tests,
the dispatcher's tests and the browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

CONTAINER = Path(__file__).resolve().parents[1] / "model_container"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`serve` started as SageMaker would, on a free port."""

    def __init__(self, env: dict, log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        full_env = {**os.environ, "PORT": str(self.port), **env,
                    "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        self.log = open(log_path, "wb")
        self.process = subprocess.Popen([str(CONTAINER / "serve")], env=full_env,
                                        stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited: {self.log_path.read_text()[-2000:]}")
            try:
                if requests.get(self.url + "/ping", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"serve not ready: {self.log_path.read_text()[-2000:]}")

    def invoke(self, data, *, attributes: str | None = None, content_type="application/octet-stream",
               timeout: float = 300) -> requests.Response:
        headers = {"Content-Type": content_type}
        if attributes:
            headers["X-Amzn-SageMaker-Custom-Attributes"] = attributes
        if isinstance(data, Path):
            data = data.read_bytes()
        return requests.post(self.url + "/invocations", data=data, headers=headers, timeout=timeout)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def start_server(tmp_path_factory, **env) -> Server:
    folder = tmp_path_factory.mktemp("serve")
    defaults = {"WHISPER_CACHE_DIR": os.environ.get("WHISPER_CACHE_DIR", str(Path.home() / ".cache/whisper-server")),
                "WHISPER_CPU_THREADS": "2"}
    server = Server({**defaults, **env}, folder / "serve.log")
    server.wait_ready()
    return server


