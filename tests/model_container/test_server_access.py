"""Who may reach the model server, and what it reads for them, outside SageMaker: it listens
on 127.0.0.1 unless told otherwise, reads S3 only inside ALLOWED_S3_URIS (refusing the same
way whether or not an object exists), and with MODEL_SERVER_TOKEN set takes /invocations
only from a caller that sends the token."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from devtools.servers import CONTAINER, ManagedProcess, Server, free_port, start_server
from tests.conftest import words

REPORT_WORDS = {"report", "john", "friday"}
TOKEN = "a-test-token-0123456789"
# Settings of the test process that would decide the answer for the server under test.
ACCESS_SETTINGS = ("HOST", "PORT", "SAGEMAKER_BIND_TO_PORT", "ALLOWED_S3_URIS", "MODEL_SERVER_TOKEN")


def clean_env(**env: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ACCESS_SETTINGS}
    return {**base, "PYTHONPATH": str(CONTAINER), **env}


def error(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def pointer(uri: str) -> str:
    return json.dumps({"audio": uri})


# ---------------------------------------------------------------- where it listens

def gunicorn_bind(**env: str) -> str:
    """gunicorn's `bind`, read from gunicorn_conf as `serve` loads it, in a clean environment."""
    code = "from whisper_server import gunicorn_conf; print(gunicorn_conf.bind)"
    done = subprocess.run([sys.executable, "-c", code], env=clean_env(**env), capture_output=True,
                          text=True, check=True)
    return done.stdout.strip()


def test_serve_listens_on_loopback_unless_host_or_sagemaker_says_otherwise():
    assert gunicorn_bind() == "127.0.0.1:8080"
    assert gunicorn_bind(PORT="9000") == "127.0.0.1:9000"
    assert gunicorn_bind(HOST="0.0.0.0") == "0.0.0.0:8080"  # what the image sets
    assert gunicorn_bind(SAGEMAKER_BIND_TO_PORT="9090") == "0.0.0.0:9090"
    assert gunicorn_bind(SAGEMAKER_BIND_TO_PORT="9090", HOST="127.0.0.1") == "127.0.0.1:9090"


def test_the_image_sets_host_for_sagemaker():
    dockerfile = (CONTAINER / "Dockerfile").read_text()
    assert "HOST=0.0.0.0" in dockerfile


class BareServer(Server):
    """`serve` with none of the access settings: no HOST, no allow-list, no token."""

    def __init__(self, env: dict, log_path: Path, port: int):
        ManagedProcess.__init__(self, [str(CONTAINER / "serve")], env, log_path, port)


def other_local_addresses() -> list[str]:
    """Addresses of this machine other than 127.0.0.1: 127.0.0.2 (on Linux the whole of
    127/8 is this machine, but a socket bound to 127.0.0.1 does not answer there) and the
    address of the default route, when there is one."""
    found = ["127.0.0.2"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))  # UDP: nothing is sent
            address = probe.getsockname()[0]
        except OSError:
            address = None
    if address and not address.startswith("127."):
        found.append(address)
    return found


@pytest.fixture(scope="module")
def bare_server(tmp_path_factory, s3):
    folder = tmp_path_factory.mktemp("bare")
    port = free_port()
    env = clean_env(PORT=str(port), WHISPER_CPU_THREADS="2",
                    PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                    WHISPER_CACHE_DIR=os.environ.get("WHISPER_CACHE_DIR",
                                                     str(Path.home() / ".cache/whisper-server")),
                    **s3[1])
    server = BareServer(env, folder / "serve.log", port)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def test_serve_without_host_answers_only_on_loopback(bare_server):
    assert requests.get(f"http://127.0.0.1:{bare_server.port}/ping", timeout=5).status_code == 200
    for address in other_local_addresses():
        with socket.socket() as s:
            s.settimeout(2)
            assert s.connect_ex((address, bare_server.port)) != 0, f"{address} was accepted"


# ---------------------------------------------------------------- which S3 objects it reads

def test_s3_pointers_are_refused_when_no_allow_list_is_set(bare_server, s3, report_wav):
    client, _ = s3
    client.put_object(Bucket="audio-in", Key="bare/report.wav", Body=report_wav.read_bytes())
    for body in (pointer("s3://audio-in/bare/report.wav"),
                 json.dumps({"s3_bucket": "audio-in", "s3_key": "bare/report.wav"})):
        refusal = error(bare_server.invoke(body, content_type="application/json"), 403)
        assert refusal["code"] == "s3_not_allowed" and "ALLOWED_S3_URIS" in refusal["error"]


@pytest.fixture(scope="module")
def guarded(tmp_path_factory, s3, report_wav):
    """A server that may read audio-in/allowed/ only, and wants a token."""
    client, env = s3
    client.create_bucket(Bucket="private")
    client.put_object(Bucket="private", Key="secret.wav", Body=report_wav.read_bytes())
    for key in ("allowed/report.wav", "outside/report.wav", "allowed-not/report.wav",
                "secret.wav"):
        client.put_object(Bucket="audio-in", Key=key, Body=report_wav.read_bytes())
    server = start_server(tmp_path_factory.mktemp("guarded"), ALLOWED_S3_URIS="s3://audio-in/allowed",
                          MODEL_SERVER_TOKEN=TOKEN, **env)
    yield server
    server.stop()


def invoke(server: Server, body: str, token: str | None = TOKEN, scheme: str = "Bearer"):
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"{scheme} {token}"
    return requests.post(server.url + "/invocations", data=body, headers=headers, timeout=300)


@pytest.mark.parametrize("uri", [
    "s3://private/secret.wav",  # another bucket, the object exists
    "s3://private/nothing.wav",  # another bucket, no such object
    "s3://no-such-bucket-here/x.wav",  # no such bucket
    "s3://audio-in/outside/report.wav",  # the bucket, outside the prefix
    "s3://audio-in/secret.wav",
    "s3://audio-in/allowed-not/report.wav",  # a prefix is a folder, not the start of a name
    "s3://audio-in/allowed/../secret.wav",  # no way out of the prefix
    "s3://audio-in/allowed//report.wav",
])
def test_outside_the_allow_list_is_403_the_same_whether_or_not_the_object_exists(guarded, uri):
    for body in (pointer(uri), json.dumps({"s3_bucket": uri[5:].split("/", 1)[0],
                                            "s3_key": uri[5:].split("/", 1)[1]})):
        refusal = error(invoke(guarded, body), 403)
        assert refusal == {"code": "s3_not_allowed", "error": (
            f"reading {uri} is not allowed: this server reads S3 only under the buckets and "
            "prefixes its operator lists in ALLOWED_S3_URIS")}


def test_inside_the_allow_list_the_audio_is_read_and_a_missing_one_is_400(guarded):
    result = invoke(guarded, json.dumps({"s3_bucket": "audio-in", "s3_key": "allowed/report.wav"}))
    assert result.status_code == 200, result.text
    assert REPORT_WORDS <= set(words(result.json()["text"]))
    missing = error(invoke(guarded, pointer("s3://audio-in/allowed/none.wav")), 400)
    assert missing == {"code": "not_found", "error": "the audio s3://audio-in/allowed/none.wav "
                                                     "does not exist or this server may not read it"}


def test_a_forbidden_object_reads_like_a_missing_one(monkeypatch, tmp_path):
    """Inside the allow-list, an object these credentials may not read is not told apart
    from one that is not there (S3 itself answers 403 for both to whoever may not list)."""
    import boto3
    from botocore.exceptions import ClientError

    from whisper_server import sources
    from whisper_server.errors import InputError
    from whisper_server.settings import Settings

    class Refusing:
        def __init__(self, code: str):
            self.code = code

        def head_object(self, **kwargs):
            raise ClientError({"Error": {"Code": self.code, "Message": "no"}}, "HeadObject")

    messages = set()
    for code in ("AccessDenied", "403", "NoSuchKey", "404", "NoSuchBucket"):
        monkeypatch.setattr(boto3, "client", lambda *a, _code=code, **k: Refusing(_code))
        with pytest.raises(InputError) as refused:
            sources._fetch_s3(("audio-in", "allowed/x.wav"), str(tmp_path / "audio"), Settings())
        messages.add((refused.value.status, refused.value.code, refused.value.message))
    assert len(messages) == 1, messages


def test_allow_list_setting_is_parsed_and_a_bad_entry_stops_the_server():
    from whisper_server.settings import Settings, SettingsError

    parsed = Settings.from_env({"ALLOWED_S3_URIS": "audio-in, s3://b.example/in,c-1/x/y/"})
    assert parsed.allowed_s3 == (("audio-in", ""), ("b.example", "in/"), ("c-1", "x/y/"))
    assert Settings.from_env({}).allowed_s3 == ()
    with pytest.raises(SettingsError, match="ALLOWED_S3_URIS"):
        Settings.from_env({"ALLOWED_S3_URIS": "/just/a/prefix"})
    assert TOKEN not in repr(Settings.from_env({"MODEL_SERVER_TOKEN": TOKEN}))


# ---------------------------------------------------------------- the shared secret

def test_invocations_need_the_token_and_ping_does_not(guarded, report_wav):
    assert requests.get(guarded.url + "/ping", timeout=5).status_code == 200
    audio = report_wav.read_bytes()
    for headers in ({}, {"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": "Bearer "}, {"X-Model-Server-Token": TOKEN}):
        response = requests.post(guarded.url + "/invocations", data=audio, timeout=60,
                                 headers={"Content-Type": "application/octet-stream", **headers})
        refusal = error(response, 401)
        assert refusal["code"] == "unauthorized" and "MODEL_SERVER_TOKEN" in refusal["error"]
        assert response.headers["WWW-Authenticate"] == "Bearer"
    response = requests.post(guarded.url + "/invocations", data=audio, timeout=300,
                             headers={"Content-Type": "application/octet-stream",
                                      "Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    assert REPORT_WORDS <= set(words(response.json()["text"]))
