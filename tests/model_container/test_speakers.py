"""Who speaks when: dialogues of real speech with known turns (espeak-ng voices that differ
clearly, and the two real recordings in ../shared/audio), transcribed by the real engine
with word timings, attributed by whisper_server.speakers."""

from __future__ import annotations

import dataclasses
import difflib
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SENTENCES, words
from whisper_server import speakers
from whisper_server.engines import load_engine
from whisper_server.engines.base import Segment, Word
from whisper_server.options import TranscribeOptions
from whisper_server.settings import Settings
from whisper_server.speakers import SpeakerCount, SpeakerTracker
from whisper_server.transcriber import transcribe_file

RATE = 16000
# Two espeak-ng voices a person tells apart at once: a low male voice and a high female one.
VOICES = {"low": ("en-us", 40), "high": ("en-us+f3", 80)}


@dataclasses.dataclass
class Dialogue:
    path: Path
    samples: np.ndarray
    turns: list[tuple[str, str]]  # who, what they say
    parts: list[np.ndarray]  # the audio of each turn


def pcm(path: Path) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-ac", "1", "-ar",
                          str(RATE), "-f", "s16le", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768


def voice(text: str, target: Path, name: tuple[str, int]) -> np.ndarray:
    """espeak-ng speech in a voice (name, pitch 0-99)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    subprocess.run(["espeak-ng", "-v", name[0], "-p", str(name[1]), "-s", "165", "-w", str(target), text],
                   check=True)
    return pcm(target)


def dialogue(target: Path, parts: list[tuple[str, str, np.ndarray]], pause: float = 0.6) -> Dialogue:
    """The parts (who, what they say, audio) one after the other, each followed by `pause`
    seconds of silence."""
    audio = []
    for _, _, samples in parts:
        audio += [samples, np.zeros(int(pause * RATE), dtype=np.float32)]
    joined = np.concatenate(audio)
    with wave.open(str(target), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(RATE)
        w.writeframes((np.clip(joined, -1, 1) * 32767).astype("<i2").tobytes())
    return Dialogue(target, joined, [(who, text) for who, text, _ in parts], [p for _, _, p in parts])


@pytest.fixture(scope="module")
def engine_settings():
    settings = dataclasses.replace(Settings.from_env({}), cpu_threads=2)
    return load_engine(settings), settings


def attribute(dialogue: Dialogue, engine_settings, count: SpeakerCount = SpeakerCount()):
    """Transcribe with word timings, embed the whole recording as one window, attribute."""
    engine, settings = engine_settings
    result = transcribe_file(str(dialogue.path), TranscribeOptions(word_timestamps=True, temperature=0.0),
                             engine, settings)
    segments = [Segment(s["id"], s["start"], s["end"], s["text"], 0.0, 0.0, 1.0,
                        [Word(w["word"], w["start"], w["end"], w["probability"]) for w in s["words"]])
                for s in result["segments"]]
    tracker = SpeakerTracker()
    tracker.add(dialogue.samples, 0.0, segments)
    return tracker.finish(segments, count)


def speakers_by_turn(dialogue: Dialogue, attributed) -> list[set[str]]:
    """The speakers of each turn's words. A word's turn is found by its text, not its time:
    the transcript's words are aligned with the turns' words in order (Whisper can time a
    turn's last word a second into the next turn's silence or speech)."""
    said = [(word, name) for item in attributed for word, name in zip(words(item.segment.text), item.word_speakers)]
    reference = [(word, turn) for turn, (_, text) in enumerate(dialogue.turns) for word in words(text)]
    found: list[set[str]] = [set() for _ in dialogue.turns]
    matcher = difflib.SequenceMatcher(None, [w for w, _ in said], [w for w, _ in reference], autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            found[reference[block.b + k][1]].add(said[block.a + k][1])
    return found


def assert_turns_attributed(dialogue: Dialogue, attributed, listing) -> None:
    people = sorted({who for who, _ in dialogue.turns})
    assert len(listing) == len(people), listing
    by_turn = speakers_by_turn(dialogue, attributed)
    assert all(len(names) == 1 for names in by_turn), by_turn  # each turn: one speaker
    # The same person always gets the same speaker, different people different ones.
    mapping: dict[str, str] = {}
    for (who, _), names in zip(dialogue.turns, by_turn):
        assert mapping.setdefault(who, next(iter(names))) == next(iter(names)), (who, by_turn)
    assert len(set(mapping.values())) == len(people)
    # Segments never hold two speakers, and their words agree with them.
    for item in attributed:
        assert set(item.word_speakers) == {item.speaker}


@pytest.fixture(scope="module")
def espeak_dialogue(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dialogue")
    lines = [("low", SENTENCES["report"]), ("high", SENTENCES["morning"]),
             ("low", SENTENCES["window"]), ("high", SENTENCES["report"]),
             ("low", SENTENCES["morning"]), ("high", SENTENCES["window"])]
    parts = [(who, text, voice(text, folder / f"{n}-{who}.wav", VOICES[who]))
             for n, (who, text) in enumerate(lines)]
    return dialogue(folder / "espeak-dialogue.wav", parts)


def test_two_espeak_voices_in_alternating_turns(espeak_dialogue, engine_settings):
    attributed, listing = attribute(espeak_dialogue, engine_settings)
    assert_turns_attributed(espeak_dialogue, attributed, listing)
    assert [s["id"] for s in listing] == ["S1", "S2"]
    assert [s["label"] for s in listing] == ["Speaker 1", "Speaker 2"]
    # The first voice heard is Speaker 1; talk time is what each said.
    assert attributed[0].speaker == "S1"
    assert all(s["seconds"] > 4 for s in listing)
    said = [w for item in attributed for w in words(item.segment.text)]
    assert said.count("friday") == 2 and said.count("window") == 2


KENNEDY_CUTS = [(0.0, 2.6, "And so, my fellow Americans,"), (2.6, 4.7, "ask not"),
                (4.7, 7.8, "what your country can do for you,"),
                (7.8, 11.0, "ask what you can do for your country.")]
QUILTER = "Mr. Quilter is the apostle of the middle classes and we are glad to welcome his gospel."


@pytest.fixture(scope="module")
def real_people(shared_audio):
    """Kennedy's address cut where he pauses (turns of a few seconds, as in talk), and the
    LibriSpeech reader: (who, text, samples)."""
    jfk = pcm(shared_audio("jfk.flac"))
    quilter = pcm(shared_audio("librispeech-1272-128104-0000.wav"))
    kennedy = [("kennedy", text, jfk[int(a * RATE):int(b * RATE)]) for a, b, text in KENNEDY_CUTS]
    return kennedy, ("quilter", QUILTER, quilter)


def test_real_recordings_of_two_people_in_alternating_turns(real_people, engine_settings, tmp_path):
    kennedy, quilter = real_people
    parts = [part for pair in zip(kennedy, [quilter] * 4) for part in pair]
    real = dialogue(tmp_path / "real-dialogue.wav", parts, pause=0.4)
    attributed, listing = attribute(real, engine_settings)
    assert_turns_attributed(real, attributed, listing)


def test_three_people_are_counted_and_an_exact_count_is_kept(real_people, engine_settings, tmp_path):
    kennedy, quilter = real_people
    high = [("high", text, voice(text, tmp_path / f"high-{n}.wav", VOICES["high"]))
            for n, text in enumerate([SENTENCES["morning"], SENTENCES["report"]])]
    parts = [kennedy[0], quilter, high[0], kennedy[2], high[1], quilter]
    three = dialogue(tmp_path / "three.wav", parts, pause=0.4)
    attributed, listing = attribute(three, engine_settings)
    assert_turns_attributed(three, attributed, listing)
    _, listing = attribute(three, engine_settings, SpeakerCount(exactly=2))
    assert len(listing) == 2
    _, listing = attribute(three, engine_settings, SpeakerCount(at_most=2))
    assert len(listing) == 2


# ---- the pieces, on made-up timings ------------------------------------------------------

def _segment(words: list[tuple[str, float, float]]) -> Segment:
    return Segment(0, words[0][1], words[-1][2], "".join(w for w, _, _ in words), -0.1, 0.01, 1.2,
                   [Word(w, s, e, 0.9) for w, s, e in words])


def test_word_runs_end_at_sentences_and_pauses_and_stay_short():
    segment = _segment([(" One", 0.0, 0.4), (" two.", 0.4, 0.8), (" Three", 0.9, 1.3),
                        (" four", 2.0, 2.4)] + [(f" w{i}", 2.4 + i * 0.5, 2.9 + i * 0.5) for i in range(12)])
    runs = speakers.word_runs([segment])
    assert runs[0] == (0.0, 0.8)  # a sentence ends
    assert runs[1] == (0.9, 1.3)  # a pause of 0.7 s
    assert all(end - start <= speakers.MAX_RUN_SECONDS + 0.5 for start, end in runs)
    assert runs[2][0] == 2.0 and runs[-1][1] == 8.4 and len(runs) == 5  # 6.4 s in three parts


def test_a_segment_is_split_where_the_speaker_changes():
    segment = _segment([(" Yes", 0.0, 0.4), (" indeed.", 0.4, 0.9), (" No", 1.5, 1.8), (" way.", 1.8, 2.2)])
    runs = [speakers._Run(0.0, 0.9, 0), speakers._Run(1.5, 2.2, 1)]
    attributed, listing = speakers.assign([segment], runs)
    assert [(a.speaker, a.segment.text, a.segment.start, a.segment.end) for a in attributed] == [
        ("S1", " Yes indeed.", 0.0, 0.9), ("S2", " No way.", 1.5, 2.2)]
    assert [a.word_speakers for a in attributed] == [["S1", "S1"], ["S2", "S2"]]
    assert listing == [{"id": "S1", "label": "Speaker 1", "seconds": 0.9},
                       {"id": "S2", "label": "Speaker 2", "seconds": 0.7}]


def test_clustering_finds_the_count_or_keeps_the_one_asked_for():
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((3, 256))
    points = np.concatenate([c + 0.3 * rng.standard_normal((20, 256)) for c in centres])
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    durations = np.full(len(points), 2.0)
    auto = speakers.cluster(points, durations, SpeakerCount())
    assert len(set(auto)) == 3 and auto[0] == 0
    assert all(len(set(auto[i * 20:(i + 1) * 20])) == 1 for i in range(3))
    assert len(set(speakers.cluster(points, durations, SpeakerCount(exactly=2)))) == 2
    assert len(set(speakers.cluster(points, durations, SpeakerCount(at_least=4)))) == 4
    assert len(set(speakers.cluster(points, durations, SpeakerCount(at_most=1)))) == 1
    assert len(speakers.cluster(points[:0], durations[:0], SpeakerCount())) == 0


def test_a_few_stray_runs_are_not_a_speaker_of_their_own():
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((3, 256))
    points = np.concatenate([centres[0] + 0.3 * rng.standard_normal((30, 256)),
                             centres[1] + 0.3 * rng.standard_normal((30, 256)),
                             centres[2] + 0.3 * rng.standard_normal((1, 256))])
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    labels = speakers.cluster(points, np.full(len(points), 2.0), SpeakerCount())
    assert len(set(labels)) == 2


def test_the_tracker_keeps_embeddings_not_audio():
    class Encoder:
        def embed(self, pieces):
            return np.ones((len(pieces), 256), dtype=np.float32)

    tracker = SpeakerTracker(Encoder())
    window = np.zeros(120 * RATE, dtype=np.float32)
    segment = _segment([(" Hello", 60.0, 60.5), (" there.", 60.5, 61.0)])
    tracker.add(window, 50.0, [segment])  # the window starts 50 s into the recording
    assert [(r.start, r.end) for r in tracker.runs] == [(60.0, 61.0)]
    assert tracker.embeddings.nbytes == 256 * 4


def test_finding_speakers_is_reported_as_the_last_stage_after_all_audio_is_done():
    import json

    import jsonschema

    from tests.conftest import REPO
    from whisper_server.progress import Progress, Sink

    class Recording(Sink):
        def __init__(self):
            self.reports = []

        def send(self, report):
            self.reports.append(report)

    schema = json.loads((REPO / "contracts/container/progress/event.schema.json").read_text())
    recording = Recording()
    progress = Progress([recording])
    progress.transcribing(30.0)
    progress.segments(30.0, 0.0, [{"id": 0, "start": 1.0, "end": 2.0, "text": "Hello."}])
    progress.finding_speakers()
    progress.close()
    assert progress.join(5)
    last = recording.reports[-1]
    jsonschema.validate(last, schema)
    assert (last["stage"], last["seconds_done"], last["segments_from"]) == ("finding_speakers", 30.0, None)


def _result(*segments):
    return {"segments": [{"id": i, "start": s, "end": e, "text": t, "avg_logprob": p, "no_speech_prob": 0.0,
                          "compression_ratio": 1.0, "words": [{"word": t, "start": s, "end": e, "probability": 0.9}]}
                         for i, (s, e, t, p) in enumerate(segments)]}


def test_channels_are_merged_in_time_order_and_speech_on_both_is_kept_once():
    left = _result((0.0, 2.0, "Hello, this is Ann.", -0.2), (6.0, 8.0, "Fine, thanks.", -0.2),
                   (10.0, 12.0, "Bleed from Bob.", -0.9))
    right = _result((2.5, 5.0, "Hi Ann, how are you?", -0.3), (10.1, 12.0, "Bleed from Bob!", -0.1))
    segments, listing = speakers.merge_channels([left, right])
    assert [(s["id"], s["speaker"], s["text"]) for s in segments] == [
        (0, "S1", "Hello, this is Ann."), (1, "S2", "Hi Ann, how are you?"), (2, "S1", "Fine, thanks."),
        (3, "S2", "Bleed from Bob!")]
    assert all(w["speaker"] == s["speaker"] for s in segments for w in s["words"])
    assert listing == [{"id": "S1", "label": "Channel 1", "seconds": 4.0, "channel": 0},
                       {"id": "S2", "label": "Channel 2", "seconds": 4.4, "channel": 1}]


def test_each_channel_pass_reports_its_share_of_the_work():
    calls = []

    class Progress:
        def transcribing(self, duration):
            calls.append(("transcribing", duration))

        def segments(self, done, segments_from, segments):
            calls.append((done, segments_from, segments))

    for channel in (0, 1):
        passing = speakers.ChannelProgress(Progress(), channel, 2, 60.0)
        passing.transcribing(60.0)
        passing.segments(30.0, 0.0, [{"id": 0}])
        passing.segments(60.0, 30.0, [])
    assert calls == [("transcribing", 60.0), (15.0, None, []), (30.0, None, []), (45.0, None, []),
                     (60.0, None, [])]


def test_a_run_is_cut_where_the_vad_hears_a_pause():
    runs = [(10.0, 13.0), (20.0, 21.0)]
    voiced = [(9.0, 11.2), (11.5, 11.6), (11.9, 14.0)]  # a 0.1 s blip between two pauses
    assert speakers.within_voice(runs, voiced) == [(10.0, 11.2), (11.9, 13.0), (20.0, 21.0)]


# ---- through the transcriber and the server --------------------------------------------

def response_schema() -> dict:
    import json

    from tests.conftest import REPO

    return json.loads((REPO / "contracts/container/response.schema.json").read_text())


def turns_of(result: dict) -> list[tuple[str, str]]:
    """(speaker, text) of each stretch of one speaker, in order."""
    stretches: list[tuple[str, str]] = []
    for segment in result["segments"]:
        if stretches and stretches[-1][0] == segment["speaker"]:
            stretches[-1] = (segment["speaker"], stretches[-1][1] + " " + segment["text"])
        else:
            stretches.append((segment["speaker"], segment["text"]))
    return stretches


def test_diarize_through_the_transcriber_in_several_windows(espeak_dialogue, engine_settings, tmp_path):
    """Eighteen turns in 20 s windows (the embeddings of each window kept, clustered at the end):
    the same result as the tracker gives on the whole recording, every word with a speaker
    though words were not asked for, and the stage finding_speakers reported last."""
    from whisper_server.progress import Progress, Sink

    class Recording(Sink):
        def __init__(self):
            self.reports = []

        def send(self, report):
            self.reports.append(report)

    engine, settings = engine_settings
    long = dialogue(tmp_path / "long.wav", [(who, text, samples) for _ in range(3)
                                            for (who, text), samples in zip(espeak_dialogue.turns, espeak_dialogue.parts)])
    recording = Recording()
    progress = Progress([recording])
    result = transcribe_file(str(long.path), TranscribeOptions(diarize=True, temperature=0.0), engine,
                             dataclasses.replace(settings, window_seconds=20), progress)
    progress.close()
    assert progress.join(5)
    import jsonschema

    jsonschema.validate(result, response_schema())
    assert result["schema_version"] == "1.1"
    assert [s["id"] for s in result["speakers"]] == ["S1", "S2"]
    assert all("words" not in s for s in result["segments"])  # not asked for
    assert result["options"]["word_timestamps"] is False and result["options"]["diarize"] is True
    assert result["timings"]["speakers_seconds"] > 0
    stretches = turns_of(result)
    assert len(stretches) == len(long.turns)  # a change of speaker at every turn, no other
    assert [s for s, _ in stretches] == ["S1", "S2"] * (len(long.turns) // 2)
    assert recording.reports[-1]["stage"] == "finding_speakers"
    assert recording.reports[-1]["seconds_done"] == pytest.approx(result["duration"], abs=0.5)


def test_the_server_answers_with_speakers_and_words_carry_them(server, espeak_dialogue):
    import jsonschema
    import requests

    schema = response_schema()
    response = requests.post(f"{server.url}/invocations", data=espeak_dialogue.path.read_bytes(), timeout=300,
                             headers={"Content-Type": "audio/wav",
                                      "X-Amzn-SageMaker-Custom-Attributes": "speakers=2;word_timestamps=true;temperature=0"})
    assert response.status_code == 200, response.text
    result = response.json()
    jsonschema.validate(result, schema)
    assert [s["label"] for s in result["speakers"]] == ["Speaker 1", "Speaker 2"]
    assert all(w["speaker"] == s["speaker"] for s in result["segments"] for w in s["words"])
    assert [s for s, _ in turns_of(result)] == ["S1", "S2"] * 3
    # A result of before speakers (schema 1.0: no speaker fields) is still a valid result.
    older = {k: v for k, v in result.items() if k != "speakers"}
    older["schema_version"] = "1.0"
    older["segments"] = [{k: v for k, v in s.items() if k not in ("speaker", "words")} for s in result["segments"]]
    jsonschema.validate(older, schema)
    refused = requests.post(f"{server.url}/invocations", data=espeak_dialogue.path.read_bytes(), timeout=60,
                            headers={"Content-Type": "audio/wav",
                                     "X-Amzn-SageMaker-Custom-Attributes": "min_speakers=3;max_speakers=2"})
    assert refused.status_code == 400 and "min_speakers (3) is more than max_speakers (2)" in refused.json()["error"]


def test_a_stereo_call_has_one_speaker_per_channel(espeak_dialogue, engine_settings, tmp_path):
    """The low voice on the left channel, the high one on the right, taking turns: each
    channel is one speaker, the turns merged in time order."""
    engine, settings = engine_settings
    left, right = [], []
    for (who, _), samples in zip(espeak_dialogue.turns, espeak_dialogue.parts):
        quiet = np.zeros_like(samples)
        pause = np.zeros(int(0.6 * RATE), dtype=np.float32)
        left += [samples if who == "low" else quiet, pause]
        right += [samples if who == "high" else quiet, pause]
    stereo = np.stack([np.concatenate(left), np.concatenate(right)], axis=1)
    path = tmp_path / "call.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2), w.setsampwidth(2), w.setframerate(RATE)
        w.writeframes((np.clip(stereo, -1, 1) * 32767).astype("<i2").tobytes())
    result = transcribe_file(str(path), TranscribeOptions(channels_as_speakers=True, word_timestamps=True,
                                                          temperature=0.0), engine, settings)
    import jsonschema

    jsonschema.validate(result, response_schema())
    assert result["speakers"][0]["label"] == "Channel 1" and result["speakers"][1]["channel"] == 1
    assert [s for s, _ in turns_of(result)] == ["S1", "S2"] * 3
    said = [(s, words(text)) for s, text in turns_of(result)]
    assert [w[-1] for _, w in said] == [words(text)[-1] for _, text in espeak_dialogue.turns]
    starts = [s["start"] for s in result["segments"]]
    assert starts == sorted(starts) and [s["id"] for s in result["segments"]] == list(range(len(starts)))
    assert all(w["speaker"] == s["speaker"] for s in result["segments"] for w in s["words"])
    # A mono recording asked for the same: its speakers are found by voice, with a warning.
    mono = transcribe_file(str(espeak_dialogue.path), TranscribeOptions(channels_as_speakers=True, temperature=0.0),
                           engine, settings)
    assert len(mono["speakers"]) == 2 and "one channel" in mono["warnings"][0]


def test_the_contract_example_is_a_result_the_server_could_give():
    """contracts/container/response-speakers.json: what the web app builds its pages on."""
    import json

    import jsonschema

    from tests.conftest import REPO

    example = json.loads((REPO / "contracts/container/response-speakers.json").read_text())
    jsonschema.validate(example, response_schema())
    listed = {s["id"]: s for s in example["speakers"]}
    assert [s["id"] for s in example["speakers"]] == sorted(listed, key=lambda n: int(n[1:]))
    for segment in example["segments"]:
        assert segment["speaker"] in listed
        assert {w["speaker"] for w in segment["words"]} == {segment["speaker"]}
    for name, speaker in listed.items():
        talk = sum(s["end"] - s["start"] for s in example["segments"] if s["speaker"] == name)
        assert speaker["seconds"] == pytest.approx(talk, abs=0.1)
