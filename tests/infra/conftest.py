"""The CDK app synthesized once per session and shared: in this process with the default
context (the template most tests read), and once more through the pinned CDK command line
with `removal_policy=retain`, offline, as `make synth` runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
STACK_ID = "WhisperTranscription"
CDK_CLI = REPO / "node_modules" / ".bin" / "cdk"
NEEDS_CDK = "aws-cdk-lib and cdk-nag are not installed (pip install -r requirements.txt)"
# Read by the jsii runtime when aws_cdk is first imported: no warning about Node 20's end of life.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
# What the command-line synth test overrides, to see context arrive through the CLI.
CLI_CONTEXT = {"removal_policy": "retain", "max_instances": "3"}


def require_cdk() -> None:
    pytest.importorskip("aws_cdk", reason=NEEDS_CDK)
    pytest.importorskip("cdk_nag", reason=NEEDS_CDK)


@dataclass
class Synth:
    outdir: Path
    template: dict[str, Any]
    error: str | None  # why the synth failed (cdk-nag findings), else None
    app: Any = None
    stack: Any = None
    output: str = ""  # what the command line printed

    def read(self, name: str) -> Any:
        return json.loads((self.outdir / name).read_text())

    def resources(self, kind: str) -> dict[str, dict]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == kind}

    def acknowledgments(self) -> dict[str, dict[str, str]]:
        """Construct path -> {rule id: reason}, from the cloud assembly's metadata."""
        found: dict[str, dict[str, str]] = {}
        for path, entries in self.read(f"{STACK_ID}.metadata.json").items():
            for entry in entries:
                if entry["type"] == "aws:cdk:acknowledged-rules":
                    for key, reason in entry["data"].items():
                        found.setdefault(path, {})[key.split("::", 1)[1]] = reason
        return found


@pytest.fixture(scope="session")
def synth(tmp_path_factory) -> Synth:
    """The app as `infra/app.py` builds it, cdk.json's feature flags, default context."""
    require_cdk()
    from aws_cdk import App

    from infra.app import build, cdk_json_context

    outdir = tmp_path_factory.mktemp("cdk.out")
    app = App(context=cdk_json_context(), outdir=str(outdir))
    stack = build(app)
    error = None
    try:
        app.synth()
    except RuntimeError as exc:  # cdk-nag findings; the template is written all the same
        error = str(exc)
    template = json.loads((outdir / f"{STACK_ID}.template.json").read_text())
    return Synth(outdir=outdir, template=template, error=error, app=app, stack=stack)


@pytest.fixture(scope="session")
def template(synth):
    from aws_cdk.assertions import Template

    return Template.from_json(synth.template)


def offline_env(home: Path) -> dict[str, str]:
    """No AWS credentials or configuration, no metadata service, no telemetry or checks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env.update(
        HOME=str(home),
        AWS_CONFIG_FILE=str(home / "absent-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "absent-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        CDK_DISABLE_CLI_TELEMETRY="true",
        CDK_DISABLE_VERSION_CHECK="true",
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
    )
    return env


@pytest.fixture(scope="session")
def cli_synth(tmp_path_factory) -> Synth:
    """`cdk synth` with the pinned command line (npm ci), else `python infra/app.py` with the
    context the command line would pass; both offline."""
    require_cdk()
    outdir = tmp_path_factory.mktemp("cli.out")
    env = offline_env(tmp_path_factory.mktemp("home"))
    if CDK_CLI.exists() and shutil.which("node"):
        command = [str(CDK_CLI), "synth", "--no-notices", "--quiet", "--output", str(outdir)]
        for key, value in CLI_CONTEXT.items():
            command += ["--context", f"{key}={value}"]
        if not (REPO / ".venv" / "bin" / "python").exists():
            pytest.skip("cdk.json runs .venv/bin/python, and there is no .venv here")
    else:
        env.update(CDK_OUTDIR=str(outdir), CDK_CONTEXT_JSON=json.dumps(CLI_CONTEXT))
        command = [sys.executable, str(REPO / "infra" / "app.py")]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{output[-4000:]}"
    template = json.loads((outdir / f"{STACK_ID}.template.json").read_text())
    return Synth(outdir=outdir, template=template, error=None, output=output)
