"""OpenAI's streaming transcription events, as server-sent events: `transcript.text.delta`
with the text added since the last one, then `transcript.text.done` with the whole text.
No database here: the API view feeds it what a running job has settled so far."""

from __future__ import annotations

import json
from typing import Any

MEDIA_TYPE = "text/event-stream"
KEEP_ALIVE = b": still transcribing\n\n"  # an SSE comment: clients ignore it, proxies see traffic


def event(data: dict[str, Any]) -> bytes:
    """One server-sent event, as OpenAI sends them: a `data:` line holding the JSON."""
    return b"data: " + json.dumps(data, ensure_ascii=False).encode() + b"\n\n"


class TextStream:
    """What of a job's text a client has been sent. Deltas only ever add text: a stream
    cannot take back what it sent, so it follows settled segments only (the partial
    transcript before the model server's latest `segments_from`, which no later report
    changes), and the done event's text is the finished transcript's, which is what counts."""

    def __init__(self) -> None:
        self.sent = ""

    def delta(self, text: str) -> bytes | None:
        """The delta event for `text` (everything settled so far), or None when it adds nothing
        to what was sent or does not continue it."""
        if len(text) <= len(self.sent) or not text.startswith(self.sent):
            return None
        added = text[len(self.sent):]
        self.sent = text
        return event({"type": "transcript.text.delta", "delta": added})

    def done(self, text: str, *, duration: float | None) -> list[bytes]:
        """The last delta (when the finished text continues what was sent) and the done event."""
        events = [e for e in [self.delta(text)] if e is not None]
        done: dict[str, Any] = {"type": "transcript.text.done", "text": text}
        if duration is not None:
            done["usage"] = {"type": "duration", "seconds": round(duration)}
        return events + [event(done)]


def error(message: str, code: str) -> bytes:
    """A failure after the stream began: its status is already 200, so it is an event."""
    return event({"type": "error", "error": {"message": message, "type": "server_error", "code": code}})
