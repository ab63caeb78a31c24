"""Results: the DynamoDB table of job outcomes and the Lambda that records them from the
SNS topics, with a queue for the events it could not record."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import jsii
from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

TABLE_PARTITION_KEY = "job_id"
TABLE_TTL_ATTRIBUTE = "expires_at"
HANDLER = "handler.handler"
HANDLER_TABLE_ACTIONS = ("dynamodb:UpdateItem",)
# The handler's failure counts (lambda/handler.py): namespace, metric, dimensions Stack, Cause.
METRICS_NAMESPACE = "WhisperTranscription"
FAILURES_METRIC = "FailedTranscriptions"
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
# Files in lambda/ that are not part of the deployment package.
ASSET_EXCLUDE = ["__pycache__", "**/__pycache__", "*.pyc", "**/*.pyc", "tests", ".pytest_cache"]


class Results(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, handler_dir: Path,
                 topics: Sequence[sns.ITopic], retain: bool, item_ttl_days: int,
                 output_prefix: str, failure_prefix: str, metrics_stack: str) -> None:
        """`output_prefix` and `failure_prefix` (s3://bucket/outputs/...) are where this
        stack's endpoint writes: the handler skips notifications that point elsewhere.
        `metrics_stack` is the Stack dimension of the failure counts it emits."""
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY

        self.table = dynamodb.Table(
            self, "Jobs",
            partition_key=dynamodb.Attribute(name=TABLE_PARTITION_KEY,
                                             type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            time_to_live_attribute=TABLE_TTL_ATTRIBUTE,
            removal_policy=removal,
            deletion_protection=retain,
        )

        # Events the handler failed on after its retries, and SNS deliveries that never
        # reached it: kept 14 days for a person to look at (an alarm watches the queue).
        self.failed_events = sqs.Queue(
            self, "FailedEvents",
            enforce_ssl=True,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            retention_period=Duration.days(14),
            removal_policy=removal,
        )
        Validations.of(self.failed_events).acknowledge(Acknowledgment(
            id="AwsSolutions-SQS3",
            reason="This queue is itself the dead-letter queue: the Lambda's on-failure "
                   "destination and the SNS subscriptions' redrive target. Nothing consumes "
                   "it automatically, so a further DLQ would never receive anything."))

        self.log_group = logs.LogGroup(self, "HandlerLogs", retention=LOG_RETENTION,
                                       removal_policy=removal)
        # A role of our own instead of the default one with the AWS-managed
        # AWSLambdaBasicExecutionRole policy (logs:* on every log group).
        self.role = iam.Role(
            self, "HandlerRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Records SageMaker async outcomes from SNS in the jobs table",
        )
        self.log_group.grant_write(self.role)

        self.function = lambda_.Function(
            self, "Handler",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.ARM_64,
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(handler_dir), exclude=ASSET_EXCLUDE),
            # Job items expire with the files they point at (the bucket's retention).
            environment={"JOBS_TABLE_NAME": self.table.table_name,
                         "JOB_ITEM_TTL_DAYS": str(item_ttl_days),
                         "OUTPUT_LOCATION_PREFIX": output_prefix,
                         "FAILURE_LOCATION_PREFIX": failure_prefix,
                         "STACK_NAME": metrics_stack},
            role=self.role,
            log_group=self.log_group,
            memory_size=256,
            timeout=Duration.seconds(30),
            retry_attempts=2,
            max_event_age=Duration.hours(6),
            on_failure=_QueueDestination(self.failed_events),
            description="SNS (SageMaker async success/error) -> DynamoDB job outcome",
        )
        Validations.of(self.function).acknowledge(Acknowledgment(
            id="AwsSolutions-L1",
            reason="Python 3.12 is the runtime the handler in lambda/ is written and tested "
                   "for; moving to a newer runtime is a deliberate change made together with "
                   "its tests."))
        # The handler's one call (lambda/outcome_store.py: record_outcome); its failure
        # counts are log lines (embedded metric format), which need no permission of their own.
        self.table.grant(self.function, *HANDLER_TABLE_ACTIONS)

        for topic in topics:
            topic.add_subscription(subscriptions.LambdaSubscription(
                self.function, dead_letter_queue=self.failed_events))


@jsii.implements(lambda_.IDestination)
class _QueueDestination:
    """The on-failure destination, granted sqs:SendMessage only: Lambda's own
    SqsDestination also grants sqs:GetQueueAttributes and sqs:GetQueueUrl, which are never
    used."""

    def __init__(self, queue: sqs.IQueue) -> None:
        self.queue = queue

    def bind(self, _scope: Construct, fn: lambda_.IFunction,
             *, type: lambda_.DestinationType | None = None) -> lambda_.DestinationConfig:
        self.queue.grant(fn, "sqs:SendMessage")
        return lambda_.DestinationConfig(destination=self.queue.queue_arn)
