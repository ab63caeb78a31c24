#!/usr/bin/env python3
"""CDK entry point (cdk.json: `.venv/bin/python infra/app.py`). The only module that reads
CDK context; the keys and their defaults are in infra/config.py and docs/deploy-aws.md.

    npx cdk synth                       # offline: no credentials, no Docker
    npx cdk deploy -c max_instances=4 -c removal_policy=retain
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

# `python infra/app.py` puts infra/ first on sys.path, where its modules (config, stack...)
# would shadow top-level names; the package is imported from the repository root instead.
HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from aws_cdk import App, Environment  # noqa: E402

from infra.config import ConfigError, InfraConfig  # noqa: E402
from infra.nag import add_checks  # noqa: E402
from infra.stack import TranscriptionStack  # noqa: E402

STACK_ID = "WhisperTranscription"  # the construct id: cdk.out/WhisperTranscription.template.json


def cdk_json_context() -> dict:
    """The feature flags in cdk.json. The CLI passes them itself (and its -c values win);
    reading them here makes `python infra/app.py` and the tests synthesize the same thing."""
    with open(REPO_ROOT / "cdk.json", encoding="utf-8") as f:
        return json.load(f).get("context", {})


def web_environment() -> Environment:
    """The web tier's load balancer logs need the region at synth time (the log-delivery
    principal differs per region): the one the CDK command line resolved from the profile."""
    region = os.environ.get("CDK_DEFAULT_REGION") or os.environ.get("AWS_REGION")
    if not region:
        raise ConfigError("web=true needs the region at synth time: set AWS_REGION or a "
                          "profile with a region (aws configure)")
    return Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=region)


def build(app: App, env: Environment | None = None) -> TranscriptionStack:
    """The stack on `app`, configured from the app's context, with the cdk-nag checks;
    `env` (tests) stands for the account and region the command line would resolve."""
    config = InfraConfig.from_context(
        {key: app.node.try_get_context(key) for key in InfraConfig.keys()})
    if config.web and env is None:
        env = web_environment()
    stack = TranscriptionStack(app, STACK_ID, config=config, env=env,
                               container_dir=REPO_ROOT / "model_container",
                               handler_dir=REPO_ROOT / "lambda")
    add_checks(app)
    return stack


def main() -> None:
    app = App(context=cdk_json_context())
    build(app)
    app.synth()


if __name__ == "__main__":
    try:
        main()
    except ConfigError as exc:  # a wrong context value: its message, not a traceback
        sys.exit(f"cdk synth: {exc}")
