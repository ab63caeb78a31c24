"""The SageMaker model, async endpoint, its execution role and its scaling (0..N)."""

from __future__ import annotations

import pytest

from infra.config import InfraConfig
from infra.models import MODELS

from .conftest import REPO, require_cdk

require_cdk()

from aws_cdk import App, Stack  # noqa: E402
from aws_cdk import aws_sns as sns  # noqa: E402
from aws_cdk.assertions import Annotations, Match, Template  # noqa: E402

from infra.inference import Inference  # noqa: E402

ENDPOINT_NAME = "whisper-transcription"


def one(synth, kind: str, prefix: str = "") -> tuple[str, dict]:
    [(logical_id, resource)] = [(k, v) for k, v in synth.resources(kind).items()
                                if k.startswith(prefix)]
    return logical_id, resource


def data_bucket_arn(synth, suffix: str) -> dict:
    [bucket] = [k for k in synth.resources("AWS::S3::Bucket") if k.startswith("StorageData")]
    return {"Fn::Join": ["", [{"Fn::GetAtt": [bucket, "Arn"]}, suffix]]}


def topic_ref(synth, name: str) -> dict:
    logical_id, _ = one(synth, "AWS::SNS::Topic", f"Notifications{name}")
    return {"Ref": logical_id}


def statements_by_sid(resource: dict) -> dict[str, dict]:
    return {s["Sid"]: s for s in resource["Properties"]["PolicyDocument"]["Statement"]}


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_model_runs_the_container_image_with_its_settings(synth, template):
    template.has_resource_properties("AWS::SageMaker::Model", {
        "PrimaryContainer": {
            "Image": {"Fn::Sub": Match.string_like_regexp(
                r"\.dkr\.ecr\..*/cdk-hnb659fds-container-assets-.*:[0-9a-f]{64}$")},
            # tiny.en on a CPU instance: no batching there (memory for little speed).
            "Environment": {"WHISPER_ENGINE": "faster-whisper", "WHISPER_MODEL": "tiny.en",
                            "WHISPER_DEVICE": "cpu", "MAX_CONCURRENT_TRANSCRIPTIONS": "1",
                            # Progress into the jobs table, in the stack's region.
                            "PROGRESS_TABLE": {"Ref": Match.string_like_regexp("^ResultsJobs")},
                            "PROGRESS_REGION": {"Ref": "AWS::Region"}},
            "ModelDataUrl": Match.absent(),
        }})
    role_id, _ = one(synth, "AWS::IAM::Role", "InferenceExecutionRole")
    _, model = one(synth, "AWS::SageMaker::Model")
    assert model["Properties"]["ExecutionRoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}


def test_image_is_staged_from_model_container_not_built(synth):
    images = synth.read("WhisperTranscription.assets.json")["dockerImages"]
    [image] = images.values()
    assert image["source"]["platform"] == "linux/amd64"
    staged = synth.outdir / image["source"]["directory"]
    expected = {p.name for p in (REPO / "model_container").iterdir() if p.name != "__pycache__"}
    assert expected <= {p.name for p in staged.iterdir()}
    assert not list(staged.rglob("__pycache__"))


def test_endpoint_config_is_asynchronous_with_outputs_failures_and_topics(synth, template):
    template.has_resource_properties("AWS::SageMaker::EndpointConfig", {
        "ProductionVariants": [Match.object_like({
            "VariantName": "AllTraffic", "InstanceType": "ml.c6i.xlarge",
            "InitialInstanceCount": 1})],
        "AsyncInferenceConfig": {
            "OutputConfig": {
                "S3OutputPath": {"Fn::Join": ["", ["s3://", Match.any_value(), "/outputs/"]]},
                "S3FailurePath": {"Fn::Join": ["", ["s3://", Match.any_value(), "/failures/"]]},
                "NotificationConfig": {"SuccessTopic": topic_ref(synth, "Success"),
                                       "ErrorTopic": topic_ref(synth, "Error")},
            },
            "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 1},
        }})
    _, config = one(synth, "AWS::SageMaker::EndpointConfig")
    [bucket] = [k for k in synth.resources("AWS::S3::Bucket") if k.startswith("StorageData")]
    output = config["Properties"]["AsyncInferenceConfig"]["OutputConfig"]
    assert output["S3OutputPath"]["Fn::Join"][1][1] == {"Ref": bucket}
    assert output["S3FailurePath"]["Fn::Join"][1][1] == {"Ref": bucket}


def test_endpoint_waits_for_the_execution_policy(synth, template):
    policy_id, _ = one(synth, "AWS::IAM::Policy", "InferenceExecutionPolicy")
    template.has_resource("AWS::SageMaker::Endpoint", {
        "Properties": {"EndpointName": ENDPOINT_NAME},
        "DependsOn": Match.array_with([policy_id])})
    template.has_resource("AWS::SageMaker::Model", {"DependsOn": Match.array_with([policy_id])})


def test_execution_role_is_least_privilege(synth):
    _, role = one(synth, "AWS::IAM::Role", "InferenceExecutionRole")
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [{
        "Action": "sts:AssumeRole", "Effect": "Allow",
        "Principal": {"Service": "sagemaker.amazonaws.com"}}]
    assert "ManagedPolicyArns" not in role["Properties"] and "Policies" not in role["Properties"]

    _, policy = one(synth, "AWS::IAM::Policy", "InferenceExecutionPolicy")
    by_sid = statements_by_sid(policy)
    assert all(s["Effect"] == "Allow" for s in by_sid.values())
    assert by_sid["ReadInputs"]["Action"] == "s3:GetObject"
    assert by_sid["ReadInputs"]["Resource"] == data_bucket_arn(synth, "/inputs/*")
    assert sorted(as_list(by_sid["WriteOutputsAndFailures"]["Action"])) == [
        "s3:AbortMultipartUpload", "s3:PutObject"]
    assert sorted(as_list(by_sid["WriteOutputsAndFailures"]["Resource"]), key=str) == sorted(
        [data_bucket_arn(synth, "/outputs/*"), data_bucket_arn(synth, "/failures/*")], key=str)
    assert by_sid["PublishOutcome"]["Action"] == "sns:Publish"
    assert sorted(as_list(by_sid["PublishOutcome"]["Resource"]), key=str) == sorted(
        [topic_ref(synth, "Success"), topic_ref(synth, "Error")], key=str)
    assert sorted(as_list(by_sid["PullImage"]["Action"])) == [
        "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    assert "cdk-hnb659fds-container-assets-" in str(by_sid["PullImage"]["Resource"])
    log_group_id, _ = one(synth, "AWS::Logs::LogGroup", "InferenceEndpointLogs")
    assert {"Fn::GetAtt": [log_group_id, "Arn"]} in as_list(by_sid["WriteLogs"]["Resource"])
    [bare] = [r for r in as_list(by_sid["WriteLogs"]["Resource"]) if "Fn::Join" in r]
    assert bare["Fn::Join"][1][-2:] == [":log-group:", {"Ref": log_group_id}]
    # '*' only where the action has no resource-level permissions.
    wildcard = {a for s in by_sid.values() if s["Resource"] == "*" for a in as_list(s["Action"])}
    assert wildcard == {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"}
    # Progress into the jobs table: UpdateItem of the progress attributes, nothing returned
    # (test_permissions.py checks them against the container's own writes).
    table_id, _ = one(synth, "AWS::DynamoDB::Table", "ResultsJobs")
    assert by_sid["ReportProgress"] == {
        "Sid": "ReportProgress", "Effect": "Allow", "Action": "dynamodb:UpdateItem",
        "Resource": {"Fn::GetAtt": [table_id, "Arn"]},
        "Condition": {"ForAllValues:StringEquals": {"dynamodb:Attributes": [
                          "job_id", "status", "progress", "partial_segments", "partial_truncated"]},
                      "StringEqualsIfExists": {"dynamodb:ReturnValues": "NONE"}}}
    assert set(by_sid) == {"ReadInputs", "WriteOutputsAndFailures", "PublishOutcome",
                           "PullImage", "EcrLogin", "WriteLogs", "PutMetrics", "ReportProgress"}


def test_endpoint_logs_are_kept_a_month(template):
    template.has_resource_properties("AWS::Logs::LogGroup", {
        "LogGroupName": f"/aws/sagemaker/Endpoints/{ENDPOINT_NAME}", "RetentionInDays": 30})


def test_scalable_target_goes_down_to_zero(synth, template):
    endpoint_id, _ = one(synth, "AWS::SageMaker::Endpoint")
    template.has_resource_properties("AWS::ApplicationAutoScaling::ScalableTarget", {
        "ServiceNamespace": "sagemaker",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "ResourceId": {"Fn::Join": ["", [
            "endpoint/", {"Fn::GetAtt": [endpoint_id, "EndpointName"]}, "/variant/AllTraffic"]]},
        "MinCapacity": 0,
        "MaxCapacity": 2,
        # Application Auto Scaling's service-linked role, not a role of our own.
        "RoleARN": Match.absent(),
    })


def test_target_tracking_on_backlog_per_instance(synth, template):
    target_id, _ = one(synth, "AWS::ApplicationAutoScaling::ScalableTarget")
    template.has_resource_properties("AWS::ApplicationAutoScaling::ScalingPolicy", {
        "PolicyType": "TargetTrackingScaling",
        "ScalingTargetId": {"Ref": target_id},
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": 5,
            "CustomizedMetricSpecification": {
                "Namespace": "AWS/SageMaker",
                "MetricName": "ApproximateBacklogSizePerInstance",
                "Dimensions": [{"Name": "EndpointName", "Value": ENDPOINT_NAME}],
                "Statistic": "Average",
            },
        }})


def test_step_scaling_adds_an_instance_on_backlog_without_capacity(synth, template):
    target_id, _ = one(synth, "AWS::ApplicationAutoScaling::ScalableTarget")
    steps = template.find_resources("AWS::ApplicationAutoScaling::ScalingPolicy", {
        "Properties": {
            "PolicyType": "StepScaling",
            "ScalingTargetId": {"Ref": target_id},
            "StepScalingPolicyConfiguration": {
                "AdjustmentType": "ChangeInCapacity",
                "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}],
            }}})
    [step_id] = steps
    template.has_resource_properties("AWS::CloudWatch::Alarm", {
        "Namespace": "AWS/SageMaker",
        "MetricName": "HasBacklogWithoutCapacity",
        "Dimensions": [{"Name": "EndpointName", "Value": ENDPOINT_NAME}],
        "Statistic": "Average",
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "Threshold": 1,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "AlarmActions": [{"Ref": step_id}],
    })


# ------------------------------------------------------------------- the model choices
# The inference construct alone in a bare stack, once per model: seconds for all of them.


def synth_inference(**context) -> tuple[Inference, Template, Stack]:
    config = InfraConfig.from_context(context)
    stack = Stack(App(), "Bare")
    topics = [sns.Topic(stack, name) for name in ("Success", "Error")]
    inference = Inference(stack, "Inference", config=config,
                          container_dir=REPO / "model_container",
                          output_path="s3://bucket/outputs/", failure_path="s3://bucket/failures/",
                          success_topic=topics[0], error_topic=topics[1])
    return inference, Template.from_stack(stack), stack


@pytest.fixture(scope="module")
def by_model():
    return {name: synth_inference(model=name) for name in MODELS}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_each_model_synthesizes_with_its_instance_and_weights(by_model, name):
    inference, template, _ = by_model[name]
    entry = MODELS[name]
    template.has_resource_properties("AWS::SageMaker::EndpointConfig", {
        "ProductionVariants": [Match.object_like({"InstanceType": entry.instance_type})]})
    environment = {"WHISPER_MODEL": name, "WHISPER_DEVICE": "cuda" if entry.gpu else "cpu"}
    if entry.gpu:
        environment["WHISPER_BATCH_SIZE"] = "16"
    else:
        environment["WHISPER_BATCH_SIZE"] = Match.absent()
    template.has_resource_properties("AWS::SageMaker::Model", {
        "PrimaryContainer": {"Environment": Match.object_like(environment),
                             "ModelDataUrl": Match.absent()}})
    # The weights go into the image: the build args say which, and from where.
    args = inference.build_args
    assert (args["MODEL_NAME"], args["MODEL_SOURCE"]) == (name, entry.source)
    assert args["DEVICE"] == ("gpu" if entry.gpu else "cpu")
    assert args.get("MODEL_REPO") == (entry.location if entry.source == "hub" else None)


def test_each_model_gets_an_image_of_its_own(by_model):
    hashes = {name: inference.image.asset_hash for name, (inference, _, _) in by_model.items()}
    assert len(set(hashes.values())) == len(hashes)


def test_an_unpinned_hub_model_is_named_in_a_warning(by_model):
    _, _, stack = by_model["large-v3"]
    Annotations.from_stack(stack).has_warning(
        "*", Match.string_like_regexp("large-v3 is not pinned yet.*model-pins/large-v3.sha256"))
    _, _, stack = by_model["tiny.en"]  # pinned by its package's version
    assert not Annotations.from_stack(stack).find_warning("*", Match.any_value())


def test_a_large_model_on_a_cpu_instance_is_warned_about():
    _, _, stack = synth_inference(model="large-v3", instance_type="ml.c6i.4xlarge")
    Annotations.from_stack(stack).has_warning(
        "*", Match.string_like_regexp("large-v3 is meant for a GPU"))


def test_model_data_url_is_unpacked_by_sagemaker_and_readable_by_the_role():
    inference, template, _ = synth_inference(
        model="acme-legal", model_data_url="s3://acme-models/whisper/legal.tar.gz")
    template.has_resource_properties("AWS::SageMaker::Model", {
        "PrimaryContainer": {"ModelDataUrl": "s3://acme-models/whisper/legal.tar.gz",
                             "Environment": Match.object_like({"WHISPER_MODEL": "acme-legal"})}})
    assert inference.build_args["MODEL_SOURCE"] == "none"
    [policy] = template.find_resources("AWS::IAM::Policy").values()
    read = statements_by_sid(policy)["ReadModelData"]
    assert read["Action"] == "s3:GetObject"
    assert read["Resource"] == {"Fn::Join": ["", [
        "arn:", {"Ref": "AWS::Partition"}, ":s3:::acme-models/whisper/legal.tar.gz"]]}
