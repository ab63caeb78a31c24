"""Reading an object that is already in S3 (`manage.py transcribe --s3-uri`), whichever
backend runs the jobs; boto3 stays inside this package."""

from __future__ import annotations

from typing import IO
from urllib.parse import urlparse

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings


def download_s3_object(uri: str, target: IO[bytes]) -> str:
    """Stream s3://bucket/key into the open binary file `target`; returns the key's base name."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.strip("/"):
        raise ValueError(f"'{uri}' is not an s3://bucket/key URI")
    key = parsed.path.lstrip("/")
    try:
        boto3.client("s3", region_name=settings.AWS_REGION).download_fileobj(parsed.netloc, key, target)
    except (ClientError, BotoCoreError) as exc:
        raise ValueError(f"could not read {uri}: {exc}") from None
    return key.rsplit("/", 1)[-1]
