"""Gateways to where transcription happens. TRANSCRIBE_BACKEND picks one here, and nowhere
else. A gateway (gateway.py) takes a job and says where its outcome will appear (a Receipt),
reports capacity, and names the background workers it needs; it imports nothing from
services. Only this package imports boto3."""

from __future__ import annotations

from functools import cache

from django.conf import settings

from .aws import AwsGateway
from .gateway import Gateway, JobRequest, Receipt, SubmitFailed
from .local import LocalGateway

__all__ = ["Gateway", "JobRequest", "Receipt", "SubmitFailed", "get_backend"]
_GATEWAYS: dict[str, type[Gateway]] = {"local": LocalGateway, "aws": AwsGateway}


@cache
def _backend(name: str) -> Gateway:
    if name not in _GATEWAYS:
        raise ValueError(f"unknown TRANSCRIBE_BACKEND {name!r}")
    return _GATEWAYS[name]()


def get_backend() -> Gateway:
    return _backend(settings.TRANSCRIBE_BACKEND)
