"""The model server's /invocations over HTTP, as the local dispatcher calls it: the same
request SageMaker makes (raw bytes, options as custom attributes), and its answers sorted
into what the dispatcher acts on."""

from __future__ import annotations

from typing import IO, Any

import requests
from urllib3.exceptions import NewConnectionError

from .invocation import CUSTOM_ATTRIBUTES_HEADER, custom_attributes, error_message

CONNECT_TIMEOUT_SECONDS = 5


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

    def invoke(self, audio: IO[bytes], options: dict[str, Any]) -> dict[str, Any]:
        """The model's result for the audio; raises one of the exceptions above."""
        try:
            response = self.session.post(
                f"{self.url}/invocations", data=audio,
                headers={"Content-Type": "application/octet-stream",
                         CUSTOM_ATTRIBUTES_HEADER: custom_attributes(options)},
                timeout=(CONNECT_TIMEOUT_SECONDS, self.timeout_seconds))
        except requests.RequestException as exc:
            if _never_reached(exc):
                raise Unreachable(f"the model server is unreachable ({type(exc).__name__})") from exc
            raise Interrupted(f"the model server stopped while transcribing ({type(exc).__name__})") from exc
        message = error_message(response.content, f"HTTP {response.status_code} from the model server")
        if response.status_code == 200:
            result: dict[str, Any] = response.json()
            return result
        if response.status_code == 401:
            raise Unauthorized(f"the model server refused the dispatcher: {message}")
        if 400 <= response.status_code < 500:
            raise Refused(message)
        raise ServerError(f"the model server failed: {message}")


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
