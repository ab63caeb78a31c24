"""The image build's model download (model_container/fetch_model.py): the first build takes
the repository's current commit and records it with the checksums; a build with a pin gets
that commit and refuses weights that differ. The hub is played by a function here."""

from __future__ import annotations

import fetch_model
import pytest
from fetch_model import Pin, PinMismatch, fetch

REPO_ID = "Systran/faster-whisper-large-v3"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


class FakeHub:
    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.downloads: list[str] = []

    def resolve(self, repo: str, revision: str) -> str:
        assert (repo, revision) == (REPO_ID, "main")
        return COMMIT

    def download(self, repo: str, revision: str, dest) -> None:
        self.downloads.append(revision)
        for name, data in self.files.items():
            (dest / name).write_bytes(data)


FILES = {"model.bin": b"weights", "config.json": b"{}", "tokenizer.json": b"{}"}


def test_the_first_build_records_the_commit_and_checksums(tmp_path, capsys):
    hub = FakeHub(FILES)
    pins = tmp_path / "pins"
    pin = fetch("large-v3", REPO_ID, tmp_path / "models" / "large-v3", pins_dir=pins,
                resolve=hub.resolve, download=hub.download)
    assert pin.revision == COMMIT and set(pin.sums) == set(FILES)
    assert "NOT PINNED YET" in capsys.readouterr().out
    # Beside the model in the image, for the deployer to copy into model-pins/.
    assert Pin.parse((tmp_path / "models" / "large-v3.sha256").read_text()) == pin
    assert not pins.exists()  # only --record writes there


def test_a_pinned_build_downloads_the_pinned_commit_and_checks_every_file(tmp_path):
    pins = tmp_path / "pins"
    first = fetch("large-v3", REPO_ID, tmp_path / "a", pins_dir=pins, record=True,
                  resolve=FakeHub(FILES).resolve, download=FakeHub(FILES).download)
    assert Pin.parse((pins / "large-v3.sha256").read_text()) == first

    hub = FakeHub(FILES)
    hub.resolve = lambda *_: pytest.fail("a pinned build does not ask for the newest commit")
    fetch("large-v3", REPO_ID, tmp_path / "b", pins_dir=pins, resolve=hub.resolve,
          download=hub.download)
    assert hub.downloads == [COMMIT]

    changed = FakeHub({**FILES, "model.bin": b"other weights"})
    with pytest.raises(PinMismatch, match="model.bin"):
        fetch("large-v3", REPO_ID, tmp_path / "c", pins_dir=pins, download=changed.download)
    with pytest.raises(PinMismatch, match="pins Systran/faster-whisper-large-v3"):
        fetch("large-v3", "someone/else", tmp_path / "d", pins_dir=pins,
              download=changed.download)


def test_the_pin_file_reads_as_sha256sum_writes_it():
    text = Pin(repo=REPO_ID, revision=COMMIT, sums={"model.bin": "ab" * 32}).text()
    assert text.splitlines()[-1] == f"{'ab' * 32}  model.bin"
    assert Pin.parse(text).sums == {"model.bin": "ab" * 32}


def test_the_allowed_files_are_those_faster_whisper_downloads():
    import inspect

    from faster_whisper import utils

    source = inspect.getsource(utils.download_model)
    assert all(f'"{pattern}"' in source for pattern in fetch_model.ALLOW_PATTERNS)
