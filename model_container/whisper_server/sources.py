"""Turn an /invocations request into an audio file on local disk.

Raw audio bytes are streamed to a temporary file (never held in memory). A JSON request
points at the audio instead: an s3:// URI, a local path under an allowed folder, or the
older {"s3_bucket", "s3_key", "language", "job_id"} shape. The server reads only what the
operator allows (ALLOWED_S3_URIS, ALLOWED_INPUT_DIRS), checked before anything is looked up,
and its refusals read the same whether or not the object exists."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO
from urllib.parse import urlparse

from .errors import InputError, PayloadTooLarge, UnsupportedMediaType
from .options import TranscribeOptions, options_from_mapping
from .settings import Settings

log = logging.getLogger("whisper_server")
_CHUNK = 1024 * 1024
MAX_JSON_BYTES = 1024 * 1024
# Types that may carry audio. curl --data-binary sends form-urlencoded unless told
# otherwise, and many clients send nothing: both are taken as raw bytes.
_RAW_TYPES = ("", "application/octet-stream", "application/x-www-form-urlencoded",
              "application/ogg", "application/mp4", "application/x-matroska")
_LEGACY_OPTION_KEYS = ("language", "task")


@dataclass(frozen=True)
class AudioRequest:
    path: str
    options: TranscribeOptions
    job_id: str | None = None


@contextmanager
def audio_request(*, content_type: str, content_length: int | None, body: IO[bytes],
                  header_options: TranscribeOptions, settings: Settings) -> Iterator[AudioRequest]:
    """Yield the request's audio as a temporary local file; it is removed afterwards."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if content_length is not None and content_length > settings.max_body_bytes:
        raise _too_large(settings)
    with tempfile.TemporaryDirectory(prefix="whisper-") as folder:
        target = os.path.join(folder, "audio")
        if media_type == "application/json":
            document = _read_json(body)
            options, job_id = _json_options(document, header_options)
            _fetch(document, target, settings)
            yield AudioRequest(target, options, job_id)
        elif media_type in _RAW_TYPES or media_type.startswith(("audio/", "video/")):
            _stream_to_file(body, target, settings.max_body_bytes, settings)
            yield AudioRequest(target, header_options)
        else:
            raise UnsupportedMediaType(
                f"content type '{media_type}' is not taken: send the raw bytes of an audio or "
                "video file (audio/*, video/* or application/octet-stream) or a JSON request "
                "(application/json)", code="unsupported_media_type")


def _stream_to_file(source: IO[bytes], target: str, limit: int, settings: Settings) -> None:
    written = 0
    with open(target, "wb") as out:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > limit:
                raise _too_large(settings)
            out.write(chunk)


def _too_large(settings: Settings) -> PayloadTooLarge:
    return PayloadTooLarge(f"the file is larger than the limit of {_size(settings.max_body_bytes)}",
                           code="too_large")


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    value, unit = n / 1024, "KB"
    for larger in ("MB", "GB"):
        if value < 1024:
            break
        value, unit = value / 1024, larger
    return f"{value:.1f} {unit}"


def _read_json(body: IO[bytes]) -> dict:
    raw = body.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise PayloadTooLarge("a JSON request may be at most 1 MB: send audio as raw bytes",
                              code="too_large")
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"the request is not valid JSON ({exc})", code="bad_json") from None
    if not isinstance(document, dict):
        raise InputError("the JSON request must be an object", code="bad_json")
    return document


def _json_options(document: dict, header_options: TranscribeOptions) -> tuple[TranscribeOptions, str | None]:
    """Options from the JSON body win over the header's; the older shape put language and
    task at the top level."""
    nested = document.get("options") or {}
    if not isinstance(nested, dict):
        raise InputError("'options' must be an object", code="bad_option")
    merged = {k: v for k, v in header_options.to_dict().items()
              if v != getattr(TranscribeOptions(), k)}
    merged.update({k: document[k] for k in _LEGACY_OPTION_KEYS if k in document})
    merged.update(nested)
    job_id = document.get("job_id")
    return options_from_mapping(merged), (str(job_id) if job_id is not None else None)


def _fetch(document: dict, target: str, settings: Settings) -> None:
    if "s3_bucket" in document or "s3_key" in document:
        bucket, key = document.get("s3_bucket"), document.get("s3_key")
        if not bucket or not key:
            raise InputError("the request needs both s3_bucket and s3_key", code="bad_pointer")
        _fetch_s3(_s3_allowed(str(bucket), str(key), settings), target, settings)
        return
    pointer = document.get("audio")
    if not isinstance(pointer, str) or not pointer:
        raise InputError("the JSON request needs 'audio': an s3:// URI or a local path "
                         "(or the older s3_bucket and s3_key)", code="bad_pointer")
    if pointer.startswith("s3://"):
        parsed = urlparse(pointer)
        if not parsed.netloc or not parsed.path.strip("/"):
            raise InputError(f"'{pointer}' is not an s3://bucket/key URI", code="bad_pointer")
        _fetch_s3(_s3_allowed(parsed.netloc, parsed.path.lstrip("/"), settings), target, settings)
        return
    _fetch_local(pointer, target, settings)


def _fetch_local(pointer: str, target: str, settings: Settings) -> None:
    path = os.path.realpath(pointer.removeprefix("file://"))
    allowed = any(path.startswith(folder.rstrip(os.sep) + os.sep) for folder in settings.allowed_input_dirs)
    if not allowed:
        raise InputError("reading local files is not allowed for this path (the operator sets "
                         "ALLOWED_INPUT_DIRS)", code="path_not_allowed", status=403)
    if not os.path.isfile(path):
        raise InputError(f"no file at {pointer}", code="not_found")
    if os.path.getsize(path) > settings.max_body_bytes:
        raise _too_large(settings)
    shutil.copyfile(path, target)


def _s3_allowed(bucket: str, key: str, settings: Settings) -> tuple[str, str]:
    """(bucket, key) when ALLOWED_S3_URIS covers them; else 403, before any S3 call, so
    the answer is the same whether or not the object exists. A key with `.` or `..` or an
    empty segment is never inside a prefix: S3 keys are literal, but not every layer between
    here and S3 leaves such a path alone."""
    segments = key.split("/")
    plain = all(segment not in ("", ".", "..") for segment in segments)
    if plain and any(bucket == allowed_bucket and key.startswith(prefix)
                     for allowed_bucket, prefix in settings.allowed_s3):
        return bucket, key
    raise InputError(f"reading s3://{bucket}/{key} is not allowed: this server reads S3 only "
                     "under the buckets and prefixes its operator lists in ALLOWED_S3_URIS",
                     code="s3_not_allowed", status=403)


def _fetch_s3(location: tuple[str, str], target: str, settings: Settings) -> None:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = location
    client = boto3.client("s3", endpoint_url=os.environ.get("S3_ENDPOINT_URL") or None)
    uri = f"s3://{bucket}/{key}"
    try:
        head = client.head_object(Bucket=bucket, Key=key)
        if head["ContentLength"] > settings.max_body_bytes:
            raise _too_large(settings)
        client.download_file(bucket, key, target)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        # S3 itself answers 403 for a missing key to whoever may not list the bucket: a
        # missing object and one these credentials may not read get the same answer (the
        # log tells the operator which).
        if code in ("403", "404", "NoSuchKey", "NoSuchBucket", "AccessDenied", "Forbidden"):
            log.info("S3 said %s for %s", code, uri)
            raise InputError(f"the audio {uri} does not exist or this server may not read it",
                             code="not_found") from None
        raise InputError(f"could not read {uri}: {code or exc}", code="s3_error") from None
    except BotoCoreError as exc:
        raise InputError(f"could not read {uri}: {exc}", code="s3_error") from None
