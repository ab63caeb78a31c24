"""Loading the model: a failure is reported by /ping, not hidden."""

from __future__ import annotations

from whisper_server.app import create_app
from whisper_server.settings import Settings


def test_a_model_that_fails_to_load_is_reported_by_ping_and_invocations():
    def broken_loader(settings):
        raise RuntimeError("model.bin is truncated")

    client = create_app(Settings(), loader=broken_loader).test_client()
    ping = client.get("/ping")
    assert ping.status_code == 500 and "model.bin is truncated" in ping.json["error"]
    assert client.post("/invocations", data=b"x").status_code == 500
