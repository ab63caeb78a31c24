"""Errors a caller can act on: each becomes a 4xx JSON response with a readable message."""

from __future__ import annotations


class InputError(Exception):
    """The request or its audio cannot be transcribed; the message is for a person."""

    status = 400

    def __init__(self, message: str, *, code: str = "bad_request", status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        if status is not None:
            self.status = status

    def to_dict(self) -> dict:
        return {"error": self.message, "code": self.code}


class PayloadTooLarge(InputError):
    status = 413


class UnsupportedMediaType(InputError):
    status = 415


class UnusableAudio(InputError):
    """The bytes arrived but hold no audio we can transcribe."""

    status = 422
