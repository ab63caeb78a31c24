"""Refuse a file that is not audio before it is queued: ffprobe must find an audio stream.
(The model server decodes and checks again; this is only the early, friendly refusal.)"""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import cache


@cache  # looked up once per process, not on every upload
def _ffprobe_command() -> tuple[str, ...] | None:
    """ffprobe, at a lower priority where `nice` exists: it runs on the web process's cores,
    and a burst of uploads must not slow the pages people are reading (bench_load.py)."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return None
    return ("nice", "-n", "10", ffprobe) if shutil.which("nice") else (ffprobe,)


# What ffprobe may do with an upload: read this one file (no network, no other files through
# a playlist) and only as an audio or video container, not as an HLS or concat playlist or an
# image sequence, which would read other files on this host. (The model server has the same
# list: model_container/whisper_server/audio.py.)
PROTOCOLS = "file,pipe"
DEMUXERS = ("aac,ac3,aiff,amr,amrnb,amrwb,ape,asf,au,avi,caf,dsf,dts,dv,eac3,flac,flv,gsm,loas,"
            "matroska,mlp,mov,mp3,mpc,mpc8,mpeg,mpegts,mxf,nut,ogg,rm,shn,tak,truehd,tta,voc,"
            "w64,wav,wv,xwma")
INPUT_LIMITS = ("-protocol_whitelist", PROTOCOLS, "-format_whitelist", DEMUXERS)


class NotAudio(ValueError):
    pass


def check_audio(path: str) -> float | None:
    """Return the duration ffprobe reports (None if unknown), or raise NotAudio."""
    command = _ffprobe_command()
    if command is None:
        return None  # no ffprobe on this host: the model server will judge the file
    try:
        result = subprocess.run(
            [*command, "-v", "error", *INPUT_LIMITS, "-print_format", "json", "-show_format",
             "-show_streams", path],
            capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise NotAudio("this file could not be read in time") from None
    if result.returncode != 0:
        if "not on whitelist" in result.stderr:  # INPUT_LIMITS refused what it is
            raise NotAudio("this file is a playlist, an image or another format that is not a recording")
        raise NotAudio("this file is not audio or video that can be played")
    info = json.loads(result.stdout or "{}")
    if not any(s.get("codec_type") == "audio" for s in info.get("streams", [])):
        raise NotAudio("no audio stream found in this file")
    try:
        return float(info.get("format", {}).get("duration"))
    except (TypeError, ValueError):
        return None
