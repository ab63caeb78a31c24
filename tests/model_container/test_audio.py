"""Decoding in windows: memory stays bounded and cuts fall in quiet places."""

import numpy as np
import pytest

from tests.conftest import ffmpeg
from whisper_server.audio import SAMPLE_RATE, _quiet_cut, decode_windows, probe
from whisper_server.errors import UnusableAudio


def test_windows_cover_the_whole_recording_exactly(tmp_path):
    path = tmp_path / "tone.flac"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000", "-t", "95", str(path))
    reader = decode_windows(str(path), window_seconds=30, max_seconds=600)
    windows = list(reader)
    assert 3 <= len(windows) <= 5  # cuts move up to 10 s earlier, to a quiet place
    assert windows[0].offset == 0.0
    for before, after in zip(windows, windows[1:]):
        assert after.offset == pytest.approx(before.offset + len(before.samples) / SAMPLE_RATE)
    assert sum(len(w.samples) for w in windows) == 95 * SAMPLE_RATE
    assert reader.duration == pytest.approx(95.0)
    assert max(len(w.samples) for w in windows) <= 40 * SAMPLE_RATE  # window + search margin
    assert all(w.samples.dtype == np.float32 for w in windows)
    assert reader.warnings == []


def test_a_cut_lands_in_the_quietest_place_before_the_boundary():
    loud = (np.random.default_rng(0).standard_normal(40 * SAMPLE_RATE) * 8000).astype(np.int16)
    loud[24 * SAMPLE_RATE: 24 * SAMPLE_RATE + SAMPLE_RATE // 2] = 0  # a pause at 24 s
    cut = _quiet_cut(loud, 30 * SAMPLE_RATE)
    assert 24 * SAMPLE_RATE <= cut <= 24 * SAMPLE_RATE + SAMPLE_RATE // 2


def test_decoding_enforces_the_limit_even_when_the_header_hides_the_length(tmp_path):
    path = tmp_path / "long.wav"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "50", str(path))
    data = bytearray(path.read_bytes())
    # A streaming WAV: the data size is "unknown", so only decoding finds the real length.
    data[data.index(b"data") + 4: data.index(b"data") + 8] = b"\xff\xff\xff\xff"
    path.write_bytes(bytes(data))
    with pytest.raises(UnusableAudio, match="longer than the limit of 40 seconds"):
        list(decode_windows(str(path), window_seconds=30, max_seconds=40))


def test_probe_reports_what_the_container_claims(tmp_path):
    path = tmp_path / "a.ogg"
    ffmpeg("-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "3", "-c:a", "libopus", str(path))
    info = probe(str(path), max_seconds=60)
    assert info.audio_codec == "opus" and info.duration == pytest.approx(3.0, abs=0.1)
