"""The web tier (`-c web=true`, infra/web.py): the app on ECS Fargate behind an HTTPS load
balancer, PostgreSQL, Redis, its secrets, its workers and its migrations; cdk-nag finds
nothing unacknowledged and cfn-lint nothing at all. Without the key, nothing of it is there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import STACK_ID, Synth, require_cdk

require_cdk()

from aws_cdk.assertions import Match, Template  # noqa: E402

DOMAIN = "transcribe.example.com"
CERTIFICATE = "arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
WEB_CONTEXT = {"web": "true", "domain": DOMAIN, "certificate_arn": CERTIFICATE,
               "web_tasks": "2"}
WEB_KINDS = ("AWS::ECS::Service", "AWS::ECS::TaskDefinition", "AWS::RDS::DBInstance",
             "AWS::ElastiCache::ReplicationGroup", "AWS::ElasticLoadBalancingV2::LoadBalancer",
             "AWS::EC2::VPC", "Custom::DjangoMigrations")
# Every acknowledged cdk-nag finding of the web tier, by construct path.
WEB = f"/{STACK_ID}/Web"
EXPECTED_WEB_ACKNOWLEDGMENTS = {
    **{f"{WEB}/{name}Task": {"AwsSolutions-ECS2", "AwsSolutions-IAM5[Resource::*]"}
       for name in ("Web", "Worker", "Migrate")},
    f"{WEB}/LoadBalancerSg": {"AwsSolutions-EC23"},
    f"{WEB}/Database": {"AwsSolutions-RDS3", "AwsSolutions-RDS10", "AwsSolutions-RDS11",
                        "AwsSolutions-SMG4"},
    f"{WEB}/DjangoSecretKey": {"AwsSolutions-SMG4"},
    f"{WEB}/RedisAuthToken": {"AwsSolutions-SMG4"},
    f"{WEB}/Redis": {"AwsSolutions-AEC4", "AwsSolutions-AEC5"},
    f"{WEB}/MigrateHandlerRole": {
        "AwsSolutions-IAM5[Resource::arn:aws:ecs:eu-west-1:<AWS::AccountId>:task/"
        "<WebCluster20B6B362>/*]"},
    f"{WEB}/MigrateProvider": {
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AWSLambdaBasicExecutionRole]",
        "AwsSolutions-IAM5[Resource::<WebMigrateHandler46E4B455.Arn>:*]"},
}


@pytest.fixture(scope="module")
def web(tmp_path_factory) -> Synth:
    """The app as `cdk deploy -c web=true ...` builds it, in eu-west-1."""
    from aws_cdk import App, Environment

    from infra.app import build, cdk_json_context

    outdir = tmp_path_factory.mktemp("web.out")
    app = App(context={**cdk_json_context(), **WEB_CONTEXT}, outdir=str(outdir))
    stack = build(app, env=Environment(region="eu-west-1"))
    error = None
    try:
        app.synth()
    except RuntimeError as exc:
        error = str(exc)
    template = json.loads((outdir / f"{STACK_ID}.template.json").read_text())
    return Synth(outdir=outdir, template=template, error=error, app=app, stack=stack)


@pytest.fixture(scope="module")
def web_template(web) -> Template:
    return Template.from_json(web.template)


def container(web, family_prefix: str) -> dict:
    [definition] = [r for k, r in web.resources("AWS::ECS::TaskDefinition").items()
                    if k.startswith(f"Web{family_prefix}Task")]
    [found] = definition["Properties"]["ContainerDefinitions"]
    return found


def environment(found: dict) -> dict:
    return {e["Name"]: e["Value"] for e in found.get("Environment", [])}


def test_without_web_the_stack_has_no_web_tier(synth):
    kinds = {r["Type"] for r in synth.template["Resources"].values()}
    assert not kinds & set(WEB_KINDS)
    assert "WebUrl" not in synth.template.get("Outputs", {})


def test_web_tier_synthesizes_with_the_rest(web):
    assert web.error is None, web.error
    kinds = {r["Type"] for r in web.template["Resources"].values()}
    assert set(WEB_KINDS) <= kinds
    assert "SageMaker::Endpoint" in " ".join(kinds)  # the rest of the stack is still there
    assert web.template["Outputs"]["WebUrl"]["Value"] == f"https://{DOMAIN}"


def test_cdk_nag_reports_no_unacknowledged_finding_with_the_web_tier(web):
    from cdk_nag import AwsSolutionsChecks

    assert web.error is None, f"synth failed: {web.error}"
    report = AwsSolutionsChecks().validate_scope(web.app)
    assert [v.rule_name for v in report.violations] == []


def test_every_web_acknowledgment_is_expected_and_explained(web):
    found = {path: {rule: reason for rule, reason in rules.items()
                    if rule.startswith("AwsSolutions-")}  # CDK acknowledges some of its own
             for path, rules in web.acknowledgments().items() if path.startswith(WEB)}
    found = {path: rules for path, rules in found.items() if rules}
    assert {path: set(rules) for path, rules in found.items()} == EXPECTED_WEB_ACKNOWLEDGMENTS
    for rules in found.values():
        for rule, reason in rules.items():
            assert len(reason) >= 80, f"{rule}: the reason says too little: {reason!r}"


def test_cfn_lint_is_clean_with_the_web_tier(web):
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    if not cfn_lint.exists():
        pytest.skip("cfn-lint is not installed (pip install -r requirements.txt)")
    done = subprocess.run(
        [str(cfn_lint), "--regions", "eu-west-1", "--ignore-checks", "W3005", "--",
         str(web.outdir / f"{STACK_ID}.template.json")],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_https_listener_uses_the_certificate_and_http_redirects(web_template):
    web_template.has_resource_properties("AWS::ElasticLoadBalancingV2::Listener", {
        "Port": 443, "Protocol": "HTTPS",
        "Certificates": [{"CertificateArn": CERTIFICATE}],
        "DefaultActions": [Match.object_like({"Type": "forward"})]})
    web_template.has_resource_properties("AWS::ElasticLoadBalancingV2::Listener", {
        "Port": 80, "Protocol": "HTTP",
        "DefaultActions": [{"Type": "redirect", "RedirectConfig": Match.object_like(
            {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"})}]})
    web_template.resource_count_is("AWS::ElasticLoadBalancingV2::Listener", 2)


def test_load_balancer_is_public_logs_access_and_waits_for_long_uploads(web):
    [balancer] = web.resources("AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    assert balancer["Properties"]["Scheme"] == "internet-facing"
    attributes = {a["Key"]: a["Value"] for a in balancer["Properties"]["LoadBalancerAttributes"]}
    assert attributes["access_logs.s3.enabled"] == "true"
    assert attributes["access_logs.s3.bucket"]["Ref"].startswith("StorageAccessLogs")
    assert attributes["idle_timeout.timeout_seconds"] == "300"
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"


def test_target_group_checks_the_health_path_on_the_app_port(web_template):
    web_template.has_resource_properties("AWS::ElasticLoadBalancingV2::TargetGroup", {
        "Port": 8000, "Protocol": "HTTP", "TargetType": "ip",
        "HealthCheckPath": "/healthz", "Matcher": {"HttpCode": "200"}})


def test_web_runs_uvicorn_image_and_workers_run_work(web):
    web_container = container(web, "Web")
    assert "Command" not in web_container  # the image's CMD: uvicorn on port 8000
    assert web_container["PortMappings"] == [{"ContainerPort": 8000, "Protocol": "tcp"}]
    assert container(web, "Worker")["Command"] == ["python", "manage.py", "work"]
    assert container(web, "Migrate")["Command"] == ["python", "manage.py", "migrate", "--noinput"]


def test_every_container_gets_the_production_settings(web):
    for name in ("Web", "Worker", "Migrate"):
        env = environment(container(web, name))
        assert env["DJANGO_ENV"] == "production"
        assert env["TRANSCRIBE_BACKEND"] == "aws"
        assert env["WORKERS_IN_WEB"] == "false"
        assert env["ALLOWED_HOSTS"] == DOMAIN
        assert env["CSRF_TRUSTED_ORIGINS"] == f"https://{DOMAIN}"
        assert env["TRUSTED_PROXIES"] == "1"
        for key in ("AWS_STORAGE_BUCKET_NAME", "SAGEMAKER_ENDPOINT_NAME", "JOBS_TABLE_NAME",
                    "REDIS_URL"):
            assert key in env
        assert not {"DJANGO_SECRET_KEY", "DB_PASSWORD", "DATABASE_URL"} & set(env)


def test_secrets_come_from_secrets_manager(web):
    secrets = {s["Name"]: s["ValueFrom"] for s in container(web, "Web")["Secrets"]}
    assert set(secrets) == {"DJANGO_SECRET_KEY", "REDIS_AUTH_TOKEN", "DB_HOST", "DB_PORT",
                            "DB_NAME", "DB_USER", "DB_PASSWORD"}
    assert secrets["DB_PASSWORD"]["Fn::Join"][1][-1] == ":password::"  # one JSON field
    generated = [r for r in web.resources("AWS::SecretsManager::Secret").values()
                 if "GenerateSecretString" in r["Properties"]]
    assert len(generated) == 3  # the key, the database credentials, the Redis token


def test_task_role_is_the_app_policy_and_nothing_else(web):
    roles = {k: r for k, r in web.resources("AWS::IAM::Role").items()
             if k.startswith("WebTaskRole")}
    [(role_id, role)] = roles.items()
    [policy_id] = [k for k in web.resources("AWS::IAM::ManagedPolicy") if k.startswith("AppPolicy")]
    assert role["Properties"]["ManagedPolicyArns"] == [{"Ref": policy_id}]
    assert "Policies" not in role["Properties"]
    assert not [p for p in web.resources("AWS::IAM::Policy").values()
                if {"Ref": role_id} in p["Properties"]["Roles"]]
    for definition in web.resources("AWS::ECS::TaskDefinition").values():
        assert definition["Properties"]["TaskRoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}


def test_services_run_in_public_subnets_without_nat_reachable_from_the_balancer_only(web):
    assert not web.resources("AWS::EC2::NatGateway")
    services = web.resources("AWS::ECS::Service")
    counts = sorted(s["Properties"]["DesiredCount"] for s in services.values())
    assert counts == [1, 2]  # workers, web (web_tasks=2)
    for service in services.values():
        network = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert network["AssignPublicIp"] == "ENABLED"
    [app_sg] = [k for k in web.resources("AWS::EC2::SecurityGroup") if k.startswith("WebAppSg")]
    [alb_sg] = [k for k in web.resources("AWS::EC2::SecurityGroup")
                if k.startswith("WebLoadBalancerSg")]
    rules = [r["Properties"] for r in web.resources("AWS::EC2::SecurityGroupIngress").values()
             if r["Properties"]["GroupId"] == {"Fn::GetAtt": [app_sg, "GroupId"]}]
    assert [(r["FromPort"], r["SourceSecurityGroupId"]) for r in rules] == [
        (8000, {"Fn::GetAtt": [alb_sg, "GroupId"]})]
    inline = web.template["Resources"][app_sg]["Properties"].get("SecurityGroupIngress", [])
    assert inline == []


def test_database_and_redis_are_private_encrypted_and_reached_by_the_app_only(web, web_template):
    web_template.has_resource_properties("AWS::RDS::DBInstance", {
        "Engine": "postgres", "DBInstanceClass": "db.t4g.micro", "StorageEncrypted": True,
        "PubliclyAccessible": False, "BackupRetentionPeriod": 7})
    web_template.has_resource_properties("AWS::ElastiCache::ReplicationGroup", {
        "CacheNodeType": "cache.t4g.micro", "TransitEncryptionEnabled": True,
        "AtRestEncryptionEnabled": True, "AuthToken": Match.any_value()})
    [app_sg] = [k for k in web.resources("AWS::EC2::SecurityGroup") if k.startswith("WebAppSg")]
    for prefix, port in (("WebDatabaseSg", 5432), ("WebRedisSg", 6379)):
        [group] = [k for k in web.resources("AWS::EC2::SecurityGroup") if k.startswith(prefix)]
        rules = [r["Properties"] for r in web.resources("AWS::EC2::SecurityGroupIngress").values()
                 if r["Properties"]["GroupId"] == {"Fn::GetAtt": [group, "GroupId"]}]
        assert [(r["FromPort"], r["SourceSecurityGroupId"]) for r in rules] == [
            (port, {"Fn::GetAtt": [app_sg, "GroupId"]})]


def test_migrations_run_before_the_services_change(web):
    [(migrations_id, migrations)] = web.resources("Custom::DjangoMigrations").items()
    [migrate_task] = [k for k in web.resources("AWS::ECS::TaskDefinition")
                      if k.startswith("WebMigrateTask")]
    assert migrations["Properties"]["TaskDefinition"] == {"Ref": migrate_task}
    for logical_id, service in web.resources("AWS::ECS::Service").items():
        assert migrations_id in service["DependsOn"], logical_id


def test_migration_handler_runs_the_task_and_fails_on_a_bad_exit(web):
    import importlib.util

    from tests.conftest import REPO

    spec = importlib.util.spec_from_file_location(
        "web_migrate", REPO / "infra" / "web_migrate" / "index.py")
    handler = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(handler)

    class FakeEcs:
        def __init__(self, exit_code):
            self.exit_code, self.polls, self.started = exit_code, 0, None

        def run_task(self, **kwargs):
            self.started = kwargs
            return {"tasks": [{"taskArn": "arn:aws:ecs:eu-west-1:1:task/c/abc"}], "failures": []}

        def describe_tasks(self, **kwargs):
            self.polls += 1
            status = "STOPPED" if self.polls > 1 else "RUNNING"
            return {"tasks": [{"lastStatus": status, "stoppedReason": "Essential container exited",
                               "containers": [{"name": "app", "exitCode": self.exit_code}]}]}

    props = {"Cluster": "c", "TaskDefinition": "td", "Container": "app", "Subnets": ["s"],
             "SecurityGroups": ["g"], "AssignPublicIp": "ENABLED"}
    ok = FakeEcs(0)
    assert handler.run_migrations(ok, props, sleep=lambda s: None).endswith("/abc")
    assert ok.started["taskDefinition"] == "td" and ok.started["launchType"] == "FARGATE"
    with pytest.raises(RuntimeError, match="migrations failed .exit code 1"):
        handler.run_migrations(FakeEcs(1), props, sleep=lambda s: None)
    with pytest.raises(RuntimeError, match="still running"):
        handler.run_migrations(FakeEcs(None), {**props}, sleep=lambda s: None, wait_seconds=0)


def test_web_image_is_built_from_the_web_dockerfile_with_a_small_context(web):
    images = web.read(f"{STACK_ID}.assets.json")["dockerImages"].values()
    [image] = [i for i in images if i["source"].get("dockerFile") == "deploy/web.Dockerfile"]
    staged = web.outdir / image["source"]["directory"]
    assert (staged / "deploy" / "web.Dockerfile").exists()  # `docker build -f` reads it there
    assert (staged / "manage.py").exists() and (staged / "requirements" / "web.txt").exists()
    assert not (staged / ".venv").exists() and not (staged / "node_modules").exists()


@pytest.mark.parametrize("values, key", [
    ({"web": "true"}, "domain"),
    ({"web": "true", "domain": DOMAIN}, "certificate_arn"),
    ({"web": "true", "domain": DOMAIN, "certificate_arn": "arn:aws:iam::1:certificate/x"},
     "certificate_arn"),
    ({**WEB_CONTEXT, "domain": "https://transcribe.example.com"}, "domain"),
    ({**WEB_CONTEXT, "web_tasks": "0"}, "web_tasks"),
    ({**WEB_CONTEXT, "worker_tasks": "0"}, "worker_tasks"),
    ({"web": "maybe"}, "web"),
])
def test_web_settings_are_checked_before_anything_is_built(values, key):
    from infra.config import ConfigError, InfraConfig

    with pytest.raises(ConfigError, match=rf"context value {key}="):
        InfraConfig.from_context(values)


def test_web_settings_parse_from_the_command_line_and_cdk_json():
    from infra.config import InfraConfig

    config = InfraConfig.from_context({**WEB_CONTEXT, "domain": "Transcribe.Example.com"})
    assert (config.web, config.domain, config.web_tasks) == (True, DOMAIN, 2)
    assert InfraConfig.from_context({"web": False}).web is False
    assert InfraConfig.from_context({}).web is False  # the stack as before


def test_web_needs_a_region_at_synth_time(monkeypatch):
    from infra.app import web_environment
    from infra.config import ConfigError

    for name in ("CDK_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="region"):
        web_environment()
    monkeypatch.setenv("CDK_DEFAULT_REGION", "eu-central-1")
    assert web_environment().region == "eu-central-1"
