"""Awkward media for tests, made on the spot with ffmpeg: every format a person might
upload and every kind of file that is not what it claims to be."""

from __future__ import annotations

import shutil
import subprocess
import wave
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ffmpeg


def convert(source: Path, target: Path, *args: str) -> Path:
    ffmpeg("-i", str(source), *args, str(target))
    return target


def lavfi(target: Path, source: str, seconds: float, *args: str) -> Path:
    """Generated audio: anullsrc (silence), anoisesrc (noise), sine (a tone)."""
    ffmpeg("-f", "lavfi", "-i", source, "-t", str(seconds), *args, str(target))
    return target


def video_with_audio(source: Path, target: Path) -> Path:
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-i", str(source), "-shortest",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(target))
    return target


def video_without_audio(target: Path) -> Path:
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", "2", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", str(target))
    return target


def png(target: Path) -> Path:
    ffmpeg("-f", "lavfi", "-i", "color=c=red:size=64x64", "-frames:v", "1", "-f", "image2",
           "-c:v", "png", str(target))
    return target


def zip_of(source: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        archive.write(source, "inside.wav")
    return target


def header_only_wav(target: Path) -> Path:
    with wave.open(str(target), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
    return target


def lying_wav(source: Path, target: Path, claimed_bytes: int = 50_000_000) -> Path:
    """A WAV whose header claims far more data than it holds."""
    data = bytearray(source.read_bytes())
    at = data.index(b"data")
    data[at + 4: at + 8] = claimed_bytes.to_bytes(4, "little")
    target.write_bytes(bytes(data))
    return target


def truncated(source: Path, target: Path, keep: float = 0.6) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * keep)])
    return target


# Playlists that make ffmpeg read other files on the host: each names a real recording
# beside it (the segment), so ffmpeg without limits finds audio in it.

def hls_playlist(speech: Path, target: Path, *, file_url: bool = False) -> Path:
    """An HLS playlist (under an audio file's name) whose one segment is the speech as MPEG-TS,
    by a name relative to the playlist, or as a file: URL."""
    segment = convert(speech, target.parent / f"{target.stem}-segment.ts", "-c:a", "aac", "-f", "mpegts")
    where = f"file:{segment}" if file_url else segment.name
    target.write_text(f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\n"
                      f"{where}\n#EXT-X-ENDLIST\n")
    return target


def concat_list(speech: Path, target: Path) -> Path:
    """An ffconcat list (under an audio file's name) naming the speech beside it."""
    segment = target.parent / f"{target.stem}-part.wav"
    segment.write_bytes(speech.read_bytes())
    target.write_text(f"ffconcat version 1.0\nfile {segment.name}\n")
    return target


def long_recording(target: Path, *, minutes: float, shared_audio: Path | None = None) -> Path:
    """Real speech of at least `minutes`, as one FLAC: numbered sections, each an
    espeak-ng sentence, then the recordings in `shared_audio` (../shared/audio) when it is
    there, with pauses between. Each section says its number, so no stretch repeats the one
    before (the model server drops repeated text as a decoding loop)."""
    from tests.conftest import SENTENCES, speak

    folder = target.parent / f"{target.stem}-parts"
    folder.mkdir(parents=True, exist_ok=True)

    def mono(source: Path) -> tuple[Path, float]:
        made = convert(source, folder / f"{source.stem}.16k.wav", "-ar", "16000", "-ac", "1")
        with wave.open(str(made)) as w:
            return made, w.getnframes() / w.getframerate()

    pause, _ = mono(lavfi(folder / "pause.wav", "anullsrc=r=16000:cl=mono", 1.0))
    found = sorted(shared_audio.glob("*.flac")) + sorted(shared_audio.glob("*.wav")) if shared_audio else []
    recordings = [mono(path) for path in found]
    sentences = list(SENTENCES.values())
    pieces: list[Path] = []
    seconds, number = 0.0, 0
    while seconds < minutes * 60:
        number += 1
        said = speak(f"Section {number}. {sentences[number % len(sentences)]}", folder / f"section-{number}.wav")
        for piece, length in [mono(said), *recordings]:
            pieces += [piece, pause]
            seconds += length + 1.0
    listing = folder / "list.txt"
    listing.write_text("".join(f"file '{piece.name}'\n" for piece in pieces))
    ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c:a", "flac", str(target))
    return target


# Two espeak-ng voices a person tells apart at once: a low male voice and a high female one
# (as tests/model_container/test_speakers.py uses them).
VOICES = {"low": ("en-us", 40), "high": ("en-us+f3", 80)}


def dialogue(target: Path, turns: list[tuple[str, str]], pause: float = 0.6) -> Path:
    """Turns (voice in VOICES, text) spoken one after the other, each followed by `pause`
    seconds of silence: a conversation with known turns, as one 16 kHz mono file."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    inputs, filters = [], []
    for n, (who, text) in enumerate(turns):
        part = target.with_name(f"{target.stem}-{n}-{who}.wav")
        name, pitch = VOICES[who]
        subprocess.run(["espeak-ng", "-v", name, "-p", str(pitch), "-s", "165", "-w", str(part), text],
                       check=True)
        inputs += ["-i", str(part)]
        filters.append(f"[{n}:a]aformat=sample_rates=16000:channel_layouts=mono,apad=pad_dur={pause}[a{n}]")
    joined = "".join(f"[a{n}]" for n in range(len(turns)))
    ffmpeg(*inputs, "-filter_complex", ";".join(filters) + f";{joined}concat=n={len(turns)}:v=0:a=1[out]",
           "-map", "[out]", str(target))
    return target
