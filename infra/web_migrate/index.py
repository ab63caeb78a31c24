"""The migration custom resource (infra/web.py): on Create and Update, run the migrate task
once on ECS Fargate and wait until it stops; fail the deployment, with the task's reason, if
it does not exit 0. Delete does nothing (the database goes with its own resource).

Runs under the CDK Provider framework, which sends the response to CloudFormation; a raised
exception becomes the FAILED reason shown in the stack events."""

from __future__ import annotations

import time

import boto3

POLL_SECONDS = 10
# The function's timeout is 15 minutes; stop waiting a little before it, with a clear reason.
WAIT_SECONDS = 13 * 60


def on_event(event, context):
    if event["RequestType"] == "Delete":
        return {"PhysicalResourceId": event["PhysicalResourceId"]}
    props = event["ResourceProperties"]
    task_arn = run_migrations(boto3.client("ecs"), props)
    return {"PhysicalResourceId": task_arn, "Data": {"TaskArn": task_arn}}


def run_migrations(ecs, props: dict, *, sleep=time.sleep, wait_seconds: int = WAIT_SECONDS) -> str:
    started = ecs.run_task(
        cluster=props["Cluster"], taskDefinition=props["TaskDefinition"], count=1,
        launchType="FARGATE", startedBy="cfn-migrations",
        networkConfiguration={"awsvpcConfiguration": {
            "subnets": props["Subnets"], "securityGroups": props["SecurityGroups"],
            "assignPublicIp": props.get("AssignPublicIp", "ENABLED")}})
    if started.get("failures") or not started.get("tasks"):
        raise RuntimeError(f"the migration task did not start: {started.get('failures')}")
    task_arn = started["tasks"][0]["taskArn"]
    waited = 0
    while waited < wait_seconds:
        sleep(POLL_SECONDS)
        waited += POLL_SECONDS
        [task] = ecs.describe_tasks(cluster=props["Cluster"], tasks=[task_arn])["tasks"]
        if task["lastStatus"] != "STOPPED":
            continue
        container = next(c for c in task["containers"] if c["name"] == props["Container"])
        if container.get("exitCode") == 0:
            return task_arn
        raise RuntimeError(
            f"migrations failed (exit code {container.get('exitCode')}, "
            f"{container.get('reason') or task.get('stoppedReason')}); "
            f"see the log stream of task {task_arn.rsplit('/', 1)[-1]}")
    raise RuntimeError(f"migrations still running after {wait_seconds} s: task {task_arn}")
