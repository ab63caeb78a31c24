"""The jobs table, the outcome Lambda subscribed to both topics, and its failure queue."""

from __future__ import annotations

import zipfile

from .conftest import REPO, require_cdk

require_cdk()

from aws_cdk.assertions import Match  # noqa: E402


def one(synth, kind: str, prefix: str = "") -> tuple[str, dict]:
    [(logical_id, resource)] = [(k, v) for k, v in synth.resources(kind).items()
                                if k.startswith(prefix)]
    return logical_id, resource


def test_jobs_table_on_demand_with_recovery_and_ttl(template):
    template.resource_count_is("AWS::DynamoDB::Table", 1)
    template.has_resource_properties("AWS::DynamoDB::Table", {
        "KeySchema": [{"AttributeName": "job_id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "job_id", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
    })
    template.has_resource("AWS::DynamoDB::Table", {"DeletionPolicy": "Delete"})


def test_handler_function(synth, template):
    table_id, _ = one(synth, "AWS::DynamoDB::Table")
    log_group_id, _ = one(synth, "AWS::Logs::LogGroup", "ResultsHandlerLogs")
    bucket_id, _ = one(synth, "AWS::S3::Bucket", "StorageData")
    template.has_resource_properties("AWS::Lambda::Function", {
        "Runtime": "python3.12",
        "Handler": "handler.handler",
        # Items expire with the bucket's files (retention_days, default 30).
        "Environment": {"Variables": {
            "JOBS_TABLE_NAME": {"Ref": table_id}, "JOB_ITEM_TTL_DAYS": "30",
            # Notifications that point elsewhere are skipped (lambda/outcome_store.py).
            "OUTPUT_LOCATION_PREFIX": {"Fn::Join": ["", ["s3://", {"Ref": bucket_id}, "/outputs/"]]},
            "FAILURE_LOCATION_PREFIX": {"Fn::Join": ["", ["s3://", {"Ref": bucket_id}, "/failures/"]]},
            "STACK_NAME": "whisper-transcription"}},
        "LoggingConfig": {"LogGroup": {"Ref": log_group_id}},
    })
    template.has_resource_properties("AWS::Logs::LogGroup", {
        "RetentionInDays": 30, "LogGroupName": Match.absent()})


def test_handler_code_is_the_lambda_folder(synth):
    _, function = one(synth, "AWS::Lambda::Function", "ResultsHandler")
    asset_hash = function["Properties"]["Code"]["S3Key"].split(".")[0]
    source = synth.read("WhisperTranscription.assets.json")["files"][asset_hash]["source"]
    staged = synth.outdir / source["path"]
    names = ({p.name for p in staged.iterdir()} if staged.is_dir()
             else set(zipfile.ZipFile(staged).namelist()))
    assert "handler.py" in names
    assert {p.name for p in (REPO / "lambda").glob("*.py")} <= names
    assert "__pycache__" not in names


def test_handler_is_subscribed_to_both_topics(synth, template):
    function_id, _ = one(synth, "AWS::Lambda::Function", "ResultsHandler")
    queue_id, _ = one(synth, "AWS::SQS::Queue", "ResultsFailedEvents")
    topics = {k for k in synth.resources("AWS::SNS::Topic") if k.startswith("Notifications")}
    subscribed = set()
    for subscription in synth.resources("AWS::SNS::Subscription").values():
        props = subscription["Properties"]
        if props["Protocol"] == "lambda":
            assert props["Endpoint"] == {"Fn::GetAtt": [function_id, "Arn"]}
            assert props["RedrivePolicy"] == {
                "deadLetterTargetArn": {"Fn::GetAtt": [queue_id, "Arn"]}}
            subscribed.add(props["TopicArn"]["Ref"])
    assert subscribed == topics and len(topics) == 2
    invokers = [p["Properties"]["SourceArn"]["Ref"]
                for p in synth.resources("AWS::Lambda::Permission").values()
                if p["Properties"]["Principal"] == "sns.amazonaws.com"]
    assert sorted(invokers) == sorted(topics)


def test_failures_go_to_the_queue_after_two_retries(synth, template):
    queue_id, _ = one(synth, "AWS::SQS::Queue", "ResultsFailedEvents")
    template.has_resource_properties("AWS::Lambda::EventInvokeConfig", {
        "MaximumRetryAttempts": 2,
        "DestinationConfig": {"OnFailure": {
            "Destination": {"Fn::GetAtt": [queue_id, "Arn"]}}},
    })
    template.has_resource_properties("AWS::SQS::Queue", {
        "SqsManagedSseEnabled": True, "MessageRetentionPeriod": 14 * 24 * 3600})
    template.has_resource_properties("AWS::SQS::QueuePolicy", {
        "Queues": [{"Ref": queue_id}],
        "PolicyDocument": {"Statement": Match.array_with([Match.object_like({
            "Effect": "Deny",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}})])}})


def test_handler_role_updates_the_table_only(synth):
    """Exactly its one call (tests/infra/test_permissions.py records it)."""
    table_id, _ = one(synth, "AWS::DynamoDB::Table")
    _, policy = one(synth, "AWS::IAM::Policy", "ResultsHandlerRole")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    table = [s for s in statements if "dynamodb:UpdateItem" in s["Action"]]
    assert [(s["Action"], s["Resource"]) for s in table] == [
        ("dynamodb:UpdateItem", {"Fn::GetAtt": [table_id, "Arn"]})]
    assert all(s["Resource"] != "*" for s in statements)
