"""Decoding in windows: memory stays bounded and cuts fall in quiet places."""

import numpy as np
import pytest

from tests.conftest import ffmpeg
from whisper_server.audio import SAMPLE_RATE, _quiet_cut, decode_windows, probe
from whisper_server.errors import UnusableAudio


def test_windows_cover_the_whole_recording_exactly(tmp_path):
    path = tmp_path / "tone.flac"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000", "-t", "130", str(path))
    reader = decode_windows(str(path), window_seconds=30, max_seconds=600)
    windows = list(reader)
    assert 3 <= len(windows) <= 6  # cuts move up to 10 s earlier, to a quiet place
    assert windows[0].offset == 0.0
    for before, after in zip(windows, windows[1:]):
        assert after.offset == pytest.approx(before.offset + len(before.samples) / SAMPLE_RATE)
    assert sum(len(w.samples) for w in windows) == 130 * SAMPLE_RATE
    assert reader.duration == pytest.approx(130.0)
    assert all(len(w.samples) <= 30 * SAMPLE_RATE for w in windows[:-1])
    # No short remainder: the last window holds at least one window's worth, at most two
    # (plus the cut search's margin).
    assert 30 * SAMPLE_RATE <= len(windows[-1].samples) <= 70 * SAMPLE_RATE
    assert [w.last for w in windows] == [False] * (len(windows) - 1) + [True]
    assert all(w.samples.dtype == np.float32 for w in windows)
    assert reader.warnings == []


def test_a_recording_shorter_than_two_windows_is_one_window(tmp_path):
    """Cutting it would only make the engine decode the audio around the cut twice."""
    path = tmp_path / "tone.flac"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000", "-t", "55", str(path))
    windows = list(decode_windows(str(path), window_seconds=30, max_seconds=600))
    assert len(windows) == 1 and windows[0].last and len(windows[0].samples) == 55 * SAMPLE_RATE


def test_a_cut_lands_in_the_quietest_place_before_the_boundary():
    loud = (np.random.default_rng(0).standard_normal(40 * SAMPLE_RATE) * 8000).astype(np.int16)
    loud[24 * SAMPLE_RATE: 24 * SAMPLE_RATE + SAMPLE_RATE // 2] = 0  # a pause at 24 s
    cut = _quiet_cut(loud, 30 * SAMPLE_RATE)
    assert 24 * SAMPLE_RATE <= cut <= 24 * SAMPLE_RATE + SAMPLE_RATE // 2


def test_in_a_long_pause_the_cut_lands_at_its_end_so_windows_keep_their_size():
    """Cut at a long pause's start, a 30 s window would be 21 s long, too short for the
    transcriber to put back a 12 s tail."""
    audio = (np.random.default_rng(0).standard_normal(40 * SAMPLE_RATE) * 8000).astype(np.int16)
    audio[21 * SAMPLE_RATE: 27 * SAMPLE_RATE] = np.random.default_rng(1).integers(-1, 2, 6 * SAMPLE_RATE)
    cut = _quiet_cut(audio, 30 * SAMPLE_RATE)
    assert 26.5 * SAMPLE_RATE <= cut <= 27 * SAMPLE_RATE


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


def test_one_channel_of_a_stereo_recording_is_decoded_on_its_own(tmp_path):
    path = tmp_path / "call.wav"  # a tone on the left, silence on the right
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000", "-f", "lavfi", "-i",
           "anullsrc=r=16000:cl=mono", "-filter_complex", "[0:a][1:a]join=inputs=2:channel_layout=stereo",
           "-t", "3", str(path))
    assert probe(str(path), max_seconds=60).channels == 2
    left, right = (np.concatenate([w.samples for w in decode_windows(str(path), window_seconds=30,
                                                                     max_seconds=60, channel=c)])
                   for c in (0, 1))
    assert len(left) == len(right) == 3 * SAMPLE_RATE
    assert np.abs(left).max() > 0.1 and np.abs(right).max() == 0.0  # sine: amplitude 1/8
    mixed = np.concatenate([w.samples for w in decode_windows(str(path), window_seconds=30, max_seconds=60)])
    assert 0.0 < np.abs(mixed).max() < np.abs(left).max()
