"""The container's tests import whisper_server from model_container/, as the image does,
and talk to a real server process over HTTP."""

from __future__ import annotations

import sys

import pytest

from devtools.servers import CONTAINER, free_port, start_server

sys.path.insert(0, str(CONTAINER))


@pytest.fixture(scope="session")
def s3():
    """S3 played by moto's server, which the container process reaches over HTTP."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    moto.start()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "S3_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    import boto3
    client = boto3.client("s3", endpoint_url=env["S3_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_bucket(Bucket="audio-in")
    yield client, env
    moto.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory, s3):
    """The default container: faster-whisper, tiny.en, small limits so they can be tested."""
    allowed = tmp_path_factory.mktemp("allowed")
    s = start_server(tmp_path_factory.mktemp("serve"), MAX_BODY_BYTES=str(20 * 1024 * 1024), MAX_AUDIO_SECONDS="600",
                     ALLOWED_INPUT_DIRS=str(allowed), ALLOWED_S3_URIS="audio-in", GUNICORN_THREADS="6",
                     **s3[1])
    s.allowed_dir = allowed
    yield s
    s.stop()
