"""The synth as a whole: cdk-nag (AwsSolutions) finds nothing unacknowledged, cfn-lint is
clean, and the pinned command line synthesizes offline with context from `-c`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CLI_CONTEXT, STACK_ID, require_cdk

require_cdk()

# Every acknowledged cdk-nag finding, by construct path. A new one is a decision: add it here.
EXPECTED_ACKNOWLEDGMENTS = {
    f"/{STACK_ID}/Results/FailedEvents": {"AwsSolutions-SQS3"},
    f"/{STACK_ID}/Results/Handler": {"AwsSolutions-L1"},
    f"/{STACK_ID}/Inference/ExecutionPolicy": {
        "AwsSolutions-IAM5[Resource::*]",
        "AwsSolutions-IAM5[Resource::<StorageData6BB23F4E.Arn>/inputs/*]",
        "AwsSolutions-IAM5[Resource::<StorageData6BB23F4E.Arn>/outputs/*]",
        "AwsSolutions-IAM5[Resource::<StorageData6BB23F4E.Arn>/failures/*]"},
    f"/{STACK_ID}/AppPolicy": {
        "AwsSolutions-IAM5[Resource::*]",
        "AwsSolutions-IAM5[Resource::<StorageData6BB23F4E.Arn>/inputs/*]",
        "AwsSolutions-IAM5[Resource::<StorageData6BB23F4E.Arn>/outputs/*]",
        "AwsSolutions-IAM5[Resource::<StorageData6BB23F4E.Arn>/failures/*]"},
}
# W3005: CDK writes DependsOn next to a Ref/GetAtt that already orders the resources.
CFN_LINT_IGNORED = ["W3005"]


def test_cdk_nag_reports_no_unacknowledged_finding(synth):
    assert synth.error is None, f"synth failed: {synth.error}"
    report = synth.outdir / "validation-report.json"
    if report.exists():
        assert synth.read("validation-report.json")["pluginReports"] == []


def test_cdk_nag_checks_the_whole_app_directly(synth):
    from cdk_nag import AwsSolutionsChecks

    report = AwsSolutionsChecks().validate_scope(synth.app)
    assert [v.rule_name for v in report.violations] == []
    assert report.success


def test_cdk_nag_plugin_fails_the_synth_on_a_finding(tmp_path):
    """The control: the same checks, on a bucket that allows plain HTTP, stop the synth."""
    from aws_cdk import App, Stack
    from aws_cdk import aws_s3 as s3

    from infra.app import cdk_json_context
    from infra.nag import add_checks

    app = App(context=cdk_json_context(), outdir=str(tmp_path))
    s3.Bucket(Stack(app, "Control"), "PlainHttp")
    add_checks(app)
    with pytest.raises(RuntimeError, match="ValidationFailed") as failed:
        app.synth()
    assert "AwsSolutions-S10" in str(failed.value)
    assert "AwsSolutions-S10" in (tmp_path / "validation-report.json").read_text()


def test_every_acknowledgment_is_expected_and_explained(synth):
    found = synth.acknowledgments()
    assert {path: set(rules) for path, rules in found.items()} == EXPECTED_ACKNOWLEDGMENTS
    for rules in found.values():
        for rule, reason in rules.items():
            assert len(reason) >= 80, f"{rule}: the reason says too little: {reason!r}"


def test_cfn_lint_is_clean(synth):
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    if not cfn_lint.exists():
        pytest.skip("cfn-lint is not installed (pip install -r requirements.txt)")
    template = synth.outdir / f"{STACK_ID}.template.json"
    done = subprocess.run(
        [str(cfn_lint), "--regions", "us-east-1", "eu-west-1", "--ignore-checks",
         *CFN_LINT_IGNORED, "--", str(template)],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_cli_synth_works_offline_and_takes_context(cli_synth):
    """`cdk synth -c removal_policy=retain -c max_instances=3` (what `make synth` runs)."""
    assert cli_synth.template["Resources"]
    [target] = [r for r in cli_synth.template["Resources"].values()
                if r["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"]
    assert target["Properties"]["MaxCapacity"] == int(CLI_CONTEXT["max_instances"])
    [image] = cli_synth.read(f"{STACK_ID}.assets.json")["dockerImages"].values()
    assert (cli_synth.outdir / image["source"]["directory"] / "Dockerfile").exists()


def test_retain_keeps_the_data_when_the_stack_goes(cli_synth):
    resources = cli_synth.template["Resources"]
    kept = {"AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::Logs::LogGroup"}
    for logical_id, resource in resources.items():
        if resource["Type"] in kept:
            assert resource.get("DeletionPolicy") == "Retain", logical_id
            assert resource.get("UpdateReplacePolicy") == "Retain", logical_id
    assert not [r for r in resources.values() if r["Type"] == "Custom::S3AutoDeleteObjects"]
    [table] = [r for r in resources.values() if r["Type"] == "AWS::DynamoDB::Table"]
    assert table["Properties"]["DeletionProtectionEnabled"] is True


def test_destroy_is_the_default(synth):
    kept = {"AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::Logs::LogGroup"}
    for logical_id, resource in synth.template["Resources"].items():
        if resource["Type"] in kept:
            assert resource.get("DeletionPolicy") == "Delete", logical_id
    [table] = synth.resources("AWS::DynamoDB::Table").values()
    assert table["Properties"].get("DeletionProtectionEnabled") in (None, False)
