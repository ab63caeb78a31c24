"""Corrections of who speaks: naming a speaker and moving a segment to another speaker.
Each is a new version over the machine's transcript, like a text correction: shown in
Changes, undone by restoring an earlier version."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from ..models import Job, TranscriptVersion
from ..speakers import clean_name, display_name, new_speaker
from .transcripts import current_version_for_update, new_version

NEW_SPEAKER = "new"  # moves a segment to a speaker the machine did not find


def transcript_rename_speaker(*, job: Job, author: Any, speaker_id: str, name: str,
                              base_number: int) -> TranscriptVersion:
    """Give a speaker a name ("Speaker 2" → "Dr. Lee") everywhere in the transcript; an
    empty name goes back to the machine's label. The same name as now changes nothing."""
    name = clean_name(name)
    with transaction.atomic():
        current = current_version_for_update(job, base_number)
        speakers = [dict(s) for s in current.speakers]
        speaker = next((s for s in speakers if s["id"] == speaker_id), None)
        if speaker is None:
            raise ValueError(f"this transcript has no speaker {speaker_id}")
        if name == speaker["label"]:  # the machine's label typed back: no name of its own
            name = ""
        if (speaker.get("name") or "") == name:
            return current
        before = display_name(speaker)
        if name:
            speaker["name"] = name
        else:
            speaker.pop("name", None)
        summary = f"named {before} {name}" if name else f"gave {before} back the name {speaker['label']}"
        return new_version(job, current.segments, speakers, author=author, summary=summary)


def transcript_move_segment(*, job: Job, author: Any, segment_id: int, speaker_id: str,
                            base_number: int) -> TranscriptVersion:
    """Say that another speaker says this segment (its words too): one of the transcript's
    speakers, or NEW_SPEAKER for one the machine did not find."""
    with transaction.atomic():
        current = current_version_for_update(job, base_number)
        if not current.speakers:
            raise ValueError("this transcript has no speakers: upload it again with speakers")
        speakers = [dict(s) for s in current.speakers]
        listed = [s for s in speakers if s["id"] == speaker_id]
        if speaker_id == NEW_SPEAKER:
            listed = [new_speaker(speakers)]
            speakers.append(listed[0])
        elif not listed:
            raise ValueError(f"this transcript has no speaker {speaker_id}")
        target = listed[0]
        segments = [dict(s) for s in current.segments]
        segment = next((s for s in segments if s["id"] == segment_id), None)
        if segment is None:
            raise ValueError(f"this transcript has no segment {segment_id}")
        if segment.get("speaker") == target["id"]:
            return current
        segment["speaker"] = target["id"]
        if segment.get("words"):
            segment["words"] = [{**w, "speaker": target["id"]} for w in segment["words"]]
        summary = f"moved the segment at {segment['start']:.1f} s to {display_name(target)}"
        return new_version(job, segments, speakers, author=author, summary=summary)
