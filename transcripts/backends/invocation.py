"""What both backends say to the model server and how they read its errors: the job's
options as SageMaker custom attributes, and the person-readable message of a refusal."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"
CUSTOM_ATTRIBUTES_MAX_CHARS = 1024  # SageMaker's limit, visible US-ASCII only
_ERROR_IN_TEXT = re.compile(r'"error":\s*"((?:[^"\\]|\\.)*)"')
_OPTIONS = ("language", "task", "word_timestamps", "initial_prompt", "diarize", "speakers",
            "min_speakers", "max_speakers", "channels_as_speakers")


def custom_attributes(options: dict[str, Any], *, job_id: str | None = None) -> str:
    """The job's options as SageMaker's custom-attributes header: `name=value` pairs joined
    by `;`, each value percent-encoded (UTF-8), so that names in any script, and `;` or `,`,
    travel intact through a header that only carries visible US-ASCII. The model server
    decodes them. A prompt too long for the header's 1024 characters is shortened, whole
    characters at a time. `job_id` (first) names the job whose progress the model server
    reports (contracts/container/progress)."""
    pairs = [("job_id", job_id)] if job_id else []
    for name in _OPTIONS:
        value = options.get(name)
        if value is None or value == "" or (value is False and name != "word_timestamps"):
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        pairs.append((name, text))
    fixed = sum(len(name) + 2 + len(_encode(text)) for name, text in pairs if name != "initial_prompt")
    parts = []
    for name, text in pairs:
        encoded = _encode(text)
        if name == "initial_prompt":
            encoded = _encoded_prefix(text, CUSTOM_ATTRIBUTES_MAX_CHARS - fixed - len(name) - 1)
            if not encoded:
                continue
        parts.append(f"{name}={encoded}")
    return ";".join(parts)


def _encode(text: str) -> str:
    return quote(text, safe="")


def _encoded_prefix(text: str, room: int) -> str:
    """The encoding of the longest start of `text` that fits in `room` characters."""
    encoded, used = [], 0
    for char in text:
        piece = _encode(char)
        if used + len(piece) > room:
            break
        encoded.append(piece)
        used += len(piece)
    return "".join(encoded)


def error_message(body: bytes | str | None, fallback: str) -> str:
    """The model server's `{"error": ...}` message from a response body, or from text that
    quotes one (SageMaker's failureReason does), else the fallback."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if body:
        try:
            message = json.loads(body).get("error")
            if message:
                return str(message)
        except (ValueError, AttributeError):
            pass
        found = _ERROR_IN_TEXT.search(body.replace('\\"', '"'))
        if found:
            return found.group(1)
    return fallback
