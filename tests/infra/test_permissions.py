"""Every role holds exactly the actions it uses: the AWS calls the web app and the results
Lambda make (recorded under moto while their flows run) against the synthesized policies;
who may publish to the notification topics; '*' resources anywhere in the stack."""

from __future__ import annotations

import contextlib
import json
import sys
from datetime import timedelta

import boto3
import botocore.client
import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone
from moto import mock_aws

from devtools.servers import CONTAINER
from tests.aws_doubles import sagemaker_endpoint
from tests.lambda_fn import conftest as lambda_fixtures
from tests.lambda_fn.conftest import load_handler_module, notification, sns_event
from tests.transcripts.conftest import upload
from transcripts import services
from transcripts.backends import _backend, get_backend
from transcripts.models import Job
from transcripts.workers.outcome_sync import OutcomeSync
from webapp.settings import s3_storage

from .conftest import require_cdk

require_cdk()

# Actions without resource-level permissions: the only ones allowed on "*".
NO_RESOURCE_LEVEL = {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData",
                     "cloudwatch:GetMetricStatistics"}
REGION, BUCKET, TABLE, ENDPOINT = "us-east-1", "transcripts-permissions", "jobs", "whisper-permissions"
# The IAM actions a boto3 operation needs, beyond the one of the same name. A call that is
# not listed here or in SAME_NAME fails the test: map it before the app makes it.
S3_ACTIONS = {
    "PutObject": {"s3:PutObject"},
    # s3transfer aborts a multipart upload that fails half way.
    "CreateMultipartUpload": {"s3:PutObject", "s3:AbortMultipartUpload"},
    "UploadPart": {"s3:PutObject"},
    "CompleteMultipartUpload": {"s3:PutObject"},
    "AbortMultipartUpload": {"s3:AbortMultipartUpload"},
    "GetObject": {"s3:GetObject"},  # also the signed URLs the app hands out
    # HeadObject needs s3:GetObject; without s3:ListBucket a missing object answers 403, not 404.
    "HeadObject": {"s3:GetObject", "s3:ListBucket"},
    "DeleteObject": {"s3:DeleteObject"},
    "ListObjectsV2": {"s3:ListBucket"},
}
SAME_NAME = {"sagemaker-runtime": "sagemaker", "sagemaker": "sagemaker", "dynamodb": "dynamodb",
             "cloudwatch": "cloudwatch"}
RESOURCE_OF = {"sagemaker": "endpoint", "dynamodb": "table", "cloudwatch": "*"}
BIG_UPLOAD_BYTES = 9 * 1024 * 1024  # above boto3's 8 MB multipart threshold
jobs_table, lambda_handler = lambda_fixtures.jobs_table, lambda_fixtures.lambda_handler


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def all_statements(synth):
    for logical_id, resource in synth.template["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents = [props["PolicyDocument"]]
        elif resource["Type"] == "AWS::IAM::Role":
            documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
        else:
            continue
        for document in documents:
            for statement in document["Statement"]:
                yield logical_id, statement


def one(synth, kind: str, prefix: str) -> tuple[str, dict]:
    [(logical_id, resource)] = [(k, v) for k, v in synth.resources(kind).items()
                                if k.startswith(prefix)]
    return logical_id, resource


def app_policy(synth) -> dict:
    [policy] = [p for p in synth.resources("AWS::IAM::ManagedPolicy").values()
                if "Web app access" in p["Properties"].get("Description", "")]
    return policy


def granted(synth, statements) -> set[tuple[str, str]]:
    """(action, resource) pairs, resources named as the recorded calls name them: a bucket
    prefix ("inputs/"), "bucket", "table", "endpoint", "queue", "logs", a topic id, or "*"."""
    bucket, _ = one(synth, "AWS::S3::Bucket", "StorageData")
    table, _ = one(synth, "AWS::DynamoDB::Table", "Results")
    endpoint, _ = one(synth, "AWS::SageMaker::Endpoint", "Inference")
    queue, _ = one(synth, "AWS::SQS::Queue", "ResultsFailedEvents")
    log_group, _ = one(synth, "AWS::Logs::LogGroup", "ResultsHandlerLogs")
    names = {json.dumps(value, sort_keys=True): name for value, name in [
        ({"Fn::GetAtt": [bucket, "Arn"]}, "bucket"),
        ({"Fn::GetAtt": [table, "Arn"]}, "table"),
        ({"Ref": endpoint}, "endpoint"),
        ({"Fn::GetAtt": [queue, "Arn"]}, "queue"),
        ({"Fn::GetAtt": [log_group, "Arn"]}, "logs"),
        *(({"Fn::Join": ["", [{"Fn::GetAtt": [bucket, "Arn"]}, f"/{prefix}*"]]}, prefix)
          for prefix in ("inputs/", "outputs/", "failures/")),
        *(({"Ref": topic}, topic) for topic in synth.resources("AWS::SNS::Topic")),
    ]}
    pairs = set()
    for statement in statements:
        assert statement["Effect"] == "Allow" and "Condition" not in statement
        for action in as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
                key = json.dumps(resource, sort_keys=True)
                pairs.add((action, "*" if resource == "*" else names.get(key, key)))
    return pairs


def needed(calls) -> set[tuple[str, str]]:
    """The (action, resource) pairs the recorded boto3 calls need."""
    pairs = set()
    for service, operation, params in calls:
        if service == "s3":
            if operation not in S3_ACTIONS:
                pytest.fail(f"the app calls s3 {operation}: add its IAM actions to S3_ACTIONS")
            assert params["Bucket"] == BUCKET, params
            prefix = params.get("Key", "").split("/", 1)[0] + "/"
            pairs.update((action, "bucket" if action == "s3:ListBucket" else prefix)
                         for action in S3_ACTIONS[operation])
        elif service in SAME_NAME:
            iam_service = SAME_NAME[service]
            pairs.add((f"{iam_service}:{operation}", RESOURCE_OF[iam_service]))
        else:
            pytest.fail(f"the app calls {service} {operation}: map it to its IAM actions")
    return pairs


class Calls:
    """Every boto3 call (service, operation, parameters), signed URLs included."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict]] = []
        self.on = True

    @contextlib.contextmanager
    def recording(self):
        """Inside `paused`: record this part."""
        self.on = True
        try:
            yield
        finally:
            self.on = False

    @contextlib.contextmanager
    def paused(self):
        """For the parts the test plays itself (SageMaker, the Lambda)."""
        self.on = False
        try:
            yield
        finally:
            self.on = True


@pytest.fixture
def calls(monkeypatch) -> Calls:
    recorder = Calls()
    original = botocore.client.BaseClient._emit_api_params

    def emit(self, api_params, operation_model, context):
        if recorder.on:
            recorder.seen.append((self.meta.service_model.service_name, operation_model.name,
                                  dict(api_params)))
        return original(self, api_params=api_params, operation_model=operation_model,
                        context=context)

    monkeypatch.setattr(botocore.client.BaseClient, "_emit_api_params", emit)
    return recorder


@pytest.fixture
def aws_app(settings, monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        boto3.resource("dynamodb", region_name=REGION).create_table(
            TableName=TABLE, KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST")
        sagemaker_endpoint(ENDPOINT, region=REGION)
        settings.TRANSCRIBE_BACKEND = "aws"
        settings.AWS_REGION = REGION
        settings.AWS_STORAGE_BUCKET_NAME, settings.JOBS_TABLE_NAME = BUCKET, TABLE
        settings.SAGEMAKER_ENDPOINT_NAME = ENDPOINT
        settings.STORAGES = {**settings.STORAGES, "default": s3_storage(BUCKET, REGION)}
        _backend.cache_clear()
        yield
        _backend.cache_clear()


def put(key: str, body: bytes) -> str:
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=key, Body=body)
    return f"s3://{BUCKET}/{key}"


@pytest.mark.django_db(transaction=True)
def test_the_app_policy_allows_exactly_the_calls_the_web_app_makes(synth, aws_app, calls, client,
                                                                   django_user_model, report_wav):
    """Every AWS flow of the web app, recorded: upload (small and multipart), submit, the
    outcome sync (completed, failed), the reconciler (output, failure), playback, download,
    deletion, the capacity page."""
    alice = django_user_model.objects.create_user("alice", password="pw-alice-1234")
    completed = upload(client, alice, report_wav)
    failed, lost_output, lost_failure = (
        services.job_create(owner=alice, upload=ContentFile(body, name=name), original_name=name,
                            options={})
        for name, body in (("big.wav", b"\0" * BIG_UPLOAD_BYTES), ("b.wav", b"RIFF"),
                           ("c.wav", b"RIFF")))
    table = boto3.resource("dynamodb", region_name=REGION).Table(TABLE)
    result = json.dumps({"text": "hello world", "segments": [], "language": "en"}).encode()
    error = json.dumps({"error": "no audio stream found in this file"}).encode()
    with calls.paused():  # SageMaker and the results Lambda
        for job, item in (
                (completed, {"status": "completed", "output_location": put("outputs/a.out", result)}),
                (failed, {"status": "failed", "failure_reason": "ClientError: (422)",
                          "failure_location": put("failures/b-error.out", error)})):
            table.put_item(Item={"job_id": str(job.public_id), "rank": 3, **item})
        long_ago = timezone.now() - timedelta(hours=12)
        Job.objects.filter(pk=lost_output.pk).update(
            submitted_at=long_ago, remote_output=put("outputs/c.out", result),
            remote_failure=f"s3://{BUCKET}/failures/c-error.out")
        Job.objects.filter(pk=lost_failure.pk).update(
            submitted_at=long_ago, remote_output=f"s3://{BUCKET}/outputs/d.out",
            remote_failure=put("failures/d-error.out", error))

    sync = OutcomeSync()
    assert sync.sync_outcomes() == 2
    assert sync.reconcile() == 2
    statuses = {job.pk: job.status for job in Job.objects.all()}
    assert statuses == {completed.pk: "completed", failed.pk: "failed",
                        lost_output.pk: "completed", lost_failure.pk: "failed"}
    assert client.get(reverse("job-audio", args=[completed.public_id])).status_code == 302
    assert client.get(reverse("job-download", args=[completed.public_id, "srt"])).status_code == 200
    assert client.post(reverse("job-delete", args=[completed.public_id])).status_code == 302
    assert get_backend().capacity()["available"]

    operations = {(service, operation) for service, operation, _ in calls.seen}
    assert {("s3", "CreateMultipartUpload"), ("s3", "HeadObject"),
            ("cloudwatch", "GetMetricStatistics")} <= operations  # the flows ran
    assert needed(calls.seen) == granted(synth, app_policy(synth)["Properties"]["PolicyDocument"][
        "Statement"])


def test_the_handler_role_allows_exactly_the_calls_the_lambda_makes(synth, lambda_handler, jobs_table,
                                                                    calls, monkeypatch):
    monkeypatch.setattr(load_handler_module(), "_table", None)
    success, failure = notification("success"), notification("failure")
    assert lambda_handler(sns_event(notification("test-notification"), success, failure,
                                    notification("expired"), success), None)["recorded"] == 3
    assert {(service, operation) for service, operation, _ in calls.seen} == {
        ("dynamodb", "UpdateItem")}

    _, policy = one(synth, "AWS::IAM::Policy", "ResultsHandlerRole")
    assert granted(synth, policy["Properties"]["PolicyDocument"]["Statement"]) == {
        *needed(calls.seen),
        # The Lambda service itself, as the role: its logs and the on-failure destination.
        ("logs:CreateLogStream", "logs"), ("logs:PutLogEvents", "logs"),
        ("sqs:SendMessage", "queue")}
    _, role = one(synth, "AWS::IAM::Role", "ResultsHandlerRole")
    assert "ManagedPolicyArns" not in role["Properties"]  # no AWSLambdaBasicExecutionRole
    assert "Policies" not in role["Properties"]


def test_the_endpoint_role_reads_inputs_writes_results_and_publishes_outcomes_only(synth):
    """SageMaker's calls cannot be recorded here; what the stack grants it is exactly this."""
    _, policy = one(synth, "AWS::IAM::Policy", "InferenceExecutionPolicy")
    topics = {k for k in synth.resources("AWS::SNS::Topic") if k.startswith("Notifications")}
    pairs = granted(synth, [s for s in policy["Properties"]["PolicyDocument"]["Statement"]
                            if s["Sid"] != "ReportProgress"])  # the next test's
    assert {(a, r) for a, r in pairs if a.split(":")[0] in ("s3", "sns")} == {
        ("s3:GetObject", "inputs/"),
        ("s3:PutObject", "outputs/"), ("s3:PutObject", "failures/"),
        ("s3:AbortMultipartUpload", "outputs/"), ("s3:AbortMultipartUpload", "failures/"),
        *(("sns:Publish", topic) for topic in topics)}


def test_the_endpoint_role_may_write_only_the_progress_the_container_writes(synth, calls, monkeypatch):
    """The container's progress writes (whisper_server/progress.py), recorded under moto:
    the policy allows UpdateItem of the jobs table naming exactly their attributes."""
    sys.path.insert(0, str(CONTAINER))
    from whisper_server.progress import DynamoDBSink

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    segment = {"id": 0, "start": 0.0, "end": 4.0, "text": "words " * 50}
    with mock_aws(), calls.paused():
        table = boto3.resource("dynamodb", region_name=REGION).create_table(
            TableName=TABLE, KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST")
        table.put_item(Item={"job_id": "j-1", "status": "processing", "rank": 2})
        with calls.recording():
            sink = DynamoDBSink(lambda: table, "j-1", min_interval=0, max_partial_bytes=1024)
            for seconds in (1.0, 2.0, 30.0, 60.0):  # the partial transcript, then too big for the item
                sink.send({"stage": "transcribing", "seconds_done": seconds, "duration": 60.0,
                           "segments_from": 0.0, "segments": [segment] * int(seconds / 10 + 1)})
            table.update_item(Key={"job_id": "j-1"}, UpdateExpression="SET #s = :s",
                              ExpressionAttributeNames={"#s": "status"},
                              ExpressionAttributeValues={":s": "completed"})
            sink.send({"stage": "transcribing", "seconds_done": 61.0, "duration": 60.0,
                       "segments_from": None, "segments": []})  # refused: the job is done
        assert sink.writes == 4 and sink.refused == 1 and sink.truncated
    assert {(service, operation) for service, operation, _ in calls.seen} == {("dynamodb", "UpdateItem")}
    named = set()
    for _, _, params in calls.seen:
        assert params["TableName"] == TABLE and params.get("ReturnValues", "NONE") == "NONE"
        named |= set(params["Key"]) | set(params.get("ExpressionAttributeNames", {}).values())

    _, policy = one(synth, "AWS::IAM::Policy", "InferenceExecutionPolicy")
    [statement] = [s for s in policy["Properties"]["PolicyDocument"]["Statement"]
                   if s["Sid"] == "ReportProgress"]
    table_id, _ = one(synth, "AWS::DynamoDB::Table", "Results")
    assert statement["Action"] == "dynamodb:UpdateItem"
    assert statement["Resource"] == {"Fn::GetAtt": [table_id, "Arn"]}
    condition = statement["Condition"]
    # Top-level attributes only (IAM's dynamodb:Attributes): progress.seconds_done is progress.
    assert set(condition["ForAllValues:StringEquals"]["dynamodb:Attributes"]) == \
        named - {"seconds_done"} and "rank" not in named
    assert condition["StringEqualsIfExists"] == {"dynamodb:ReturnValues": "NONE"}


def test_only_the_endpoint_role_may_publish_to_the_notification_topics(synth):
    role, _ = one(synth, "AWS::IAM::Role", "InferenceExecutionRole")
    topics = {k for k in synth.resources("AWS::SNS::Topic") if k.startswith("Notifications")}
    guarded = set()
    for policy in synth.resources("AWS::SNS::TopicPolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement.get("Sid") == "PublishOnlyByTheEndpoint":
                assert statement["Effect"] == "Deny" and statement["Action"] == "sns:Publish"
                assert statement["Principal"] == {"AWS": "*"}
                assert statement["Condition"] == {"ArnNotEquals": {
                    "aws:PrincipalArn": {"Fn::GetAtt": [role, "Arn"]}}}
                guarded.update(t["Ref"] for t in policy["Properties"]["Topics"])
    assert guarded == topics and len(topics) == 2
    # And no other identity policy of the stack allows publishing to them.
    publishers = {logical_id for logical_id, statement in all_statements(synth)
                  if statement["Effect"] == "Allow"
                  and "sns:Publish" in as_list(statement["Action"])
                  and {r.get("Ref") for r in as_list(statement["Resource"])
                       if isinstance(r, dict)} & topics}
    assert {p for p in publishers} == {one(synth, "AWS::IAM::Policy", "InferenceExecutionPolicy")[0]}


def test_app_policy_is_attached_to_nothing(synth):
    """The deployer attaches it to the web app's own role or user (docs/deploy-aws.md)."""
    assert not {"Roles", "Users", "Groups"} & set(app_policy(synth)["Properties"])


def test_no_wildcard_resource_except_where_aws_allows_none(synth):
    offenders = [(logical_id, statement["Action"])
                 for logical_id, statement in all_statements(synth)
                 if "*" in as_list(statement.get("Resource", []))
                 and not set(as_list(statement["Action"])) <= NO_RESOURCE_LEVEL]
    assert offenders == []


def test_no_wildcard_actions_on_s3_sns_or_sagemaker(synth):
    offenders = [(logical_id, action) for logical_id, statement in all_statements(synth)
                 if statement["Effect"] == "Allow"
                 for action in as_list(statement["Action"])
                 if action.split(":")[0] in ("s3", "sns", "sagemaker") and "*" in action]
    assert offenders == []
