#!/usr/bin/env python3
"""Put a Whisper model (CTranslate2 format) from the Hugging Face hub into a folder, pinned.

Run by the image build (model_container/Dockerfile), where there is internet; the server
itself never downloads. The pin is model-pins/NAME.sha256: the repository, the commit, and
the SHA-256 of every file, in `sha256sum` format:

    # repo: Systran/faster-whisper-large-v3
    # revision: <40-hex commit>
    <sha256>  config.json
    ...

With a pin, the build downloads that commit and refuses any file whose checksum differs.
Without one (the first build of a model), it takes the repository's current commit and
writes the pin it used beside the model folder (DEST.sha256) and into the build log: copy
it to model_container/model-pins/NAME.sha256 and commit it. `--record` writes it there
directly (a machine with internet, outside Docker):

    python model_container/fetch_model.py --name large-v3 \\
        --repo Systran/faster-whisper-large-v3 --dest /tmp/large-v3 --record

Imports only the standard library and huggingface_hub (a dependency of faster-whisper).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# The files faster-whisper itself downloads for a model (faster_whisper.utils.download_model).
ALLOW_PATTERNS = ["config.json", "preprocessor_config.json", "model.bin", "tokenizer.json",
                  "vocabulary.*"]
HERE = Path(__file__).resolve().parent
PINS_DIR = HERE / "model-pins"


class PinMismatch(RuntimeError):
    pass


@dataclass(frozen=True)
class Pin:
    repo: str
    revision: str
    sums: dict[str, str]  # file name -> sha256

    def text(self) -> str:
        lines = [f"# repo: {self.repo}", f"# revision: {self.revision}"]
        lines += [f"{digest}  {name}" for name, digest in sorted(self.sums.items())]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str) -> Pin:
        repo = revision = ""
        sums: dict[str, str] = {}
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("# repo:"):
                repo = line.split(":", 1)[1].strip()
            elif line.startswith("# revision:"):
                revision = line.split(":", 1)[1].strip()
            elif line and not line.startswith("#"):
                digest, name = line.split(maxsplit=1)
                sums[name.lstrip("*")] = digest
        if not (repo and revision and sums):
            raise ValueError("a pin needs '# repo:', '# revision:' and at least one checksum")
        return cls(repo=repo, revision=revision, sums=sums)


def checksums(folder: Path) -> dict[str, str]:
    found = {}
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(16 * 1024 * 1024), b""):
                digest.update(block)
        found[path.name] = digest.hexdigest()
    return found


def verify(folder: Path, pin: Pin) -> None:
    found = checksums(folder)
    if found != pin.sums:
        changed = sorted(n for n in set(found) | set(pin.sums) if found.get(n) != pin.sums.get(n))
        raise PinMismatch(f"{pin.repo}@{pin.revision}: these files differ from the pin: "
                          f"{', '.join(changed)}")


def hub_resolve(repo: str, revision: str) -> str:
    from huggingface_hub import HfApi

    return HfApi().model_info(repo, revision=revision).sha


def hub_download(repo: str, revision: str, dest: Path) -> None:
    from huggingface_hub import snapshot_download

    snapshot_download(repo, revision=revision, local_dir=str(dest), allow_patterns=ALLOW_PATTERNS)
    shutil.rmtree(dest / ".cache", ignore_errors=True)  # the hub client's bookkeeping


def fetch(name: str, repo: str, dest: Path, *, pins_dir: Path = PINS_DIR, record: bool = False,
          resolve: Callable[[str, str], str] = hub_resolve,
          download: Callable[[str, str, Path], None] = hub_download) -> Pin:
    """Download `repo` into `dest` at the pinned commit and check it; without a pin, at the
    current commit, and say so. Returns the pin that holds for `dest`."""
    pin_path = pins_dir / f"{name}.sha256"
    pinned = Pin.parse(pin_path.read_text()) if pin_path.is_file() else None
    if pinned is not None and pinned.repo != repo:
        raise PinMismatch(f"{pin_path} pins {pinned.repo}, not {repo}: remove it to re-pin")
    revision = pinned.revision if pinned else resolve(repo, "main")
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    download(repo, revision, dest)
    if pinned is not None:
        verify(dest, pinned)
        pin = pinned
        print(f"{name}: {repo}@{revision}, every file matches {pin_path.name}")
    else:
        pin = Pin(repo=repo, revision=revision, sums=checksums(dest))
        print(f"{name}: NOT PINNED YET; took {repo}@{revision}. To pin it, save this as "
              f"model_container/model-pins/{name}.sha256 and commit it:\n{pin.text()}")
        if record:
            pins_dir.mkdir(parents=True, exist_ok=True)
            pin_path.write_text(pin.text())
            print(f"written: {pin_path}")
    dest.with_name(f"{dest.name}.sha256").write_text(pin.text())
    return pin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True, help="the model's name (large-v3, ...)")
    parser.add_argument("--repo", required=True, help="its hub repository (CTranslate2 format)")
    parser.add_argument("--dest", required=True, type=Path, help="the folder to fill")
    parser.add_argument("--pins", type=Path, default=PINS_DIR, help="the folder of pins")
    parser.add_argument("--record", action="store_true",
                        help="without a pin, write the one taken into --pins")
    args = parser.parse_args(argv)
    try:
        fetch(args.name, args.repo, args.dest, pins_dir=args.pins, record=args.record)
    except PinMismatch as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
