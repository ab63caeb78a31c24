"""`lambda` is a Python keyword: the handler is loaded by path, as Lambda's runtime does."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys

import boto3
import pytest
from moto import mock_aws

from tests.conftest import REPO

LAMBDA_DIR = REPO / "lambda"
NOTIFICATIONS = REPO / "contracts" / "notifications"
CONTRACT_BUCKET = "whisper-transcripts-bucket"  # the bucket the contract's messages name


def load_handler_module():
    sys.path.insert(0, str(LAMBDA_DIR))  # the handler imports outcome_store as a sibling
    spec = importlib.util.spec_from_file_location("results_lambda_handler", LAMBDA_DIR / "handler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def notification(name: str) -> dict:
    return json.loads((NOTIFICATIONS / f"{name}.json").read_text())


def sns_event(*messages) -> dict:
    """Wrap notifications the way SNS delivers them to Lambda."""
    template = json.loads((NOTIFICATIONS / "sns-event.json").read_text())
    records = []
    for i, message in enumerate(messages):
        record = copy.deepcopy(template["Records"][0])
        record["Sns"]["MessageId"] = f"message-{i}"
        record["Sns"]["Message"] = message if isinstance(message, str) else json.dumps(message)
        records.append(record)
    return {"Records": records}


@pytest.fixture
def jobs_table(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("JOBS_TABLE_NAME", "jobs")
    monkeypatch.setenv("OUTPUT_LOCATION_PREFIX", f"s3://{CONTRACT_BUCKET}/outputs/")
    monkeypatch.setenv("FAILURE_LOCATION_PREFIX", f"s3://{CONTRACT_BUCKET}/failures/")
    monkeypatch.setenv("STACK_NAME", "whisper-transcription")
    with mock_aws():
        table = boto3.resource("dynamodb").create_table(
            TableName="jobs", KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST")
        yield table


@pytest.fixture
def lambda_handler(jobs_table):
    module = load_handler_module()
    module._table = module._locations = None
    return module.handler
