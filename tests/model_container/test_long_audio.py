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
    found = [_segment(0, 20), _segment(20, 50), _segment(50, 57), _segment(57, 60)]
    kept, tail = _hold_back(window, found, _voiced(found))
    assert [s.start for s in kept] == [0, 20] and tail == 10
    found = [_segment(0, 40), _segment(40, 48)]  # nothing heard after 48 s
    kept, tail = _hold_back(window, found, _voiced(found))
    assert len(kept) == 2 and tail == 12
    found = [_segment(0, 10), _segment(10, 58)]  # one long stretch: kept,
    kept, tail = _hold_back(window, found, _voiced(found))
    assert len(kept) == 2 and tail == 2  # and what follows it goes on
    assert _hold_back(window, [], []) == ([], 0)
    # A late segment that ends a sentence begun in the segment before: from its start.
    found = [_segment(0, 20, " A."), _segment(35, 45, " And so my"), _segment(45, 57, " fellow Americans.")]
    kept, tail = _hold_back(window, found, _voiced(found))
    assert [s.start for s in kept] == [0] and tail == 25
    # Timed after the speech it starts in had begun: from where that speech begins.
    kept, tail = _hold_back(window, found, [(0.2, 19.8), (34.4, 44.8), (45.2, 56.8)])
    assert [s.start for s in kept] == [0] and tail == pytest.approx(60 - 34.4)


def _voiced(found, pause=0.2):
    """Speech under each segment, with a short pause at each end."""
    return [(s.start + pause, s.end - pause) for s in found]


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


def test_a_held_back_tail_is_never_longer_than_what_the_reader_reads_again():
    """The reader reads at most half a window again: a longer tail lost every sentence
    between the reader's cut and the transcriber's."""
    import numpy as np

    from whisper_server.audio import SAMPLE_RATE, Window
    from whisper_server.transcriber import _hold_back

    window = Window(offset=10.0, samples=np.zeros(15 * SAMPLE_RATE, dtype=np.float32))
    found = [_segment(0.0, 9.0, " please send the report by Friday, open the file,"),
             _segment(10.0, 14.0, " please send the report by Friday.")]
    kept, tail = _hold_back(window, found, _voiced(found))
    assert kept == found[:1] and tail == 5.0  # not from 0 s (the sentence's start): 15 s back


def test_the_reader_says_how_much_it_reads_again(tmp_path):
    from tests.conftest import ffmpeg
    from whisper_server.audio import SAMPLE_RATE, decode_windows

    audio = tmp_path / "tone.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:duration=100", "-ar", "16000", str(audio))
    reader = decode_windows(str(audio), window_seconds=30, max_seconds=600)
    windows = iter(reader)
    first = next(windows)
    length = len(first.samples) / SAMPLE_RATE
    assert reader.put_back(100.0) == pytest.approx(length / 2, abs=1e-3)
    assert next(windows).offset == pytest.approx(length / 2, abs=1e-3)
    assert reader.put_back(2.0) == 2.0


def test_a_segment_timed_over_more_speech_than_its_words_fill_is_found():
    """Whisper skipped "And so my fellow Americans..." and timed "Mr. Quilter..." over both
    (the 1.3-minute benchmark file on an AVX2 machine): 16 words over 14 s of speech, where
    the others speak about 3 words a voiced second."""
    from whisper_server.transcriber import _underfilled

    quilter = " Mr. Quilter is the apostle of the middle classes and we are glad to welcome his gospel."
    found = [_segment(37.0, 45.0, " And so my fellow Americans ask not what your country can do for you"),
             _segment(45.0, 50.0, " ask what you can do for your country."),
             _segment(50.0, 56.0, quilter), _segment(56.0, 74.0, quilter)]
    voiced = [(38.08, 39.9), (41.06, 41.47), (41.76, 42.05), (43.14, 45.31), (45.92, 48.19),
              (50.3, 55.17), (56.93, 58.75), (59.9, 60.32), (60.61, 60.9), (61.98, 64.19),
              (64.77, 67.07), (69.15, 74.02)]
    assert _underfilled(found, voiced) == [False, False, False, True]
    # A slow speaker is no reason: the rate is the window's own.
    slow = [(s * 2, e * 2) for s, e in voiced]
    assert _underfilled([_segment(s.start * 2, s.end * 2, s.text) for s in found[:3]], slow) == [False] * 3
    # Nor is a short pause-filled segment: less than UNHEARD_SECONDS left over.
    assert _underfilled([found[0], _segment(45.0, 47.0, " Yes.")], voiced[:5]) == [False, False]


def test_an_underfilled_segment_is_decoded_again_and_replaced_only_by_more_words():
    import numpy as np

    from whisper_server.audio import SAMPLE_RATE, Window
    from whisper_server.engines.base import EngineResult
    from whisper_server.options import TranscribeOptions
    from whisper_server.transcriber import _with_underfilled_decoded_again

    class Listener:  # hears what it was told to, timed from the start of what it is given
        def __init__(self, segments):
            self.segments, self.given = segments, []

        def transcribe(self, audio, options, *, language, batch_size, speech, stop_after=None):
            self.given.append((len(audio) / SAMPLE_RATE, batch_size))
            return EngineResult(language="en", language_probability=1.0,
                                segments=[dataclasses.replace(s) for s in self.segments])

    window = Window(offset=0.0, samples=np.zeros(30 * SAMPLE_RATE, dtype=np.float32), last=True)
    speech = voiced = [(0.0, 3.0), (5.0, 8.0), (10.0, 13.0), (15.0, 18.0), (20.0, 23.0)]
    found = [_segment(0.0, 3.2, " one two three four five six seven eight nine."),
             _segment(5.0, 18.2, " ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen."),
             _segment(20.0, 23.2, " one two three four five six seven eight nine.")]
    both = [_segment(0.0, 3.0, " a b c d e f g h i."), _segment(5.0, 8.0, " j k l m n o p q r."),
            _segment(10.0, 14.0, " s t u v w x y z a b."),  # timed past the piece's 13.2 s
            ]
    engine = Listener(both)
    kept = _with_underfilled_decoded_again(window, found, speech, voiced, engine,
                                           TranscribeOptions(), "en")
    assert engine.given == [(pytest.approx(13.2), 0)]  # only the second, on its own, sequentially
    assert [(s.start, s.end, s.text) for s in kept] == [
        (0.0, 3.2, found[0].text), (5.0, 8.0, both[0].text), (10.0, 13.0, both[1].text),
        (15.0, 18.2, both[2].text), (20.0, 23.2, found[2].text)]  # cut at the piece's end, not dropped
    same = Listener([_segment(0.0, 13.0, found[1].text)])  # nothing more heard: kept as it was
    assert _with_underfilled_decoded_again(window, found, speech, voiced, same,
                                           TranscribeOptions(), "en") == found


def test_a_repeat_is_dropped_only_where_both_copies_are_timed_over_the_same_audio():
    from whisper_server.transcriber import _without_repeats

    report, close = " Please send the report to John by Friday.", " Open the file, save your changes and close the window."
    # A batched clip's text held two sentences twice; the alignment put the first copies
    # into no time at the start of the second.
    clip = [_segment(15.2, 19.0, close), _segment(20.98, 20.98, report), _segment(20.98, 20.98, close),
            _segment(20.98, 23.7, report), _segment(25.4, 29.0, " Open the file save your changes and close the window")]
    assert _without_repeats(clip) == [clip[0], clip[3], clip[4]]
    # The same sentence decoded again at a window's seam.
    seam = [_segment(40.0, 44.0, close), _segment(45.0, 49.0, report), _segment(44.8, 48.5, report),
            _segment(50.0, 53.0, close)]
    assert _without_repeats(seam) == [seam[0], seam[1], seam[3]]
    # Said twice: two stretches of audio, both kept, even back to back.
    said_twice = [_segment(1.0, 2.0, " Yes."), _segment(3.0, 4.0, " Yes."), _segment(8.0, 12.0, report),
                  _segment(12.0, 19.0, report)]
    assert _without_repeats(said_twice) == said_twice


def test_words_aligned_into_no_time_do_not_start_a_sentence_at_a_pause():
    from whisper_server.engines.base import Word
    from whisper_server.engines.faster import sentences

    said = [(" Open", 25.6, 26.0), (" the", 26.0, 26.2), (" file,", 26.2, 28.9)] + [
        (w, 29.98, 29.98) for w in (" save", " your", " changes", " and", " close", " the", " window.")]
    words = [Word(word=w, start=s, end=e, probability=0.9) for w, s, e in said]
    clip = Segment(id=0, start=25.6, end=29.98, text="".join(w for w, _, _ in said), avg_logprob=-0.2,
                   no_speech_prob=0.01, compression_ratio=1.1, words=words)
    assert [(p.start, p.end, p.text) for p in sentences(clip)] == [(25.6, 29.98, clip.text)]


# "…for your country. Mr. Quilter…" at a seam of the hour-long benchmark file: Whisper's
# segments ran across sentences, and it timed the one that starts "for your country" late,
# where "Mr. Quilter" begins. A window started there dropped those three words.
_RUN_ON = _segment(84.0, 96.0, " welcome his gospel. And so my fellow Americans ask not what your country"
                               " can do for you ask what you can do")
_LATE = _segment(96.0, 104.0, " for your country. Mr. Quilter is the apostle of the middle classes and")
_VOICED = [(84.5, 86.0), (86.6, 89.9), (90.6, 95.0), (96.0, 101.0), (101.4, 103.5), (104.0, 108.0)]


def test_a_tail_timed_late_is_cut_in_a_pause_before_where_whisper_says_it_starts():
    import numpy as np

    from whisper_server.audio import SAMPLE_RATE, Window
    from whisper_server.transcriber import SEGMENT_TIME_ERROR_SECONDS, _hold_back

    window = Window(offset=700.0, samples=np.zeros(120 * SAMPLE_RATE, dtype=np.float32))
    found = [_RUN_ON, _LATE, _segment(104.0, 117.0, " we are glad to welcome his gospel.")]
    kept, tail = _hold_back(window, found, _VOICED)
    # Not at 96 s (where "Mr. Quilter" starts) but where "ask what you can do for your
    # country" starts, the speech around SEGMENT_TIME_ERROR_SECONDS before 96 s.
    assert SEGMENT_TIME_ERROR_SECONDS == 2.0
    assert kept == [_RUN_ON] and tail == pytest.approx(120 - 90.6)
    # To find silence the cut may go back further than the 30 s that segments are held
    # back from, as far as the reader reads again (half a window); with none: where
    # Whisper's times say.
    speaking = [(70.0, 120.0)]
    assert _hold_back(window, found, speaking) == ([], 50.0)
    speaking = [(50.0, 120.0)]
    assert _hold_back(window, found, speaking) == ([_RUN_ON], 24.0)


def test_words_heard_again_after_a_seam_are_removed_once():
    from whisper_server.engines.base import Word
    from whisper_server.transcriber import _after_seam, _place

    seam = 790.6  # the cut above, on the recording's timeline
    before = [_segment(700.0, 784.0, " …"), _place(dataclasses.replace(_RUN_ON), 700.0)]
    quilter = _segment(5.8, 10.9, " Mr. Quilter is the apostle of the middle classes.")
    found = [_segment(0.1, 5.0, " Ask what you can do for your country."), quilter]
    assert [(s.start, s.text) for s in _after_seam(before, found, seam)] == [
        (0.1, " for your country."), (5.8, quilter.text)]
    # Across segments, and with word timings: they say where the rest starts.
    said = [(" Ask", 0.1, 0.4), (" what", 0.4, 0.6), (" you", 0.6, 0.7), (" can", 0.7, 0.9), (" do", 0.9, 1.3)]
    first = _segment(0.1, 1.3, "".join(w for w, _, _ in said))
    first.words = [Word(word=w, start=s, end=e, probability=0.9) for w, s, e in said]
    rest = _segment(2.6, 5.0, " for your country.")
    rest.words = [Word(word=w, start=s, end=e, probability=0.9)
                  for w, s, e in [(" for", 2.6, 3.0), (" your", 3.0, 3.4), (" country.", 3.4, 5.0)]]
    ends_with_for_your = dataclasses.replace(before[-1], text=before[-1].text + " for your")
    [trimmed] = _after_seam(before[:1] + [ends_with_for_your], [first, rest], seam)
    assert (trimmed.start, trimmed.text, [w.word for w in trimmed.words]) == (3.4, " country.", [" country."])
    # A sentence said again after the seam, heard from other audio: both stay.
    thanks = [_segment(780.0, 786.0, " Thank you.")]
    again = [_segment(0.5, 2.0, " Thank you.")]
    assert _after_seam(thanks, again, seam) == again
    assert _after_seam([], again, seam) == again and _after_seam(thanks, [], seam) == []
