"""The web app's customer-managed policy, and '*' resources anywhere in the stack."""

from __future__ import annotations

from .conftest import require_cdk

require_cdk()

# Actions without resource-level permissions: the only ones allowed on "*".
NO_RESOURCE_LEVEL = {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData",
                     "cloudwatch:GetMetricData"}


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


def app_policy(synth) -> tuple[str, dict[str, dict]]:
    [(logical_id, policy)] = synth.resources("AWS::IAM::ManagedPolicy").items()
    return logical_id, {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}


def test_app_policy_statements(synth):
    [bucket] = [k for k in synth.resources("AWS::S3::Bucket") if k.startswith("StorageData")]
    [table] = synth.resources("AWS::DynamoDB::Table")
    [endpoint] = synth.resources("AWS::SageMaker::Endpoint")

    def objects(prefix):
        return {"Fn::Join": ["", [{"Fn::GetAtt": [bucket, "Arn"]}, f"/{prefix}/*"]]}

    _, by_sid = app_policy(synth)
    assert by_sid["UploadAudio"]["Action"] == "s3:PutObject"
    assert by_sid["UploadAudio"]["Resource"] == objects("inputs")
    assert sorted(by_sid["ReadAndDeleteJobFiles"]["Action"]) == ["s3:DeleteObject",
                                                                 "s3:GetObject"]
    assert sorted(by_sid["ReadAndDeleteJobFiles"]["Resource"], key=str) == sorted(
        [objects("inputs"), objects("outputs"), objects("failures")], key=str)
    assert by_sid["ListBucket"]["Action"] == "s3:ListBucket"
    assert by_sid["ListBucket"]["Resource"] == {"Fn::GetAtt": [bucket, "Arn"]}
    assert sorted(by_sid["InvokeEndpoint"]["Action"]) == ["sagemaker:DescribeEndpoint",
                                                          "sagemaker:InvokeEndpointAsync"]
    assert by_sid["InvokeEndpoint"]["Resource"] == {"Ref": endpoint}
    assert sorted(by_sid["JobsTable"]["Action"]) == sorted([
        "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
        "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan"])
    assert by_sid["JobsTable"]["Resource"] == {"Fn::GetAtt": [table, "Arn"]}
    assert by_sid["CapacityMetrics"] == {"Sid": "CapacityMetrics", "Effect": "Allow",
                                         "Action": "cloudwatch:GetMetricData", "Resource": "*"}
    assert len(by_sid) == 6


def test_app_policy_is_attached_to_nothing(synth):
    """The deployer attaches it to the web app's own role or user (docs/deploy-aws.md)."""
    [(_, policy)] = synth.resources("AWS::IAM::ManagedPolicy").items()
    assert not {"Roles", "Users", "Groups"} & set(policy["Properties"])


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
