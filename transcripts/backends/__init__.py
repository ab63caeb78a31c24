"""Backends: where a submitted job goes. TRANSCRIBE_BACKEND picks one; nothing else in the
code branches on it. Each backend has the same three methods:

- submit(job): called once the job is committed;
- step() -> bool: one unit of background work (take a job, or collect outcomes); True if
  it did something;
- run(): the background loop, started with the web server or by `manage.py dispatch`.
"""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings


@lru_cache(maxsize=None)
def _backend(name: str):
    if name == "local":
        from .local import LocalBackend
        return LocalBackend()
    if name == "aws":
        from .aws import AwsBackend
        return AwsBackend()
    raise ValueError(f"unknown TRANSCRIBE_BACKEND {name!r}")


def get_backend():
    return _backend(settings.TRANSCRIBE_BACKEND)
