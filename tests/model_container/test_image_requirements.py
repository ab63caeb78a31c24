"""The image installs what the tests run: requirements.lock pins the closure of the image's
Python dependencies at the versions installed here, and each image's requirements resolve,
from PyPI, for the image's platform (linux x86_64, CPython 3.11, glibc of Debian 12)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

CONTAINER = Path(__file__).resolve().parents[2] / "model_container"
LOCK = CONTAINER / "requirements.lock"
TOP_LEVEL = ("requirements.txt", "requirements-openai.txt")
# Installed with --no-deps (only the speaker model's weights are used): locked, and
# resolved for the image, without what they declare.
NO_DEPS = ("requirements-speakers.txt",)
# python:3.11.7-slim-bookworm: glibc 2.36, so any manylinux wheel up to 2_36.
PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(36, 16, -1)] + [
    "manylinux2014_x86_64"]
MARKERS = {"python_version": "3.11", "python_full_version": "3.11.7", "sys_platform": "linux",
           "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
           "platform_python_implementation": "CPython", "implementation_name": "cpython",
           "extra": ""}
PYPI = "https://pypi.org/simple"
# The images, as the Dockerfile installs them (torch apart: it comes from PyTorch's index).
IMAGES = {
    "cpu, faster-whisper": ["requirements.txt"],
    "gpu, faster-whisper": ["requirements.txt", "requirements-gpu.txt"],
    "openai-whisper": ["requirements.txt", "requirements-openai.txt"],
}


def requirement_names(filename: str) -> list[str]:
    names = []
    for line in (CONTAINER / filename).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.append(Requirement(line).name)
    return names


def closure() -> dict[str, str]:
    """Every package the top-level requirements need on the image's platform, with the
    version installed here."""
    found: dict[str, str] = {}
    todo = [name for f in TOP_LEVEL for name in requirement_names(f)]
    while todo:
        name = canonicalize_name(todo.pop())
        if name in found:
            continue
        dist = distribution(name)
        found[name] = dist.version
        for raw in dist.requires or []:
            requirement = Requirement(raw)
            if requirement.marker is None or requirement.marker.evaluate(MARKERS):
                todo.append(requirement.name)
    for name in (name for f in NO_DEPS for name in requirement_names(f)):
        found[canonicalize_name(name)] = distribution(name).version
    return dict(sorted(found.items()))


def locked() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_the_lock_pins_what_the_tests_run():
    try:
        expected = closure()
    except PackageNotFoundError as missing:
        pytest.skip(f"the test environment lacks {missing}: pip install -r requirements.txt")
    if locked() != expected:
        print("\n".join(f"{name}=={version}" for name, version in expected.items()))
    assert locked() == expected, "regenerate model_container/requirements.lock (printed above)"


def test_every_image_requirements_file_is_constrained_by_the_lock():
    for filename in TOP_LEVEL + NO_DEPS:
        assert "-c requirements.lock" in (CONTAINER / filename).read_text().splitlines()
    pins = locked()
    for filename in TOP_LEVEL + NO_DEPS:
        for line in (CONTAINER / filename).read_text().splitlines():
            line = line.split("#")[0].strip()
            if line and not line.startswith("-"):
                requirement = Requirement(line)
                assert requirement.specifier.contains(pins[canonicalize_name(requirement.name)])


def index_reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/pip/", timeout=15):
            return True
    except OSError:
        return False


def pip_dry_run(files: list[str], report: Path, *, no_deps: bool = False) -> dict[str, str]:
    """What pip would install from PyPI for the image's platform: {name: version}."""
    command = [sys.executable, "-m", "pip", "install", "--isolated", "--dry-run",
               "--ignore-installed", "--quiet", "--report", str(report),
               "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",
               "--abi", "cp311", "--index-url", PYPI]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    if no_deps:
        command.append("--no-deps")
    for filename in files:
        command += ["-r", filename]
    # Only PyPI, as on the deployer's machine: no local wheel folders or constraints.
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    env = {k: v for k, v in env.items() if not k.startswith("PIP_") or k == "PIP_CONFIG_FILE"}
    done = subprocess.run(command, cwd=CONTAINER, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    installed = json.loads(report.read_text())["install"]
    return {canonicalize_name(i["metadata"]["name"]): i["metadata"]["version"] for i in installed}


@pytest.mark.parametrize("image", list(IMAGES))
def test_the_image_requirements_resolve_for_its_platform(image, tmp_path):
    if not index_reachable(PYPI):
        pytest.skip(f"{PYPI} is unreachable: cannot check that the image's wheels exist")
    resolved = pip_dry_run(IMAGES[image], tmp_path / "report.json")
    # The image gets the versions the tests run, and nothing the lock does not hold
    # (besides the GPU image's CUDA libraries).
    pins = locked()
    extra = {n: v for n, v in resolved.items() if n not in pins}
    assert {n: v for n, v in resolved.items() if n in pins} == {n: pins[n] for n in resolved
                                                                if n in pins}
    if "requirements-gpu.txt" in IMAGES[image]:
        assert set(extra) >= {"nvidia-cublas-cu12", "nvidia-cudnn-cu12"}
        assert all(name.startswith("nvidia-") for name in extra), extra
    else:
        assert not extra, extra
    assert "torch" not in resolved and not any(n.startswith("nvidia-") for n in resolved
                                               if "requirements-gpu.txt" not in IMAGES[image])


def test_the_speaker_model_installs_alone_at_the_locked_version(tmp_path):
    """Every image installs requirements-speakers.txt with --no-deps: a wheel for the image,
    the locked version, and nothing else (no torch, no librosa, no webrtcvad)."""
    if not index_reachable(PYPI):
        pytest.skip(f"{PYPI} is unreachable: cannot check that the image's wheels exist")
    resolved = pip_dry_run(list(NO_DEPS), tmp_path / "report.json", no_deps=True)
    pins = locked()
    assert resolved == {name: pins[name] for name in resolved}
    assert set(resolved) == {canonicalize_name(n) for f in NO_DEPS for n in requirement_names(f)}
