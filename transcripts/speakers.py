"""Speakers in a transcript: the machine's list (the model server's schema 1.1), the names
people give, talk time, turns and the colour each speaker is shown in. Pure functions over
the segment dicts that versions store.

A version keeps its own list, `[{"id", "label", "name"?, "channel"?, "seconds"}]`: `label`
is the machine's ("Speaker 2"), `name` the one a person gave ("Dr. Lee"); the machine's
result is never changed (../shared/design.md, Contracts: Speakers)."""

from __future__ import annotations

import re
from typing import Any

MAX_NAME_CHARS = 80
COLOURS = 8  # app.css has .spk-1 ... .spk-8; the ninth speaker takes the first colour again
_ID = re.compile(r"S([1-9][0-9]*)")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")

Speakers = list[dict[str, Any]]


def machine_speakers(result: dict[str, Any]) -> Speakers:
    """The speakers of a model result as a version keeps them (none for a result that was
    not asked for speakers, such as every schema 1.0 result)."""
    listed = [{"id": s["id"], "label": s.get("label") or s["id"],
               **({"channel": s["channel"]} if s.get("channel") is not None else {})}
              for s in result.get("speakers") or [] if s.get("id")]
    known = {s["id"] for s in listed}
    for segment in result.get("segments", []):  # a segment's speaker is always listed; be sure
        speaker = segment.get("speaker")
        if speaker and speaker not in known:
            known.add(speaker)
            listed.append({"id": speaker, "label": f"Speaker {len(listed) + 1}"})
    return with_talk_time(listed, result.get("segments", []))


def with_talk_time(speakers: Speakers, segments: list[dict[str, Any]]) -> Speakers:
    """The list with each speaker's talk time (the seconds of their segments), which moving
    a segment changes."""
    seconds: dict[str, float] = {}
    for segment in segments:
        if segment.get("speaker"):
            length = max(float(segment["end"]) - float(segment["start"]), 0.0)
            seconds[segment["speaker"]] = seconds.get(segment["speaker"], 0.0) + length
    return [{**s, "seconds": round(seconds.get(s["id"], 0.0), 2)} for s in speakers]


def display_name(speaker: dict[str, Any]) -> str:
    return str(speaker.get("name") or speaker.get("label") or speaker["id"])


def names(speakers: Speakers) -> dict[str, str]:
    """Speaker id → the name shown for it."""
    return {s["id"]: display_name(s) for s in speakers}


def clean_name(name: str) -> str:
    """A name as stored: one line, single spaces, at most MAX_NAME_CHARS. Empty means
    "back to the machine's label"."""
    name = " ".join(_UNSAFE.sub(" ", name).split())
    if len(name) > MAX_NAME_CHARS:
        raise ValueError(f"a name has at most {MAX_NAME_CHARS} characters")
    return name


def new_speaker(speakers: Speakers) -> dict[str, Any]:
    """A speaker the machine did not find, for a segment a person moves to nobody yet
    listed: the next free id and label."""
    numbers = [int(m.group(1)) for s in speakers if (m := _ID.fullmatch(s["id"]))]
    number = max(numbers, default=0) + 1
    return {"id": f"S{number}", "label": f"Speaker {number}"}


def for_page(speakers: Speakers) -> Speakers:
    """What the transcript page shows of each speaker: the name, the machine's label, talk
    time and its share of all talk, and a colour (1..COLOURS) in list order."""
    total = sum(s.get("seconds", 0.0) for s in speakers) or 1.0
    return [{**s, "shown": display_name(s), "named": bool(s.get("name")),
             "share": s.get("seconds", 0.0) / total, "colour": i % COLOURS + 1}
            for i, s in enumerate(speakers)]


def rows(segments: list[dict[str, Any]], speakers: Speakers, previous: str | None = None) -> list[dict[str, Any]]:
    """Segments as the page lists them: each with its speaker's name and colour, and whether
    it starts a turn (the speaker changed since the segment before; `previous` is the
    speaker of the segment before the first)."""
    shown = {s["id"]: s for s in for_page(speakers)}
    listed = []
    for segment in segments:
        who = shown.get(segment.get("speaker") or "")
        listed.append({**segment, "who": who,
                       "turn": who is not None and segment.get("speaker") != previous})
        previous = segment.get("speaker")
    return listed
