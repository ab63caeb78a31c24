"""The model server's /invocations over HTTP, as the local dispatcher calls it: the same
request SageMaker makes (raw bytes, options as custom attributes), and its answers sorted
into what the dispatcher acts on. With a progress callback the answer is the stream of
contracts/container/progress (NDJSON: progress reports, then the result or the error)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import IO, Any, NoReturn

import requests
from urllib3.exceptions import NewConnectionError

from ..progress import BadReport, ProgressReport
from .invocation import CUSTOM_ATTRIBUTES_HEADER, custom_attributes, error_message

log = logging.getLogger(__name__)
CONNECT_TIMEOUT_SECONDS = 5
NDJSON = "application/x-ndjson"


class Unreachable(Exception):
    """The request never reached the model server (down or restarting): not the job's fault."""


class Unauthorized(Unreachable):
    """401: the model server wants a token (MODEL_SERVER_TOKEN) that we did not send or that
    does not match. The operator's to fix, not the job's fault: jobs wait, as when it is down."""


class Interrupted(Exception):
    """The model server took the request and then broke the connection or hung."""


class Refused(Exception):
    """A 4xx: the model server will not transcribe this input; the message is for a person."""


class ServerError(Exception):
    """A 5xx: the model server failed on this request; another try may work."""


class ModelServer:
    def __init__(self, url: str, *, timeout_seconds: float, token: str | None = None):
        self.url = url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self.session = requests.Session()  # one keep-alive connection across jobs
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def invoke(self, audio: IO[bytes], options: dict[str, Any],
               on_progress: Callable[[ProgressReport], None] | None = None) -> dict[str, Any]:
        """The model's result for the audio; raises one of the exceptions above. With
        `on_progress`, the model server's progress reports are handed to it as they come;
        a report that is malformed, or that the callback fails on, is logged and skipped."""
        headers = {"Content-Type": "application/octet-stream",
                   CUSTOM_ATTRIBUTES_HEADER: custom_attributes(options)}
        if on_progress is not None:
            headers["Accept"] = NDJSON
        started = time.monotonic()
        try:
            response = self.session.post(
                f"{self.url}/invocations", data=audio, headers=headers, stream=True,
                timeout=(CONNECT_TIMEOUT_SECONDS, self.timeout_seconds))
        except requests.RequestException as exc:
            if _never_reached(exc):
                raise Unreachable(f"the model server is unreachable ({type(exc).__name__})") from exc
            raise _interrupted(exc) from exc
        with response:
            try:
                if on_progress is not None and response.status_code == 200 and \
                        response.headers.get("Content-Type", "").startswith(NDJSON):
                    return self._read_stream(response, on_progress, deadline=started + self.timeout_seconds)
                body = response.content
            except requests.RequestException as exc:
                raise _interrupted(exc) from exc
        if response.status_code == 200:
            try:
                result: dict[str, Any] = json.loads(body)
            except ValueError as exc:
                raise Interrupted("the model server's answer was cut short (not whole JSON)") from exc
            return result
        _raise_for(response.status_code, error_message(body, f"HTTP {response.status_code} from the model server"))

    def _read_stream(self, response: requests.Response, on_progress: Callable[[ProgressReport], None],
                     *, deadline: float) -> dict[str, Any]:
        """Progress reports until the result (returned) or the error (raised)."""
        for line in response.iter_lines():
            if time.monotonic() > deadline:
                raise Interrupted(f"the model server took longer than {self.timeout_seconds:.0f} s")
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError:
                log.warning("model server: a line of its answer is not JSON: %.200r", line)
                continue
            kind = event.get("event") if isinstance(event, dict) else None
            if kind == "result" and isinstance(event.get("result"), dict):
                result: dict[str, Any] = event["result"]
                return result
            if kind == "error":
                status = event.get("status")
                _raise_for(status if isinstance(status, int) else 500,
                           str(event.get("error") or f"HTTP {status} from the model server"))
            if kind == "progress":
                _hand_over(event, on_progress)
        raise Interrupted("the model server's answer ended before its result")


def _hand_over(event: dict[str, Any], on_progress: Callable[[ProgressReport], None]) -> None:
    """Progress is a courtesy: transcription goes on whatever becomes of a report."""
    try:
        report = ProgressReport.from_event(event)
    except BadReport as exc:
        log.warning("model server: progress report skipped: %s", exc)
        return
    try:
        on_progress(report)
    except Exception:
        log.exception("progress report not recorded")


def _raise_for(status: int, message: str) -> NoReturn:
    if status == 401:
        raise Unauthorized(f"the model server refused the dispatcher: {message}")
    if 400 <= status < 500:
        raise Refused(message)
    raise ServerError(f"the model server failed: {message}")


def _interrupted(exc: requests.RequestException) -> Interrupted:
    return Interrupted(f"the model server stopped while transcribing ({type(exc).__name__})")


def _never_reached(exc: requests.RequestException) -> bool:
    """True when the request never got to the model server (connection refused, or no
    connection in time), as opposed to a connection that broke while it worked."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:  # requests wraps urllib3's MaxRetryError, whose .reason is the real error
        cause = todo.pop()
        if cause is None or id(cause) in seen:
            continue
        seen.add(id(cause))
        if isinstance(cause, NewConnectionError):
            return True
        todo += [cause.__cause__, cause.__context__, getattr(cause, "reason", None),
                 *(a for a in cause.args if isinstance(a, BaseException))]
    return False
