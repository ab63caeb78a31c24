"""Loading the model: a failure is reported by /ping, not hidden; the model SageMaker
unpacks into /opt/ml/model, and the one the image build put in the models folder."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from whisper_server.app import create_app
from whisper_server.models import ModelNotFound, resolve_model, tiny_en_path
from whisper_server.settings import Settings


def test_a_model_that_fails_to_load_is_reported_by_ping_and_invocations():
    def broken_loader(settings):
        raise RuntimeError("model.bin is truncated")

    client = create_app(Settings(), loader=broken_loader).test_client()
    ping = client.get("/ping")
    assert ping.status_code == 500 and "model.bin is truncated" in ping.json["error"]
    assert client.post("/invocations", data=b"x").status_code == 500


# ----------------------------------------------- the model as SageMaker unpacks it
# With ModelDataUrl, SageMaker downloads model.tar.gz and unpacks it into /opt/ml/model
# before the container starts; SM_MODEL_DIR points the server at a folder laid out so.

SENTENCE = "Please send the report to John by Friday."


def model_tar(*, folder: str = "") -> bytes:
    """model.tar.gz as a person makes it: `tar czf model.tar.gz -C MODEL .` (folder ''),
    or `tar czf model.tar.gz MODEL` (the files inside one folder)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for item in tiny_en_path().iterdir():
            tar.add(item, arcname=f"{folder}/{item.name}" if folder else item.name)
    return buffer.getvalue()


def unpack_like_sagemaker(data: bytes, root: Path) -> Path:
    target = root / "opt" / "ml" / "model"
    target.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(target, filter="data")
    return target


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory) -> Path:
    wav = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "175", "-w", str(wav), SENTENCE],
                   check=True)
    return wav


@pytest.mark.parametrize("folder", ["", "whisper-finetuned"])
def test_the_server_transcribes_with_the_model_sagemaker_unpacked(tmp_path, speech_wav, folder):
    model_dir = unpack_like_sagemaker(model_tar(folder=folder), tmp_path)
    # As the stack starts it: WHISPER_MODEL is the deployment's label for its own model.
    settings = Settings.from_env({"SM_MODEL_DIR": str(model_dir), "WHISPER_MODEL": "acme-legal",
                                  "WHISPER_CACHE_DIR": str(tmp_path / "cache")})
    client = create_app(settings).test_client()
    assert client.get("/ping").status_code == 200
    answer = client.post("/invocations", data=speech_wav.read_bytes(),
                         headers={"Content-Type": "audio/wav",
                                  "X-Amzn-SageMaker-Custom-Attributes": "temperature=0"})
    assert answer.status_code == 200, answer.json
    words = answer.json["text"].lower()
    assert "report" in words and "friday" in words
    assert answer.json["model"]["model"] == "acme-legal"


def test_model_data_without_a_model_fails_ping_with_what_it_found(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("pytorch_model.bin")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"junk"))
    model_dir = unpack_like_sagemaker(buffer.getvalue(), tmp_path)
    settings = Settings.from_env({"SM_MODEL_DIR": str(model_dir)})
    ping = create_app(settings).test_client().get("/ping")
    assert ping.status_code == 500
    assert "holds no CTranslate2 Whisper model" in ping.json["error"]
    assert "pytorch_model.bin" in ping.json["error"]


def test_an_empty_model_folder_means_no_model_data(tmp_path):
    (tmp_path / "model").mkdir()
    location = resolve_model(None, cache_dir=str(tmp_path), sagemaker_dir=str(tmp_path / "model"))
    assert location.name == "tiny.en"


def test_a_model_the_image_build_put_in_the_models_folder_is_found_by_name(tmp_path):
    baked = tmp_path / "whisper-models" / "large-v3"
    baked.mkdir(parents=True)
    for item in tiny_en_path().iterdir():  # stands in for the large model's files
        (baked / item.name).symlink_to(item)
    location = resolve_model("large-v3", cache_dir=str(tmp_path / "cache"),
                             models_dir=str(baked.parent), sagemaker_dir=str(tmp_path / "none"))
    assert (location.name, location.path) == ("large-v3", baked)
    with pytest.raises(ModelNotFound, match=r"whisper-models \(large-v3;"):
        resolve_model("medium", cache_dir=str(tmp_path / "cache"),
                      models_dir=str(baked.parent), sagemaker_dir=str(tmp_path / "none"))
