"""What both backends say to the model server and how they read its errors: the job's
options as SageMaker custom attributes, and the person-readable message of a refusal."""

from __future__ import annotations

import json
import re

CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"
_ERROR_IN_TEXT = re.compile(r'"error":\s*"((?:[^"\\]|\\.)*)"')


def custom_attributes(options: dict) -> str:
    """The job's options as SageMaker's custom-attributes header (at most 1024 characters;
    `;` and `,` separate pairs, so they are removed from free text)."""
    parts = []
    for name in ("language", "task", "word_timestamps", "initial_prompt"):
        value = options.get(name)
        if value in (None, "", False) and name != "word_timestamps":
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        parts.append(f"{name}={text.replace(';', ' ').replace(',', ' ')}")
    return ";".join(parts)[:1024]


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
