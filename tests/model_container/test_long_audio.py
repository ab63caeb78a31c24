"""Long recordings: windows are stitched on one timeline, an hour-long file works."""

from __future__ import annotations

import dataclasses

import pytest

from tests.conftest import ffmpeg, words
from whisper_server.engines import load_engine
from whisper_server.engines.base import Segment
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


def _segment(start, end, text="x") -> Segment:
    return Segment(id=0, start=start, end=end, text=text, avg_logprob=0, no_speech_prob=0,
                   compression_ratio=1)


def test_sentences_across_window_boundaries_come_out_once_each_in_order(
        engine_settings, report_wav, window_wav, tmp_path):
    engine, settings = engine_settings
    settings = dataclasses.replace(settings, window_seconds=15)  # force several windows
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


def test_batched_decoding_keeps_every_sentence_in_order_on_one_timeline(
        engine_settings, report_wav, window_wav, tmp_path):
    """Batches built from the transcriber's own speech regions, over several windows:
    nothing dropped or repeated, times on the recording's timeline."""
    engine, settings = engine_settings
    settings = dataclasses.replace(settings, window_seconds=30)  # a batch of 2 widens it to 75 s
    audio = tmp_path / "meeting.ogg"
    # About 175 s: a window is cut only while 2 x 75 s + 10 s are still pending.
    _speech_with_pauses([report_wav, window_wav] * 17, audio, [2.0] * 34)
    result = transcribe_file(str(audio), TranscribeOptions(temperature=0.0, batch_size=2),
                             engine, settings)
    assert result["options"]["batch_size"] == 2
    said = words(result["text"])
    assert said.count("friday") == 17 and said.count("window") == 17
    starts = [s["start"] for s in result["segments"]]
    assert starts == sorted(starts) and starts[-1] > result["duration"] - 12  # the last sentence
    assert result["segments"][-1]["end"] <= result["duration"] + 0.5


def test_batch_clips_join_speech_up_to_the_clip_length_and_never_cut_it_off():
    from whisper_server.engines.base import BATCH_CHUNK_SECONDS
    from whisper_server.engines.faster import clips

    assert BATCH_CHUNK_SECONDS == 30
    speech = [(0.0, 5.0), (5.5, 20.0), (21.0, 30.0), (31.0, 32.0), (40.0, 105.0)]  # clips of 30 s
    assert clips(speech) == [{"start": 0.0, "end": 30.0}, {"start": 31.0, "end": 32.0},
                             {"start": 40.0, "end": 70.0}, {"start": 70.0, "end": 100.0},
                             {"start": 100.0, "end": 105.0}]
    assert clips([]) == []


def test_a_batched_clip_is_split_into_sentences_and_at_long_pauses():
    from whisper_server.engines.base import Segment, Word
    from whisper_server.engines.faster import sentences

    said = [(" Open", 0.0, 0.4), (" the", 0.4, 0.6), (" file.", 0.6, 1.0), (" Then", 1.2, 1.5),
            (" wait", 1.5, 1.8), (" and", 3.0, 3.2), (" go?", 3.2, 3.6)]
    words = [Word(word=w, start=s, end=e, probability=0.9) for w, s, e in said]
    clip = Segment(id=0, start=0.0, end=30.0, text="".join(w for w, _, _ in said), avg_logprob=-0.2,
                   no_speech_prob=0.01, compression_ratio=1.1, words=words)
    pieces = sentences(clip)
    assert [p.text for p in pieces] == [" Open the file.", " Then wait", " and go?"]
    assert [(p.start, p.end) for p in pieces] == [(0.0, 1.0), (1.2, 1.8), (3.0, 3.6)]
    assert all(p.avg_logprob == -0.2 for p in pieces)
    unsplit = Segment(id=0, start=0.0, end=2.0, text=" Hi", avg_logprob=-0.1, no_speech_prob=0.0,
                      compression_ratio=1.0, words=None)
    assert sentences(unsplit) == [unsplit]


def test_a_windows_tail_is_held_back_for_the_next_window():
    """Sentences near a window's end (and audio after its last sentence) are decoded again
    at the start of the next window, with what follows them."""
    import numpy as np

    from whisper_server.audio import SAMPLE_RATE, Window
    from whisper_server.transcriber import _hold_back

    window = Window(offset=100.0, samples=np.zeros(60 * SAMPLE_RATE, dtype=np.float32))
    kept, tail = _hold_back(window, [_segment(0, 20), _segment(20, 50), _segment(50, 57), _segment(57, 60)])
    assert [s.start for s in kept] == [0, 20] and tail == 10
    kept, tail = _hold_back(window, [_segment(0, 40), _segment(40, 48)])  # nothing heard after 48 s
    assert len(kept) == 2 and tail == 12
    kept, tail = _hold_back(window, [_segment(0, 10), _segment(10, 58)])  # one long stretch: kept,
    assert len(kept) == 2 and tail == 2  # and what follows it goes on
    assert _hold_back(window, []) == ([], 0)
    # A late segment that ends a sentence begun in the segment before: from its start.
    kept, tail = _hold_back(window, [_segment(0, 20, " A."), _segment(35, 45, " And so my"),
                                     _segment(45, 57, " fellow Americans.")])
    assert [s.start for s in kept] == [0] and tail == 25


def test_speech_that_no_segment_covers_is_found():
    from whisper_server.transcriber import _unheard_stretches

    speech = [(0.2, 9.8), (10.6, 15.0), (16.0, 30.0), (31.0, 39.0)]
    found = [_segment(0.0, 10.0), _segment(22.0, 30.5), _segment(31.0, 33.0)]
    # 10.6-15 and 16-22 are speech with no text; so is 33-39, but only up to 36 s counts.
    assert _unheard_stretches(found, speech, 36.0) == [(10.0, 22.0), (33.0, 36.0)]
    assert _unheard_stretches(found, speech, 34.0) == [(10.0, 22.0)]  # 1 s: too little to redo
    assert _unheard_stretches([], [(3.0, 4.0)], 10.0) == []
    assert _unheard_stretches([], [(3.0, 8.0)], 10.0) == [(0.0, 10.0)]


def test_speech_whisper_left_out_is_decoded_again_on_its_own():
    """Whisper sometimes stops before a recording's last sentence or skips one: where the
    VAD hears speech that no segment covers, that stretch is transcribed once more."""
    import numpy as np

    from whisper_server.audio import SAMPLE_RATE, Window
    from whisper_server.engines.base import EngineResult
    from whisper_server.options import TranscribeOptions
    from whisper_server.transcriber import _with_unheard_speech

    class Listener:  # hears one sentence in whatever it is given
        def __init__(self):
            self.given = []

        def transcribe(self, audio, options, *, language, batch_size, speech, stop_after=None):
            self.given.append((len(audio) / SAMPLE_RATE, batch_size, speech))
            return EngineResult(language="en", language_probability=1.0,
                                segments=[_segment(0.5, 4.0, " The lost words.")])

    window = Window(offset=600.0, samples=np.zeros(30 * SAMPLE_RATE, dtype=np.float32), last=True)
    engine, options = Listener(), TranscribeOptions()
    heard = [_segment(0.0, 10.0, " Most of it."), _segment(22.0, 26.0, " The end.")]
    speech = [(0.2, 9.8), (10.6, 15.0), (22.0, 26.0)]
    kept = _with_unheard_speech(window, heard, speech, speech, 30.0, engine, options, "en")
    [(seconds, batch_size, given_speech)] = engine.given
    assert seconds == 12.0 and batch_size == 0 and given_speech == [pytest.approx((0.6, 5.0))]
    assert [(s.start, s.end, s.text) for s in kept] == [
        (0.0, 10.0, " Most of it."), (10.5, 14.0, " The lost words."), (22.0, 26.0, " The end.")]
    # Every word of the speech covered: nothing is decoded again.
    covered = [(0.2, 10.4), (22.0, 26.0)]
    assert _with_unheard_speech(window, heard, covered, covered, 30.0, engine, options, "en") == heard
    assert len(engine.given) == 1


def test_text_spoken_impossibly_fast_is_a_repetition_loop_and_is_dropped():
    from whisper_server.transcriber import _credible

    speech = [(0.0, 10.0)]
    loop = " Thank you so much for watching," + " see you in the next video," * 30
    assert not _credible(_segment(8.0, 9.7, loop), speech, 10.0)
    assert _credible(_segment(8.0, 9.7, " See you in the next video."), speech, 10.0)
    fast = " " + " ".join(["word"] * 20)  # 20 words in 3 s: quick, but people do
    assert _credible(_segment(1.0, 4.0, fast), speech, 10.0)
    # A batched clip's last sentence, squeezed by the word alignment to no time at all.
    assert _credible(_segment(9.98, 9.98, " Open the file, save your changes and close the window."),
                     speech, 10.0)
