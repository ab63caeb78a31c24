"""Speech detection as the audio is decoded: the same regions as Silero VAD over a whole
window, computed block by block on the reader's thread."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from faster_whisper.vad import VadOptions, get_speech_timestamps

from tests.conftest import ffmpeg
from whisper_server.audio import SAMPLE_RATE, decode_windows
from whisper_server.speech import BATCHED, FRAME, SEQUENTIAL, SpeechProbabilities, regions, speech_regions


@pytest.fixture(scope="module")
def talk(tmp_path_factory, report_wav, window_wav, shared_audio) -> np.ndarray:
    """About 40 s of speech with pauses of several lengths, as 16 kHz float32."""
    parts = [shared_audio("jfk.flac"), report_wav, shared_audio("librispeech-1272-128104-0000.wav"),
             window_wav]
    pieces = []
    for pause, path in zip((0.1, 0.3, 2.5, 0.8, 0.16, 3.0, 0.5, 0.2), parts * 2):
        raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-ac", "1",
                              "-ar", str(SAMPLE_RATE), "-f", "f32le", "-"], capture_output=True,
                             check=True).stdout
        pieces += [np.frombuffer(raw, dtype=np.float32), np.zeros(int(pause * SAMPLE_RATE), np.float32)]
    return np.concatenate(pieces)


def _library(samples: np.ndarray, vad: VadOptions) -> list[float]:
    """faster-whisper's own Silero VAD over the samples: start, end, start, end ... (s)."""
    return [s[key] / SAMPLE_RATE for s in get_speech_timestamps(samples, vad) for key in ("start", "end")]


def _flat(found: list[tuple[float, float]]) -> list[float]:
    return [bound for region in found for bound in region]


@pytest.mark.parametrize("vad", [SEQUENTIAL, BATCHED], ids=["sequential", "batched"])
def test_regions_match_silero_over_the_whole_audio(talk, vad):
    found = speech_regions(talk, vad)
    assert len(found) >= 2
    assert _flat(found) == pytest.approx(_library(talk, vad), abs=0.001)


def test_probabilities_fed_in_blocks_equal_one_pass(talk):
    whole = SpeechProbabilities()
    whole.feed(talk)
    blocks = SpeechProbabilities()
    for start in range(0, len(talk), 7777):  # not a multiple of the frame
        blocks.feed(talk[start:start + 7777])
    assert np.array_equal(whole._parts[0], np.concatenate(blocks._parts))


def test_a_windows_regions_are_the_recordings_regions_within_it(tmp_path, talk):
    """Windows at offsets that are not whole frames: away from its edges, each one's regions
    are those of Silero over the whole recording. (Near an edge a window cannot know that
    the speech before or after a pause at its edge belongs to one region.)"""
    edge = (BATCHED.min_silence_duration_ms + BATCHED.speech_pad_ms) / 1000
    path = tmp_path / "talk.flac"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "f32le", "-ar", str(SAMPLE_RATE),
                    "-ac", "1", "-i", "-", str(path)], input=talk.tobytes(), check=True)
    bounds = _library(talk, BATCHED)
    whole = list(zip(bounds[::2], bounds[1::2]))
    detector = SpeechProbabilities()
    compared = 0
    for window in decode_windows(str(path), window_seconds=8, max_seconds=600, on_decoded=detector.feed):
        length = len(window.samples) / SAMPLE_RATE
        inside = lambda regions, length=length: [bound for start, end in regions if start > edge and end < length - edge
                                  for bound in (start, end)]
        expected = inside((start - window.offset, end - window.offset) for start, end in whole)
        found = inside(detector.regions(window, BATCHED))
        assert found == pytest.approx(expected, abs=FRAME / SAMPLE_RATE + 0.001)
        compared += len(found)
    assert compared >= 4


def test_long_speech_is_split_where_it_is_least_speech_like_and_pads_meet_halfway():
    probabilities = np.full(3000, 0.9, dtype=np.float32)  # 96 s of speech
    probabilities[1000:1010] = 0.05  # with one pause of 320 ms
    probabilities[2000] = 0.3  # and one frame less sure than the others
    found = regions(probabilities, BATCHED, length=3000 * FRAME)
    assert found[0][0] == 0 and found[-1][1] == 3000 * FRAME
    assert all(end - start <= BATCHED.max_speech_duration_s * SAMPLE_RATE for start, end in found)
    for (_, end), (start, _) in zip(found, found[1:]):
        assert start == end  # no gap wider than the pads, so neighbours meet
    starts = {start // FRAME for start, _ in found}
    assert 1005 in starts  # halfway through the pause
    assert 2000 in starts  # the split of the long stretch after it
    assert regions(np.zeros(100, dtype=np.float32), SEQUENTIAL, length=100 * FRAME) == []


def test_a_failure_while_reading_ahead_is_raised_to_the_reader(tmp_path):
    path = tmp_path / "tone.flac"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000", "-t", "20", str(path))
    seen = []

    def breaks(samples):
        seen.append(len(samples))
        if sum(seen) > 8 * SAMPLE_RATE:
            raise RuntimeError("the detector failed")

    with pytest.raises(RuntimeError, match="the detector failed"):
        list(decode_windows(str(path), window_seconds=5, max_seconds=600, on_decoded=breaks))
