"""The web tier (optional, `-c web=true`): the Django app on ECS Fargate behind an HTTPS
Application Load Balancer, its background workers as a service of their own, PostgreSQL on
RDS, Redis on ElastiCache for the Channels layer, secrets in Secrets Manager, and the
migrations run once per deployment by a custom resource before either service changes.

No NAT gateway: the tasks sit in public subnets with public addresses, reachable only from
the load balancer's security group, and call AWS APIs directly (S3 and DynamoDB through free
gateway endpoints). The database and Redis sit in isolated subnets without a route out,
reachable only from the tasks' security group. docs/deploy-aws.md explains the costs."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import (
    Acknowledgment,
    Aws,
    CustomResource,
    Duration,
    RemovalPolicy,
    Stack,
    Token,
    Validations,
)
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import custom_resources as cr
from aws_cdk.aws_ecr_assets import Platform
from constructs import Construct

APP_PORT = 8000
HEALTH_PATH = "/healthz"  # transcripts/health.py
DOCKERFILE = "deploy/web.Dockerfile"  # relative to the image's build context (the repo root)
MIGRATE_HANDLER_DIR = Path(__file__).resolve().parent / "web_migrate"
CONTAINER = "app"  # the container's name in every task definition
DB_NAME = "transcribe"
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
# Long enough for a 1 GB upload to be stored in S3 after its last byte arrived (the
# balancer closes a connection on which nothing moved for this long); websockets are kept
# alive by uvicorn's pings every 20 s.
IDLE_TIMEOUT = Duration.minutes(5)


class WebTier(Construct):
    """Exposes `url`, `load_balancer`, `web_service`, `worker_service`, `database`,
    `task_role` and `migrations` (the custom resource) for the stack and the tests."""

    def __init__(self, scope: Construct, construct_id: str, *, domain: str,
                 certificate_arn: str, image_dir: Path, app_policy: iam.IManagedPolicy,
                 bucket_name: str, endpoint_name: str, table_name: str,
                 request_ttl_seconds: int, retention_days: int,
                 access_logs_bucket: s3.IBucket, web_tasks: int, worker_tasks: int,
                 retain: bool) -> None:
        super().__init__(scope, construct_id)
        self.url = f"https://{domain}"
        removal = RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY

        self._network(retain=retain)
        self.database = self._database(retain=retain)
        self.redis, self.redis_token = self._redis()
        self.secret_key = secretsmanager.Secret(
            self, "DjangoSecretKey",
            description="DJANGO_SECRET_KEY of the web app (sessions, signed values)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True))
        self.cluster = ecs.Cluster(self, "Cluster", vpc=self.vpc,
                                   container_insights_v2=ecs.ContainerInsights.ENABLED)
        self.log_group = logs.LogGroup(self, "Logs", retention=LOG_RETENTION,
                                       removal_policy=removal)
        # The app policy (S3 prefixes, endpoint, jobs table, metrics) is all the tasks get.
        self.task_role = iam.Role(
            self, "TaskRole", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="The web app and its workers: the stack's AppPolicy and nothing else",
            managed_policies=[app_policy])
        image = ecs.ContainerImage.from_asset(str(image_dir), file=DOCKERFILE,
                                              platform=Platform.LINUX_AMD64)
        environment = {
            "DJANGO_ENV": "production",
            "TRANSCRIBE_BACKEND": "aws",
            "AWS_REGION": Aws.REGION,
            "AWS_STORAGE_BUCKET_NAME": bucket_name,
            "SAGEMAKER_ENDPOINT_NAME": endpoint_name,
            "JOBS_TABLE_NAME": table_name,
            "SAGEMAKER_REQUEST_TTL_SECONDS": str(request_ttl_seconds),
            "JOB_ITEM_TTL_DAYS": str(retention_days),
            "ALLOWED_HOSTS": domain,
            "CSRF_TRUSTED_ORIGINS": self.url,
            "TRUSTED_PROXIES": "1",  # the load balancer appends the client to X-Forwarded-For
            "WORKERS_IN_WEB": "false",  # the workers service runs them
            "REDIS_URL": f"rediss://{self.redis.attr_primary_end_point_address}:"
                         f"{self.redis.attr_primary_end_point_port}",
        }
        db_secret = self.database.secret
        assert db_secret is not None
        secrets = {
            "DJANGO_SECRET_KEY": ecs.Secret.from_secrets_manager(self.secret_key),
            "REDIS_AUTH_TOKEN": ecs.Secret.from_secrets_manager(self.redis_token),
            **{name: ecs.Secret.from_secrets_manager(db_secret, field) for name, field in (
                ("DB_HOST", "host"), ("DB_PORT", "port"), ("DB_NAME", "dbname"),
                ("DB_USER", "username"), ("DB_PASSWORD", "password"))},
        }

        def task(name: str, *, cpu: int, memory: int, command: list[str] | None,
                 port: bool = False) -> ecs.FargateTaskDefinition:
            definition = ecs.FargateTaskDefinition(
                self, f"{name}Task", cpu=cpu, memory_limit_mib=memory, task_role=self.task_role,
                runtime_platform=ecs.RuntimePlatform(
                    cpu_architecture=ecs.CpuArchitecture.X86_64,
                    operating_system_family=ecs.OperatingSystemFamily.LINUX))
            definition.add_container(
                CONTAINER, image=image, command=command, environment=environment,
                secrets=secrets, essential=True,
                port_mappings=[ecs.PortMapping(container_port=APP_PORT)] if port else None,
                logging=ecs.LogDriver.aws_logs(stream_prefix=name.lower(),
                                               log_group=self.log_group))
            return definition

        # uvicorn (the image's CMD), the workers, and the one-off migrations.
        self.web_task = task("Web", cpu=512, memory=1024, command=None, port=True)
        self.worker_task = task("Worker", cpu=256, memory=512,
                                command=["python", "manage.py", "work"])
        self.migrate_task = task("Migrate", cpu=256, memory=512,
                                 command=["python", "manage.py", "migrate", "--noinput"])

        self.migrations = self._migrations()
        public = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC)
        self.web_service = ecs.FargateService(
            self, "WebService", cluster=self.cluster, task_definition=self.web_task,
            desired_count=web_tasks, assign_public_ip=True, vpc_subnets=public,
            security_groups=[self.app_sg], min_healthy_percent=100, max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            health_check_grace_period=Duration.seconds(60))
        # Any number of workers is safe (claims are conditional UPDATEs); one is enough.
        self.worker_service = ecs.FargateService(
            self, "WorkerService", cluster=self.cluster, task_definition=self.worker_task,
            desired_count=worker_tasks, assign_public_ip=True, vpc_subnets=public,
            security_groups=[self.app_sg], min_healthy_percent=100, max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True))
        for service in (self.web_service, self.worker_service):
            service.node.add_dependency(self.migrations)  # new code meets a migrated schema

        self.load_balancer = self._load_balancer(certificate_arn, access_logs_bucket)
        self._acknowledge()

    # -- network ------------------------------------------------------------------------

    def _network(self, *, retain: bool) -> None:
        self.vpc = ec2.Vpc(
            self, "Vpc", max_azs=2, nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC,
                                        cidr_mask=24),
                ec2.SubnetConfiguration(name="Data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED,
                                        cidr_mask=24),
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
                "DynamoDb": ec2.GatewayVpcEndpointOptions(
                    service=ec2.GatewayVpcEndpointAwsService.DYNAMODB),
            })
        flow_logs = logs.LogGroup(self, "FlowLogs", retention=LOG_RETENTION,
                                  removal_policy=RemovalPolicy.RETAIN if retain
                                  else RemovalPolicy.DESTROY)
        # Rejected connections only: what an investigation needs, at a fraction of the volume.
        self.vpc.add_flow_log("Rejected", traffic_type=ec2.FlowLogTrafficType.REJECT,
                              destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs))

        self.alb_sg = ec2.SecurityGroup(self, "LoadBalancerSg", vpc=self.vpc,
                                        description="HTTPS and HTTP (redirected) from anywhere",
                                        allow_all_outbound=False)
        for port, what in ((443, "HTTPS"), (80, "HTTP, redirected to HTTPS")):
            self.alb_sg.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(port), what)
        # The tasks call AWS APIs (ECR, Secrets Manager, SageMaker, CloudWatch) over HTTPS.
        self.app_sg = ec2.SecurityGroup(self, "AppSg", vpc=self.vpc, allow_all_outbound=True,
                                        description="Web and worker tasks: in from the load "
                                                    "balancer only")
        self.app_sg.connections.allow_from(self.alb_sg, ec2.Port.tcp(APP_PORT),
                                           "The load balancer to uvicorn")
        self.db_sg = ec2.SecurityGroup(self, "DatabaseSg", vpc=self.vpc, allow_all_outbound=False,
                                       description="PostgreSQL: in from the app tasks only")
        self.redis_sg = ec2.SecurityGroup(self, "RedisSg", vpc=self.vpc, allow_all_outbound=False,
                                          description="Redis: in from the app tasks only")

    def _database(self, *, retain: bool) -> rds.DatabaseInstance:
        database = rds.DatabaseInstance(
            self, "Database",
            engine=rds.DatabaseInstanceEngine.postgres(
                version=rds.PostgresEngineVersion.VER_17_9),
            instance_type=ec2.InstanceType.of(ec2.InstanceClass.BURSTABLE4_GRAVITON,
                                              ec2.InstanceSize.MICRO),
            vpc=self.vpc, vpc_subnets=ec2.SubnetSelection(
                subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_groups=[self.db_sg], port=5432,
            credentials=rds.Credentials.from_generated_secret("transcribe"),
            database_name=DB_NAME,
            allocated_storage=20, max_allocated_storage=100,
            storage_type=rds.StorageType.GP3, storage_encrypted=True,
            multi_az=False, publicly_accessible=False,
            backup_retention=Duration.days(7),
            deletion_protection=retain,
            removal_policy=RemovalPolicy.SNAPSHOT if retain else RemovalPolicy.DESTROY,
            auto_minor_version_upgrade=True)
        return database

    def _redis(self) -> tuple[elasticache.CfnReplicationGroup, secretsmanager.Secret]:
        subnets = elasticache.CfnSubnetGroup(
            self, "RedisSubnets", description="Isolated subnets of the web tier",
            subnet_ids=self.vpc.select_subnets(
                subnet_type=ec2.SubnetType.PRIVATE_ISOLATED).subnet_ids)
        # AUTH needs TLS; the token (letters and digits) travels in REDIS_URL (container_env).
        token = secretsmanager.Secret(
            self, "RedisAuthToken", description="AUTH token of the Channels Redis",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True))
        redis = elasticache.CfnReplicationGroup(
            self, "Redis",
            replication_group_description="Channels layer of the web app",
            engine="redis", engine_version="7.1", cache_node_type="cache.t4g.micro",
            num_cache_clusters=1, automatic_failover_enabled=False, multi_az_enabled=False,
            cache_subnet_group_name=subnets.ref, security_group_ids=[self.redis_sg.security_group_id],
            port=6379, at_rest_encryption_enabled=True, transit_encryption_enabled=True,
            auth_token=token.secret_value.unsafe_unwrap())  # a {{resolve:...}} reference
        redis.add_resource_dependency(subnets)
        return redis, token

    # -- migrations ---------------------------------------------------------------------

    def _migrations(self) -> CustomResource:
        """Runs the migrate task once each time its task definition changes (a new image or
        new settings make a new revision) and waits for it; the services depend on it."""
        log_group = logs.LogGroup(self, "MigrateHandlerLogs", retention=LOG_RETENTION,
                                  removal_policy=RemovalPolicy.DESTROY)
        role = iam.Role(self, "MigrateHandlerRole",
                        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        log_group.grant_write(role)
        role.add_to_policy(iam.PolicyStatement(
            actions=["ecs:RunTask"], resources=[self.migrate_task.task_definition_arn],
            conditions={"ArnEquals": {"ecs:cluster": self.cluster.cluster_arn}}))
        stack = Stack.of(self)
        role.add_to_policy(iam.PolicyStatement(
            actions=["ecs:DescribeTasks"],
            resources=[stack.format_arn(service="ecs", resource="task",
                                        resource_name=f"{self.cluster.cluster_name}/*")]))
        role.add_to_policy(iam.PolicyStatement(
            actions=["iam:PassRole"],
            resources=[self.migrate_task.task_role.role_arn,
                       self.migrate_task.obtain_execution_role().role_arn]))
        handler = lambda_.Function(
            self, "MigrateHandler", runtime=lambda_.Runtime.PYTHON_3_14,
            handler="index.on_event", code=lambda_.Code.from_asset(str(MIGRATE_HANDLER_DIR)),
            timeout=Duration.minutes(15), memory_size=128, role=role, log_group=log_group,
            description="Runs the web app's migrations as a one-off ECS task")
        provider = cr.Provider(
            self, "MigrateProvider", on_event_handler=handler,
            log_group=logs.LogGroup(self, "MigrateProviderLogs", retention=LOG_RETENTION,
                                    removal_policy=RemovalPolicy.DESTROY))
        self._provider, self._handler = provider, handler
        subnets = self.vpc.select_subnets(subnet_type=ec2.SubnetType.PUBLIC).subnet_ids
        migrations = CustomResource(
            self, "Migrations", service_token=provider.service_token,
            resource_type="Custom::DjangoMigrations",
            properties={"Cluster": self.cluster.cluster_name,
                        "TaskDefinition": self.migrate_task.task_definition_arn,
                        "Container": CONTAINER, "Subnets": subnets,
                        "SecurityGroups": [self.app_sg.security_group_id],
                        "AssignPublicIp": "ENABLED"})
        migrations.node.add_dependency(self.database)
        return migrations

    # -- load balancer ------------------------------------------------------------------

    def _load_balancer(self, certificate_arn: str,
                       access_logs_bucket: s3.IBucket) -> elbv2.ApplicationLoadBalancer:
        self.db_sg.add_ingress_rule(self.app_sg, ec2.Port.tcp(5432), "The app tasks")
        self.redis_sg.add_ingress_rule(self.app_sg, ec2.Port.tcp(6379), "The app tasks")
        alb = elbv2.ApplicationLoadBalancer(
            self, "LoadBalancer", vpc=self.vpc, internet_facing=True,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            security_group=self.alb_sg, idle_timeout=IDLE_TIMEOUT,
            drop_invalid_header_fields=True)
        alb.log_access_logs(access_logs_bucket, "load-balancer")
        self.alb_sg.add_egress_rule(self.app_sg, ec2.Port.tcp(APP_PORT), "To the web tasks")
        https = alb.add_listener(
            "Https", port=443, protocol=elbv2.ApplicationProtocol.HTTPS, open=False,
            certificates=[elbv2.ListenerCertificate.from_arn(certificate_arn)],
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS)
        https.add_targets(
            "Web", port=APP_PORT, protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[self.web_service],
            deregistration_delay=Duration.seconds(30),
            health_check=elbv2.HealthCheck(path=HEALTH_PATH, healthy_http_codes="200",
                                           interval=Duration.seconds(15),
                                           healthy_threshold_count=2))
        alb.add_redirect(source_port=80, target_port=443, open=False)
        return alb

    # -- cdk-nag ------------------------------------------------------------------------

    def _acknowledge(self) -> None:
        env_reason = ("The environment variables are names and settings, not secrets: bucket, "
                      "endpoint and table names, the domain, REDIS_URL without its token. The "
                      "secret key, the database credentials and the Redis token come from "
                      "Secrets Manager through the task definition's secrets.")
        for definition in (self.web_task, self.worker_task, self.migrate_task):
            Validations.of(definition).acknowledge(
                Acknowledgment(id="AwsSolutions-ECS2", reason=env_reason),
                Acknowledgment(
                    id="AwsSolutions-IAM5[Resource::*]",
                    reason="The execution role's ecr:GetAuthorizationToken, which has no "
                           "resource-level permissions; pulling is limited to the image's "
                           "repository, and secrets to the secrets named here."))
        Validations.of(self.alb_sg).acknowledge(Acknowledgment(
            id="AwsSolutions-EC23",
            reason="The public HTTPS entry of the web app: ports 443 and 80 (which only "
                   "redirects to 443) are open to the internet by design; the tasks behind it "
                   "accept connections from this security group alone."))
        Validations.of(self.database).acknowledge(
            Acknowledgment(id="AwsSolutions-RDS3",
                           reason="A single-AZ db.t4g.micro keeps the idle cost low; the "
                                  "automated backups (7 days) restore it. Set the instance "
                                  "Multi-AZ when an outage of minutes is not acceptable."),
            Acknowledgment(id="AwsSolutions-RDS11",
                           reason="The database is in isolated subnets and reachable only from "
                                  "the app's security group; a non-default port would hide "
                                  "nothing from a client that is already inside."),
            Acknowledgment(id="AwsSolutions-SMG4",
                           reason="The password is generated at creation; rotating it needs a "
                                  "rotation Lambda with a route to Secrets Manager and tasks "
                                  "restarted to read it. Rotate it by a deployment when needed."),
            Acknowledgment(id="AwsSolutions-RDS10",
                           reason="Deletion protection follows removal_policy: on with retain, "
                                  "off with the default destroy, so that `cdk destroy` takes "
                                  "the whole stack back to nothing as the guide promises."),
        )
        for secret, what in ((self.secret_key, "Django's secret key: rotating it signs "
                                               "everyone out and invalidates signed values"),
                             (self.redis_token, "the Redis AUTH token: rotating it means "
                                                "replacing the token on the cluster and "
                                                "restarting every task together")):
            Validations.of(secret).acknowledge(Acknowledgment(
                id="AwsSolutions-SMG4",
                reason=f"No automatic rotation for {what}; a deliberate step, not a schedule."))
        Validations.of(self.redis).acknowledge(Acknowledgment(
            id="AwsSolutions-AEC5",
            reason="Redis is in isolated subnets and reachable only from the app's security "
                   "group, with TLS and an AUTH token; a non-default port would add nothing."),
            Acknowledgment(
            id="AwsSolutions-AEC4",
            reason="One cache.t4g.micro node keeps the idle cost low: it holds only the "
                   "Channels layer's messages in flight (live updates); if it fails, pages "
                   "reload their state on reconnect and no job or outcome is lost."))
        stack = Stack.of(self)

        def named(value: str, pseudo: str) -> str:
            return f"<AWS::{pseudo}>" if Token.is_unresolved(value) else value

        cluster_id = stack.resolve(stack.get_logical_id(self.cluster.node.default_child))
        handler_id = stack.resolve(stack.get_logical_id(self._handler.node.default_child))
        task_arns = (f"arn:{named(stack.partition, 'Partition')}:ecs:"
                     f"{named(stack.region, 'Region')}:{named(stack.account, 'AccountId')}:"
                     f"task/<{cluster_id}>/*")
        Validations.of(self.node.find_child("MigrateHandlerRole")).acknowledge(Acknowledgment(
            id=f"AwsSolutions-IAM5[Resource::{task_arns}]",
            reason="ecs:DescribeTasks on the tasks of this cluster only: the migration task's "
                   "id is made when it starts, so it cannot be named in advance."))
        Validations.of(self._provider).acknowledge(
            Acknowledgment(id="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
                              "service-role/AWSLambdaBasicExecutionRole]",
                           reason="The CDK custom-resource provider framework's Lambda uses the "
                                  "AWS-managed basic execution policy for its logs; CDK makes "
                                  "that role and it invokes only the migration handler."),
            Acknowledgment(id=f"AwsSolutions-IAM5[Resource::<{handler_id}.Arn>:*]",
                           reason="The CDK custom-resource provider framework may invoke any "
                                  "version of the migration handler (<arn>:*); it invokes "
                                  "nothing else."),
        )
