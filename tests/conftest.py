"""Fixtures every part of the suite shares: real speech made with espeak-ng, the real
recordings in ../shared/audio when present, and ffmpeg conversions between formats."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_AUDIO = REPO.parent / "shared" / "audio"

# Sentences tiny.en transcribes reliably from espeak-ng's voice (see ../shared/facts.md).
SENTENCES = {
    "report": "Please send the report to John by Friday.",
    "window": "Open the file, save your changes and close the window.",
    "morning": "Good morning, how are you today?",
}


def words(text: str) -> list[str]:
    """Lowercase words without punctuation: what a person compares."""
    cleaned = "".join(c.lower() if c.isalnum() or c in " '" else " " for c in text)
    return cleaned.split()


def speak(text: str, target: Path, *, voice: str = "en-us") -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    subprocess.run(["espeak-ng", "-v", voice, "-s", "165", "-w", str(target), text], check=True)
    return target


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="session")
def report_wav(speech_dir) -> Path:
    return speak(SENTENCES["report"], speech_dir / "report.wav")


@pytest.fixture(scope="session")
def window_wav(speech_dir) -> Path:
    return speak(SENTENCES["window"], speech_dir / "window.wav")


@pytest.fixture(scope="session")
def shared_audio():
    """A real recording from ../shared/audio, or a skip that says why."""
    def get(name: str) -> Path:
        path = SHARED_AUDIO / name
        if not path.exists():
            pytest.skip(f"{path} is absent: the shared recordings are not beside this clone")
        return path
    return get


@pytest.fixture(scope="session")
def model_server(tmp_path_factory):
    """The real model server (tiny.en) for the web app's dispatcher and browser tests."""
    from devtools.servers import start_server

    server = start_server(tmp_path_factory.mktemp("serve"))
    yield server
    server.stop()
