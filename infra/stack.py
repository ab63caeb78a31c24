"""The stack: composes storage, notifications, results, inference and monitoring; grants the
endpoint its bucket prefixes and topics, and the web app what it needs through one
customer-managed policy; exports what the web app's settings take (docs/deploy-aws.md)."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Acknowledgment, Aws, CfnOutput, Stack, Tags, Validations
from aws_cdk import aws_iam as iam
from constructs import Construct

from .config import InfraConfig
from .inference import Inference
from .monitoring import Monitoring
from .nag import object_arn_finding
from .notifications import Notifications
from .results import FAILURES_METRIC, METRICS_NAMESPACE, Results
from .storage import FAILURES_PREFIX, INPUTS_PREFIX, OUTPUTS_PREFIX, PREFIXES, Storage
from .web import WebTier

REPO_ROOT = Path(__file__).resolve().parent.parent
CONTAINER_DIR = REPO_ROOT / "model_container"
HANDLER_DIR = REPO_ROOT / "lambda"

# The web app's calls (transcripts/backends/aws.py): it creates the job item before it
# invokes the endpoint, and reads the outcomes back in batches. tests/infra/test_permissions.py
# records every AWS call the app makes and compares them with this policy.
APP_TABLE_ACTIONS = ["dynamodb:PutItem", "dynamodb:BatchGetItem"]


class TranscriptionStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: InfraConfig,
                 container_dir: Path = CONTAINER_DIR, handler_dir: Path = HANDLER_DIR,
                 web_image_dir: Path = REPO_ROOT, **kwargs) -> None:
        kwargs.setdefault("stack_name", config.stack_name)
        kwargs.setdefault("description", "Whisper transcription: S3, SageMaker async endpoint "
                                         "(scales to zero), SNS, Lambda, DynamoDB")
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        Tags.of(self).add("project", config.stack_name)  # for cost allocation reports

        self.storage = Storage(self, "Storage", retention_days=config.retention_days,
                               retain=config.retain)
        self.notifications = Notifications(self, "Notifications")
        self.results = Results(self, "Results", handler_dir=handler_dir,
                               topics=self.notifications.topics, retain=config.retain,
                               item_ttl_days=config.retention_days,
                               output_prefix=self.storage.s3_uri(OUTPUTS_PREFIX),
                               failure_prefix=self.storage.s3_uri(FAILURES_PREFIX),
                               metrics_stack=config.stack_name)
        self.inference = Inference(
            self, "Inference", config=config, container_dir=container_dir,
            output_path=self.storage.s3_uri(OUTPUTS_PREFIX),
            failure_path=self.storage.s3_uri(FAILURES_PREFIX),
            success_topic=self.notifications.success_topic,
            error_topic=self.notifications.error_topic,
            progress_table=self.results.table)
        self._grant_endpoint_access()
        self.monitoring = Monitoring(
            self, "Monitoring", inference=self.inference,
            topics=self.notifications.topics,
            failed_events=self.results.failed_events, handler=self.results.function,
            failures_namespace=METRICS_NAMESPACE, failures_metric=FAILURES_METRIC,
            failures_stack=config.stack_name,
            queue_age_alarm_seconds=config.queue_age_alarm_seconds,
            max_instances=config.max_instances,
            backlog_per_instance_target=config.backlog_per_instance_target,
            alarm_email=config.alarm_email)

        self.app_policy = self._app_policy()
        self._outputs()
        self.web = self._web_tier(web_image_dir) if config.web else None

    def _grant_endpoint_access(self) -> None:
        """The endpoint reads the audio, writes results and failure reports, publishes the
        outcome, and reports progress into the job's item: only under its prefixes, only
        to its two topics, only the progress attributes."""
        self.inference.grant_read_objects(self.storage.objects_arn(INPUTS_PREFIX))
        self.inference.grant_write_objects(self.storage.objects_arn(OUTPUTS_PREFIX),
                                           self.storage.objects_arn(FAILURES_PREFIX))
        self.inference.grant_publish(*self.notifications.topics)
        self.inference.grant_report_progress(self.results.table)
        self.notifications.allow_publishing_only_by(self.inference.role)
        Validations.of(self.inference.policy).acknowledge(*(
            Acknowledgment(
                id=object_arn_finding(self, self.storage.bucket, prefix),
                reason=f"Object-level access limited to the {prefix} prefix of this "
                       f"deployment's bucket (SageMaker {verb}); every request has its own "
                       "object key, so the keys cannot be listed in advance.")
            for prefix, verb in ((INPUTS_PREFIX, "reads the audio"),
                                 (OUTPUTS_PREFIX, "writes the transcript"),
                                 (FAILURES_PREFIX, "writes the failure report"))))

    def _app_policy(self) -> iam.ManagedPolicy:
        """What the Django app needs; attach it to the role or user the app runs as."""
        bucket = self.storage.bucket
        policy = iam.ManagedPolicy(
            self, "AppPolicy",
            description=f"Web app access to the {self.config.stack_name} transcription "
                        "stack (S3 prefixes, endpoint, jobs table, capacity metrics)",
            statements=[
                # Large files go up in parts (s3:PutObject), and a failed multipart
                # upload is aborted.
                iam.PolicyStatement(
                    sid="UploadAudio",
                    actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                    resources=[self.storage.objects_arn(INPUTS_PREFIX)]),
                # GetObject also covers HeadObject (does a job's result exist?) and the
                # signed URLs people play their audio through.
                iam.PolicyStatement(
                    sid="ReadJobFiles",
                    actions=["s3:GetObject"],
                    resources=[self.storage.objects_arn(p) for p in PREFIXES]),
                # Deleting a job deletes its audio and its transcript; failure reports
                # expire with the bucket's retention.
                iam.PolicyStatement(
                    sid="DeleteJobFiles",
                    actions=["s3:DeleteObject"],
                    resources=[self.storage.objects_arn(p)
                               for p in (INPUTS_PREFIX, OUTPUTS_PREFIX)]),
                # Without it HeadObject answers 403 instead of 404 for a missing object.
                iam.PolicyStatement(
                    sid="ListBucket",
                    actions=["s3:ListBucket"],
                    resources=[bucket.bucket_arn]),
                iam.PolicyStatement(
                    sid="InvokeEndpoint",
                    actions=["sagemaker:InvokeEndpointAsync", "sagemaker:DescribeEndpoint"],
                    resources=[self.inference.endpoint_arn]),
                iam.PolicyStatement(
                    sid="JobsTable",
                    actions=APP_TABLE_ACTIONS,
                    resources=[self.results.table.table_arn]),
                iam.PolicyStatement(
                    sid="CapacityMetrics",
                    actions=["cloudwatch:GetMetricStatistics"],
                    resources=["*"]),
            ],
        )
        Validations.of(policy).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="Only cloudwatch:GetMetricStatistics has '*': it supports no resource-level "
                       "permissions. The capacity page reads the endpoint's backlog and "
                       "instance metrics with it; it grants reads of metrics, nothing else."),
            *(Acknowledgment(
                id=object_arn_finding(self, bucket, prefix),
                reason=f"Object access limited to the {prefix} prefix of this deployment's "
                       f"bucket: the app {verb}; object keys are made per job, so they cannot "
                       "be listed in advance.")
              for prefix, verb in (
                  (INPUTS_PREFIX, "uploads, plays back and deletes the audio"),
                  (OUTPUTS_PREFIX, "reads and deletes the transcripts SageMaker wrote"),
                  (FAILURES_PREFIX, "reads SageMaker's failure reports"))),
        )
        return policy

    def _web_tier(self, image_dir: Path) -> WebTier:
        """The Django app itself (`-c web=true`), with the app policy as its task role."""
        config = self.config
        web = WebTier(
            self, "Web", domain=config.domain, certificate_arn=config.certificate_arn,
            image_dir=image_dir, app_policy=self.app_policy,
            bucket_name=self.storage.bucket.bucket_name,
            endpoint_name=self.inference.endpoint.attr_endpoint_name,
            table_name=self.results.table.table_name,
            request_ttl_seconds=config.request_ttl_seconds,
            retention_days=config.retention_days,
            access_logs_bucket=self.storage.logs_bucket,
            web_tasks=config.web_tasks, worker_tasks=config.worker_tasks, retain=config.retain)
        CfnOutput(self, "WebUrl", value=web.url, description="The web app")
        CfnOutput(self, "LoadBalancerDnsName", value=web.load_balancer.load_balancer_dns_name,
                  description="Point the domain's DNS at it (CNAME, or a Route 53 alias)")
        return web

    def _outputs(self) -> None:
        outputs = {
            "BucketName": (self.storage.bucket.bucket_name,
                           "AWS_STORAGE_BUCKET_NAME: audio in inputs/, results in outputs/"),
            "EndpointName": (self.inference.endpoint.attr_endpoint_name,
                             "SAGEMAKER_ENDPOINT_NAME: the asynchronous endpoint"),
            "JobsTableName": (self.results.table.table_name,
                              "JOBS_TABLE_NAME: outcomes recorded by the Lambda"),
            "SuccessTopicArn": (self.notifications.success_topic.topic_arn,
                                "SNS topic of completed transcriptions"),
            "ErrorTopicArn": (self.notifications.error_topic.topic_arn,
                              "SNS topic of failed or expired transcriptions"),
            "AppPolicyArn": (self.app_policy.managed_policy_arn,
                             "Attach to the role or user the web app runs as"),
            "Region": (Aws.REGION, "AWS_REGION of the web app"),
            "RequestTtlSeconds": (str(self.config.request_ttl_seconds),
                                  "RequestTTLSeconds the web app passes to InvokeEndpointAsync"),
            "AlarmTopicArn": (self.monitoring.alarm_topic.topic_arn,
                              "Subscribe to it to receive the alarms"),
        }
        for name, (value, description) in outputs.items():
            CfnOutput(self, name, value=value, description=description)
