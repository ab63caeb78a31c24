"""The speaker encoder: resemblyzer's packaged weights, read without torch and run with numpy,
give the embeddings the original network gives, and tell voices apart."""

from __future__ import annotations

import pickle
import subprocess

import numpy as np
import pytest

from tests.conftest import speak
from whisper_server.voice_encoder import (
    EMBEDDING_SIZE,
    PARTIAL_FRAMES,
    VoiceEncoder,
    load_encoder,
    mel_filters,
    read_legacy_checkpoint,
    weights_path,
)


def samples(path) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-ac", "1", "-ar",
                          "16000", "-f", "f32le", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype=np.float32)


@pytest.fixture(scope="module")
def voices(tmp_path_factory):
    folder = tmp_path_factory.mktemp("voices")
    made = {}
    for name, voice in (("low", "en-us"), ("high", "en-us+f3")):
        made[name] = [samples(speak(text, folder / f"{name}{n}.wav", voice=voice))
                      for n, text in enumerate(["Please send the report to John by Friday.",
                                                "Open the file, save your changes and close the window."])]
    return made


def test_the_weights_come_from_the_installed_wheel():
    state = read_legacy_checkpoint(weights_path().read_bytes())["model_state"]
    assert state["lstm.weight_ih_l0"].shape == (1024, 40)
    assert state["lstm.weight_hh_l2"].shape == (1024, 256)
    assert state["linear.weight"].shape == (EMBEDDING_SIZE, EMBEDDING_SIZE)
    assert all(v.dtype == np.float32 for v in state.values())


class RunsCode:
    def __reduce__(self):
        return (subprocess.run, (["touch", "/tmp/voice-encoder-ran-code"],))


def test_a_checkpoint_that_would_run_code_is_refused():
    header = b"".join(pickle.dumps(x, protocol=2) for x in (0x1950A86A20F9469CFC6C, 1001,
                                                            {"little_endian": True}))
    evil = pickle.dumps(RunsCode(), protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        read_legacy_checkpoint(header + evil)


def test_the_mel_filters_cover_the_band_once():
    filters = mel_filters()
    assert filters.shape == (40, 201)
    assert (filters >= 0).all() and (filters.sum(axis=1) > 0).all()


def test_numpy_gives_what_the_original_network_gives(voices):
    torch = pytest.importorskip("torch")
    state = torch.load(str(weights_path()), map_location="cpu", weights_only=False)["model_state"]
    lstm = torch.nn.LSTM(40, 256, 3, batch_first=True)
    linear = torch.nn.Linear(256, 256)
    lstm.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("lstm.")})
    linear.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("linear.")})
    encoder = load_encoder()
    mel = encoder.mel(voices["low"][0])
    mels = np.stack([mel[i:i + PARTIAL_FRAMES] for i in (0, 40, 80)])
    with torch.no_grad():
        _, (hidden, _) = lstm(torch.from_numpy(mels))
        expected = torch.relu(linear(hidden[-1]))
        expected = (expected / expected.norm(dim=1, keepdim=True)).numpy()
    assert np.abs(encoder.forward(mels) - expected).max() < 1e-4


def test_two_voices_are_told_apart(voices):
    encoder = load_encoder()
    low = encoder.embed(voices["low"])
    high = encoder.embed(voices["high"])
    assert np.allclose(np.linalg.norm(low, axis=1), 1.0, atol=1e-5)
    same = [float(low[0] @ low[1]), float(high[0] @ high[1])]
    other = [float(a @ b) for a in low for b in high]
    assert min(same) > max(other) + 0.05, (same, other)


def test_a_batch_gives_what_one_piece_at_a_time_gives(voices):
    encoder = load_encoder()
    pieces = voices["low"] + voices["high"] + [voices["low"][0][:8000]]  # 0.5 s: padded
    batch = encoder.embed(pieces)
    alone = np.stack([encoder.embed([piece])[0] for piece in pieces])
    assert np.abs(batch - alone).max() < 1e-4


def test_nothing_to_embed():
    assert VoiceEncoder.load().embed([]).shape == (0, EMBEDDING_SIZE)
