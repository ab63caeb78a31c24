"""Inference: the model server image from model_container/, its SageMaker execution role,
the model, the asynchronous endpoint and its scaling between zero and N instances."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import (
    Acknowledgment,
    Annotations,
    ArnFormat,
    Duration,
    RemovalPolicy,
    Stack,
    Validations,
)
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from .config import InfraConfig
from .models import HUB, NONE

EndpointConfig = sagemaker.CfnEndpointConfig
VARIANT_NAME = "AllTraffic"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
SAGEMAKER_NAMESPACE = "AWS/SageMaker"
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
# Local caches in model_container/ that have no place in the image.
IMAGE_EXCLUDE = ["**/__pycache__", "**/*.pyc", "**/.pytest_cache", "**/.mypy_cache"]


PINS_DIR = "model-pins"  # in model_container/: NAME.sha256, recorded by the first build
# The job item's attributes that the container's progress reports name (whisper_server/
# progress.py, DynamoDBSink: contracts/container/progress): IAM's dynamodb:Attributes holds
# every top-level attribute a request names, so the key and the `status` its condition reads
# are in it too (IAM cannot tell a condition's read from a write).
PROGRESS_ATTRIBUTES = ("job_id", "status", "progress", "partial_segments", "partial_truncated")


def image_build_args(config: InfraConfig) -> dict[str, str]:
    """The Dockerfile's build args: which image (CPU or GPU libraries, torch or not) and
    which weights go in. With model_data_url none do: SageMaker unpacks them into
    /opt/ml/model, which the container reads first."""
    entry = config.whisper_model
    args = {"DEVICE": "gpu" if config.gpu else "cpu", "ENGINE": config.engine}
    if config.bakes_model and entry is not None:
        args.update(MODEL_NAME=entry.name, MODEL_SOURCE=entry.source)
        if entry.source == HUB:
            args["MODEL_REPO"] = entry.location
    else:
        args["MODEL_SOURCE"] = NONE
    return args


def container_environment(config: InfraConfig) -> dict[str, str]:
    env = {
        "WHISPER_ENGINE": config.engine,
        "WHISPER_MODEL": config.model,
        # Explicit, not "auto": a GPU instance whose CUDA libraries fail to load fails its
        # /ping (and the deployment) instead of transcribing on the CPU unnoticed.
        "WHISPER_DEVICE": "cuda" if config.gpu else "cpu",
        "MAX_CONCURRENT_TRANSCRIPTIONS": str(config.max_concurrent_invocations),
    }
    if config.gpu:
        # Batched inference of long audio pays off on a GPU (3.2 times sequential at batch
        # 16 on an H200, same words; README). On a CPU it costs memory for less: off there.
        env["WHISPER_BATCH_SIZE"] = "16"
    return env


class Inference(Construct):
    """The endpoint's own resources. What it may do with the bucket and the topics is granted
    by the stack (`grant_*`), which owns those relations."""

    def __init__(self, scope: Construct, construct_id: str, *, config: InfraConfig,
                 container_dir: Path, output_path: str, failure_path: str,
                 success_topic: sns.ITopic, error_topic: sns.ITopic,
                 progress_table: dynamodb.ITable | None = None) -> None:
        """`progress_table`: the jobs table, where the container reports progress
        (PROGRESS_TABLE); the stack grants the writes (`grant_report_progress`)."""
        super().__init__(scope, construct_id)
        self.endpoint_name = config.resolved_endpoint_name
        removal = RemovalPolicy.RETAIN if config.retain else RemovalPolicy.DESTROY

        # Only staged at synth time; `cdk deploy` builds and pushes it (Docker needed then),
        # downloading the model's weights into it. x86_64: config.py refuses Graviton types.
        self.build_args = image_build_args(config)
        self.image = ecr_assets.DockerImageAsset(
            self, "Image",
            directory=str(container_dir),
            platform=ecr_assets.Platform.LINUX_AMD64,
            exclude=IMAGE_EXCLUDE,
            build_args=self.build_args,
        )
        self._warn_about_model(config, container_dir)

        # SageMaker writes the container's output here; made by us to give it a retention
        # (SageMaker would create it with none: logs kept, and paid for, forever).
        self.log_group = logs.LogGroup(
            self, "EndpointLogs",
            log_group_name=f"/aws/sagemaker/Endpoints/{self.endpoint_name}",
            retention=LOG_RETENTION,
            removal_policy=removal,
        )

        self.role = iam.Role(
            self, "ExecutionRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="SageMaker async endpoint: reads inputs/, writes outputs/ and failures/, "
                        "publishes the outcome",
        )
        self.policy = iam.Policy(self, "ExecutionPolicy", statements=[
            iam.PolicyStatement(
                sid="PullImage",
                actions=["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer",
                         "ecr:BatchGetImage"],
                resources=[self.image.repository.repository_arn]),
            iam.PolicyStatement(
                sid="EcrLogin",
                actions=["ecr:GetAuthorizationToken"],
                resources=["*"]),
            iam.PolicyStatement(
                sid="WriteLogs",
                actions=["logs:CreateLogGroup", "logs:DescribeLogStreams",
                         "logs:CreateLogStream", "logs:PutLogEvents"],
                # The group's ARN in both forms: bare (group-level actions) and with the
                # ":*" that CloudFormation's Arn attribute ends with (its log streams).
                resources=[self._log_group_arn_without_suffix(), self.log_group.log_group_arn]),
            iam.PolicyStatement(
                sid="PutMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"]),
        ])
        if config.model_data_url:
            self.policy.add_statements(iam.PolicyStatement(
                sid="ReadModelData", actions=["s3:GetObject"],
                resources=[self._object_arn(config.model_data_url)]))
        self.policy.attach_to_role(self.role)
        Validations.of(self.policy).acknowledge(Acknowledgment(
            id="AwsSolutions-IAM5[Resource::*]",
            reason="Only ecr:GetAuthorizationToken and cloudwatch:PutMetricData have '*': "
                   "neither action supports resource-level permissions. Image pulls are "
                   "limited to the CDK asset repository."))

        self.model = sagemaker.CfnModel(
            self, "Model",
            execution_role_arn=self.role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=self.image.image_uri,
                mode="SingleModel",
                # SageMaker unpacks it into /opt/ml/model before the container starts.
                model_data_url=config.model_data_url or None,
                environment=self._environment(config, progress_table),
            ),
        )

        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self, "EndpointConfig",
            production_variants=[EndpointConfig.ProductionVariantProperty(
                variant_name=VARIANT_NAME,
                model_name=self.model.attr_model_name,
                instance_type=config.resolved_instance_type,
                # SageMaker creates an endpoint with at least one instance; with
                # min_instances 0 the target-tracking policy takes it to zero when idle.
                initial_instance_count=max(1, config.min_instances),
                initial_variant_weight=1.0,
            )],
            async_inference_config=EndpointConfig.AsyncInferenceConfigProperty(
                output_config=EndpointConfig.AsyncInferenceOutputConfigProperty(
                    s3_output_path=output_path,
                    s3_failure_path=failure_path,
                    notification_config=EndpointConfig.AsyncInferenceNotificationConfigProperty(
                        success_topic=success_topic.topic_arn,
                        error_topic=error_topic.topic_arn,
                    ),
                ),
                client_config=EndpointConfig.AsyncInferenceClientConfigProperty(
                    max_concurrent_invocations_per_instance=config.max_concurrent_invocations,
                ),
            ),
        )

        self.endpoint = sagemaker.CfnEndpoint(
            self, "Endpoint",
            endpoint_name=self.endpoint_name,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
        )
        # SageMaker uses the role as soon as it creates the model and the endpoint (image
        # pull, logs); without these DependsOn, CloudFormation may create them before the
        # policy is attached to the role, and the endpoint's creation fails.
        cfn_policy = self.policy.node.default_child
        for resource in (self.model, self.endpoint):
            resource.add_resource_dependency(cfn_policy, "needs the execution role's policy")

        self._add_scaling(config)

    def grant_read_objects(self, *object_arns: str) -> None:
        self.policy.add_statements(iam.PolicyStatement(
            sid="ReadInputs", actions=["s3:GetObject"], resources=list(object_arns)))

    def grant_write_objects(self, *object_arns: str) -> None:
        self.policy.add_statements(iam.PolicyStatement(
            sid="WriteOutputsAndFailures", actions=["s3:PutObject", "s3:AbortMultipartUpload"],
            resources=list(object_arns)))

    def grant_publish(self, *topics: sns.ITopic) -> None:
        self.policy.add_statements(iam.PolicyStatement(
            sid="PublishOutcome", actions=["sns:Publish"],
            resources=[topic.topic_arn for topic in topics]))

    def grant_report_progress(self, table: dynamodb.ITable) -> None:
        """UpdateItem on the jobs table, of the progress attributes only, returning nothing."""
        self.policy.add_statements(iam.PolicyStatement(
            sid="ReportProgress", actions=["dynamodb:UpdateItem"], resources=[table.table_arn],
            conditions={"ForAllValues:StringEquals": {"dynamodb:Attributes": list(PROGRESS_ATTRIBUTES)},
                        "StringEqualsIfExists": {"dynamodb:ReturnValues": "NONE"}}))

    def _environment(self, config: InfraConfig, progress_table: dynamodb.ITable | None) -> dict[str, str]:
        env = container_environment(config)
        if progress_table is not None:
            # SageMaker hosting sets no AWS_REGION: the container is told the table's.
            env.update(PROGRESS_TABLE=progress_table.table_name,
                       PROGRESS_REGION=Stack.of(self).region)
        return env

    def _warn_about_model(self, config: InfraConfig, container_dir: Path) -> None:
        entry = config.whisper_model
        if entry is not None and entry.gpu and not config.gpu:
            Annotations.of(self).add_warning_v2(
                "whisper:model-on-cpu",
                f"{entry.name} is meant for a GPU ({entry.instance_type}) and runs on "
                f"{config.resolved_instance_type} (CPU, int8): expect it to be many times slower.")
        if (config.bakes_model and entry is not None and entry.source == HUB
                and not (container_dir / PINS_DIR / f"{entry.name}.sha256").is_file()):
            Annotations.of(self).add_warning_v2(
                "whisper:model-unpinned",
                f"{entry.name} is not pinned yet: the image build takes {entry.location} as it "
                f"is now and records its commit and checksums in the image. Copy them to "
                f"model_container/{PINS_DIR}/{entry.name}.sha256 and commit the file, so that "
                "later builds get the same weights (docs/deploy-aws.md, Choosing the model).")

    def _object_arn(self, s3_url: str) -> str:
        bucket, _, key = s3_url.removeprefix("s3://").partition("/")
        return Stack.of(self).format_arn(
            service="s3", region="", account="", resource=bucket, resource_name=key,
            arn_format=ArnFormat.SLASH_RESOURCE_NAME)

    def _log_group_arn_without_suffix(self) -> str:
        return Stack.of(self).format_arn(
            service="logs", resource="log-group", resource_name=self.log_group.log_group_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME)

    @property
    def endpoint_arn(self) -> str:
        return self.endpoint.ref  # Ref of AWS::SageMaker::Endpoint is its ARN

    def metric(self, metric_name: str, *, statistic: str,
               period: Duration = Duration.minutes(1)) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=SAGEMAKER_NAMESPACE,
            metric_name=metric_name,
            dimensions_map={"EndpointName": self.endpoint_name},
            statistic=statistic,
            period=period,
        )

    def _add_scaling(self, config: InfraConfig) -> None:
        # The L1 resource without a RoleARN: Application Auto Scaling then uses (and creates
        # when missing) its SageMaker service-linked role. The L2 construct would add a role
        # of its own that nothing uses.
        self.cfn_scalable_target = appscaling.CfnScalableTarget(
            self, "ScalableTarget",
            service_namespace="sagemaker",
            resource_id=f"endpoint/{self.endpoint.attr_endpoint_name}/variant/{VARIANT_NAME}",
            scalable_dimension=SCALABLE_DIMENSION,
            min_capacity=config.min_instances,
            max_capacity=config.max_instances,
        )
        self.scalable_target = appscaling.ScalableTarget.from_scalable_target_attributes(
            self, "Target",
            scalable_target_id=self.cfn_scalable_target.ref,
            scalable_dimension=SCALABLE_DIMENSION,
            service_namespace="sagemaker",
        )
        # Keeps the queue per running instance near the target; also scales in to
        # min_instances (zero) once the queue has been empty for a while.
        self.backlog_policy = appscaling.TargetTrackingScalingPolicy(
            self, "BacklogPerInstance",
            scaling_target=self.scalable_target,
            target_value=config.backlog_per_instance_target,
            custom_metric=self.metric("ApproximateBacklogSizePerInstance", statistic="Average"),
            scale_in_cooldown=Duration.minutes(10),
            scale_out_cooldown=Duration.minutes(5),
        )
        # Target tracking cannot leave zero (there is no instance to divide by): this alarm
        # fires when requests wait with no instance running, and the step policy adds one.
        self.scale_out_from_zero = appscaling.StepScalingAction(
            self, "ScaleOutFromZero",
            scaling_target=self.scalable_target,
            adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
            metric_aggregation_type=appscaling.MetricAggregationType.AVERAGE,
            cooldown=Duration.minutes(5),
        )
        self.scale_out_from_zero.add_adjustment(adjustment=1, lower_bound=0)
        self.backlog_without_capacity_alarm = cloudwatch.Alarm(
            self, "HasBacklogWithoutCapacity",
            alarm_description="Requests are queued and no instance is running: start one.",
            metric=self.metric("HasBacklogWithoutCapacity", statistic="Average"),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.backlog_without_capacity_alarm.add_alarm_action(
            cloudwatch_actions.ApplicationScalingAction(self.scale_out_from_zero))

