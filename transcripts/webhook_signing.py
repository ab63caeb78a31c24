"""How a webhook event is signed, as docs/webhooks.md tells receivers to check it."""

from __future__ import annotations

import hashlib
import hmac

USER_AGENT = "whisper-transcripts-webhooks/1"


def sign(secret: str, timestamp: int | str, body: str | bytes) -> str:
    """HMAC-SHA256 (hex) of "{timestamp}.{body}" with the webhook's secret."""
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    message = f"{timestamp}.{body}".encode()
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def request_headers(*, secret: str, event_id: str, event: str, timestamp: int, body: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Webhook-Id": event_id,
        "X-Webhook-Event": event,
        "X-Webhook-Timestamp": str(timestamp),
        "X-Webhook-Signature": f"sha256={sign(secret, timestamp, body)}",
    }
