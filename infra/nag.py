"""cdk-nag (3.x) helpers: the AwsSolutions checks as a policy validation plugin (any finding
that is not acknowledged fails the synth), and the finding ids of IAM5 on S3 prefixes."""

from __future__ import annotations

from aws_cdk import App, Stack, Validations
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks


def add_checks(app: App) -> None:
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def object_arn_finding(scope, bucket: s3.IBucket, prefix: str) -> str:
    """The id of the IAM5 finding that `bucket.arn_for_objects(prefix + "*")` raises:
    cdk-nag writes the bucket's ARN as <LogicalId.Arn>."""
    stack = Stack.of(scope)
    logical_id = stack.resolve(stack.get_logical_id(bucket.node.default_child))
    return f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>/{prefix}*]"
