"""Long recordings: windows are stitched on one timeline, an hour-long file works."""

from __future__ import annotations

import dataclasses

import pytest

from tests.conftest import ffmpeg, words
from whisper_server.engines import load_engine
from whisper_server.options import TranscribeOptions
from whisper_server.settings import Settings
from whisper_server.transcriber import transcribe_file


@pytest.fixture(scope="module")
def engine_settings():
    settings = dataclasses.replace(Settings.from_env({}), cpu_threads=2)
    return load_engine(settings), settings


def _speech_with_pauses(parts, target, pauses: list[float]) -> None:
    """Concatenate speech files, each followed by its pause (seconds of silence)."""
    inputs, filters = [], []
    for i, (part, pause) in enumerate(zip(parts, pauses)):
        inputs += ["-i", str(part)]
        filters.append(f"[{i}:a]aformat=sample_rates=16000:channel_layouts=mono,"
                       f"apad=pad_dur={pause}[a{i}]")
    chain = "".join(f"[a{i}]" for i in range(len(parts)))
    ffmpeg(*inputs, "-filter_complex",
           ";".join(filters) + f";{chain}concat=n={len(parts)}:v=0:a=1[out]",
           "-map", "[out]", "-c:a", "libopus", "-b:a", "24k", str(target))


def test_sentences_across_window_boundaries_come_out_once_each_in_order(
        engine_settings, report_wav, window_wav, tmp_path):
    engine, settings = engine_settings
    settings = dataclasses.replace(settings, window_seconds=30)  # force several windows
    audio = tmp_path / "meeting.ogg"
    _speech_with_pauses([report_wav, window_wav] * 8, audio, [2.0] * 16)  # about 90 s
    result = transcribe_file(str(audio), TranscribeOptions(temperature=0.0), engine, settings)
    said = words(result["text"])
    assert said.count("friday") == 8 and said.count("window") == 8
    starts = [s["start"] for s in result["segments"]]
    assert starts == sorted(starts) and [s["id"] for s in result["segments"]] == list(range(len(starts)))
    assert result["segments"][-1]["end"] <= result["duration"] + 0.5
    assert result["duration"] > 80


def test_an_hour_long_recording_is_transcribed_on_one_timeline(engine_settings, report_wav,
                                                                window_wav, tmp_path):
    engine, settings = engine_settings
    hour = tmp_path / "hour.ogg"
    _speech_with_pauses([report_wav, window_wav], hour, [3595.0, 0.5])
    result = transcribe_file(str(hour), TranscribeOptions(temperature=0.0, word_timestamps=True),
                             engine, settings)
    assert 3599 < result["duration"] < 3605
    first, last = result["segments"][0], result["segments"][-1]
    assert {"report", "friday"} <= set(words(first["text"])) and first["start"] < 1
    assert "window" in words(last["text"])
    assert last["start"] == pytest.approx(3597.6, abs=2.0)
    assert 3599 < last["words"][-1]["end"] <= result["duration"] + 0.5
