"""Storage: one bucket for the audio (inputs/), SageMaker's results (outputs/) and failure
reports (failures/), and a second bucket that receives its server access logs (cdk-nag's S1
accepts a bucket that is the target of access logs without logs of its own)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

INPUTS_PREFIX = "inputs/"
OUTPUTS_PREFIX = "outputs/"
FAILURES_PREFIX = "failures/"
PREFIXES = (INPUTS_PREFIX, OUTPUTS_PREFIX, FAILURES_PREFIX)


class Storage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, retention_days: int,
                 retain: bool) -> None:
        super().__init__(scope, construct_id)
        retention = Duration.days(retention_days)

        self.logs_bucket = s3.Bucket(
            self, "AccessLogs",
            **_common(retain),
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-access-logs", expiration=retention),
                _abort_incomplete_uploads(),
            ],
        )
        self.bucket = s3.Bucket(
            self, "Data",
            **_common(retain),
            server_access_logs_bucket=self.logs_bucket,
            server_access_logs_prefix="data-bucket/",
            lifecycle_rules=[
                *(s3.LifecycleRule(id=f"expire-{prefix.rstrip('/')}", prefix=prefix,
                                   expiration=retention) for prefix in PREFIXES),
                _abort_incomplete_uploads(),
            ],
        )

    def objects_arn(self, prefix: str) -> str:
        """The ARN of every object under one of the bucket's prefixes."""
        if prefix not in PREFIXES:
            raise ValueError(f"unknown prefix {prefix!r}")
        return self.bucket.arn_for_objects(f"{prefix}*")

    def s3_uri(self, prefix: str) -> str:
        return f"s3://{self.bucket.bucket_name}/{prefix}"


def _common(retain: bool) -> dict:
    return dict(
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        auto_delete_objects=not retain,
    )


def _abort_incomplete_uploads() -> s3.LifecycleRule:
    return s3.LifecycleRule(id="abort-incomplete-multipart-uploads",
                            abort_incomplete_multipart_upload_after=Duration.days(1))
