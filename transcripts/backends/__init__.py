"""Backends: where a submitted job goes. TRANSCRIBE_BACKEND picks one; nothing else in the
code branches on it."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings


@lru_cache(maxsize=None)
def _backend(name: str):
    if name == "local":
        from .local import LocalBackend
        return LocalBackend()
    raise ValueError(f"unknown TRANSCRIBE_BACKEND {name!r}")


def get_backend():
    return _backend(settings.TRANSCRIBE_BACKEND)
