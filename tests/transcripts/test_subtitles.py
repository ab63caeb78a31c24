"""Subtitles a video editor accepts: cue limits (line width, lines, seconds), breaks at
punctuation and pauses, never inside a word or across a change of speaker; read back with
real SubRip and WebVTT parsers."""

from __future__ import annotations

import re

import pytest
import srt
import webvtt

from transcripts.exports import SubtitleOptions, render
from transcripts.exports.subtitles import cues

TALK = ("Thank you all for coming today. We have three things to cover this morning: the budget, "
        "the new office and the summer schedule. First the budget, which the board approved on "
        "Tuesday after a long discussion about travel costs and the price of software licences "
        "that nobody really wanted to talk about. Second, the office. We move in June, and "
        "everyone gets a desk by the window, which I think is a first for this company. Any "
        "questions so far? No? Then let us go on with the schedule.")


def timed(text: str, start: float = 0.0, speaker: str | None = None, pace: float = 0.32,
          pauses: dict[int, float] | None = None) -> dict:
    """A segment with word timings: `pace` seconds a word, plus `pauses` after word n."""
    words, at = [], start
    for n, piece in enumerate(text.split()):
        words.append({"word": f" {piece}", "start": round(at, 3), "end": round(at + pace - 0.04, 3),
                      "probability": 0.9, **({"speaker": speaker} if speaker else {})})
        at += pace + (pauses or {}).get(n, 0.0)
    return {"id": 0, "start": words[0]["start"], "end": words[-1]["end"], "text": " " + text,
            **({"speaker": speaker} if speaker else {}), "words": words}


def numbered(segments: list[dict]) -> list[dict]:
    return [{**s, "id": n} for n, s in enumerate(segments)]


def result(segments: list[dict], speakers: list[dict] | None = None) -> dict:
    return {"segments": numbered(segments), **({"speakers": speakers} if speakers else {})}


def cue_words(text: str) -> list[str]:
    return re.sub(r"<[^>]+>", "", text).split()


def test_a_long_talk_is_cut_into_cues_within_the_limits_at_punctuation():
    document = result([timed(TALK)])
    made = list(srt.parse(render(document, "srt")))
    assert len(made) > 5
    for cue in made:
        lines = cue.content.split("\n")
        assert len(lines) <= 2 and all(len(line) <= 42 for line in lines), cue.content
        assert (cue.end - cue.start).total_seconds() <= 7.0
    said = [w for cue in made for w in cue.content.split()]
    assert said == TALK.split()  # every word once, in order, none broken
    # Where a sentence or a clause ends within reach, the cue ends there.
    ends = [cue.content.rstrip()[-1] for cue in made[:-1]]
    assert sum(e in ".,:?" for e in ends) >= len(ends) - 1, [c.content for c in made]
    assert all(a.end <= b.start for a, b in zip(made, made[1:]))


def test_line_width_and_line_count_are_options():
    document = result([timed(TALK)])
    narrow = webvtt.from_string(render(document, "vtt", SubtitleOptions(max_line_width=20, max_line_count=1)))
    assert all(len(c.text.split("\n")) == 1 and len(c.text) <= 20 for c in narrow)
    assert [w for c in narrow for w in c.text.split()] == TALK.split()
    assert SubtitleOptions.parse(None, "") == SubtitleOptions(42, 2)
    for width, count in (("9", None), ("x", None), (None, "11"), ("-3", None)):
        with pytest.raises(ValueError, match="whole number"):
            SubtitleOptions.parse(width, count)


def test_a_cue_never_spans_a_change_of_speaker_or_a_silence():
    turns = [timed("Are you ready?", 0.0, "S1"), timed("Yes.", 1.1, "S2"),
             timed("Then we go.", 1.6, "S1"), timed("After the break we start again.", 4.0, "S1")]
    speakers = [{"id": "S1", "label": "Speaker 1", "name": "Ana"}, {"id": "S2", "label": "Speaker 2"}]
    made = cues(numbered(turns), {"S1": "Ana", "S2": "Speaker 2"}, SubtitleOptions())
    assert [(c.speaker, " ".join(c.lines), c.turn) for c in made] == [
        ("Ana", "Are you ready?", True), ("Speaker 2", "Yes.", True), ("Ana", "Then we go.", True),
        ("Ana", "After the break we start again.", False)]  # the same turn, after 1.5 s of silence
    vtt = webvtt.from_string(render(result(turns, speakers), "vtt"))
    assert [c.voice for c in vtt] == ["Ana", "Speaker 2", "Ana", "Ana"]
    subrip = [c.content for c in srt.parse(render(result(turns, speakers), "srt"))]
    assert subrip == ["Ana: Are you ready?", "Speaker 2: Yes.", "Ana: Then we go.",
                      "After the break we start again."]  # the name where a turn begins


def test_words_whisper_splits_stay_whole_and_scripts_without_spaces_may_break():
    segment = timed("We don 't know", 0.0)
    segment["words"][2]["word"] = "'t"  # Whisper's word pieces: " don" then "'t"
    made = cues([segment], {}, SubtitleOptions(max_line_width=10, max_line_count=1))
    assert [" ".join(c.lines) for c in made] == ["We don't", "know"]
    chinese = {"id": 0, "start": 0.0, "end": 3.0, "text": "我们明天早上九点开会讨论预算问题",
               "words": [{"word": ch, "start": i * 0.2, "end": i * 0.2 + 0.18} for i, ch in
                         enumerate("我们明天早上九点开会讨论预算问题")]}
    made = cues([chinese], {}, SubtitleOptions(max_line_width=10, max_line_count=1))
    assert "".join(line for c in made for line in c.lines) == "我们明天早上九点开会讨论预算问题"
    assert all(len(c.lines[0]) <= 10 for c in made)


def test_a_segment_without_word_timings_is_cut_the_same_way():
    corrected = {"id": 0, "start": 10.0, "end": 30.0, "text": TALK}  # a person's correction
    made = list(srt.parse(render(result([corrected]), "srt")))
    assert [w for c in made for w in c.content.split()] == TALK.split()
    assert made[0].start.total_seconds() == 10.0 and made[-1].end.total_seconds() == 30.0
    for cue in made:
        assert len(cue.content.split("\n")) <= 2 and (cue.end - cue.start).total_seconds() <= 7.0


def test_cue_text_is_escaped_for_webvtt_and_kept_out_of_subrip_syntax():
    odd = {"id": 0, "start": 0.0, "end": 2.0, "text": "A <b> & c --> d", "speaker": "S1"}
    document = result([odd], [{"id": "S1", "label": "Speaker 1", "name": "R&D <lead>"}])
    vtt_text = render(document, "vtt")
    assert "<v R&amp;D &lt;lead&gt;>A &lt;b&gt; &amp; c --&gt; d" in vtt_text
    caption = webvtt.from_string(vtt_text)[0]
    assert caption.voice == "R&amp;D &lt;lead&gt;" and "-->" not in caption.raw_text
    subrip = list(srt.parse(render(document, "srt")))
    assert subrip[0].content == "R&D <lead>: A <b> & c -> d"


def test_overlapping_word_timings_are_trimmed_and_every_cue_lasts():
    first = timed("One two three.", 0.0, pace=0.3)
    first["words"][-1]["end"] = 1.3  # Whisper runs the last word into the next one
    second = timed("Four five.", 1.0, pace=0.3)
    second["words"][0]["start"] = second["words"][0]["end"] = 1.0  # and gives a word no time
    made = list(srt.parse(render(result([first, second]), "srt", SubtitleOptions(max_line_width=14))))
    assert all(c.end > c.start for c in made)
    assert all(a.end <= b.start for a, b in zip(made, made[1:]))


def test_without_speakers_and_segments_the_formats_still_parse():
    assert render(result([]), "vtt") == "WEBVTT\n\n"
    assert list(srt.parse(render(result([]), "srt"))) == []
    plain = result([{"id": 0, "start": 0.0, "end": 2.0, "text": " Hello there."}])
    assert render(plain, "txt") == "Hello there.\n"
    assert [c.content for c in srt.parse(render(plain, "srt"))] == ["Hello there."]
