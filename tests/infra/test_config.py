"""The context keys: documented defaults, values typed on the command line, and bad values
stopping the synth with the key's name. No synth here (and no aws-cdk-lib needed)."""

from __future__ import annotations

import pytest

from infra.config import ConfigError, InfraConfig

from .conftest import require_cdk


def test_defaults_are_the_documented_ones():
    config = InfraConfig.from_context({})
    assert config.instance_type == "ml.g4dn.xlarge"
    assert (config.min_instances, config.max_instances) == (0, 2)
    assert (config.engine, config.model) == ("faster-whisper", "tiny.en")
    assert config.retention_days == 30
    assert config.removal_policy == "destroy" and not config.retain
    assert config.max_concurrent_invocations == 1
    assert config.request_ttl_seconds == 21600
    assert config.resolved_endpoint_name == "whisper-transcription"


def test_command_line_strings_are_converted():
    config = InfraConfig.from_context({
        "max_instances": "4", "min_instances": "1", "removal_policy": "RETAIN",
        "backlog_per_instance_target": "2.5", "engine": "openai-whisper", "model": "base",
        "instance_type": "ml.g5.xlarge", "endpoint_name": "transcribe-prod",
        "retention_days": 7, "alarm_email": "ops@example.com", "unrelated": "ignored",
    })
    assert (config.min_instances, config.max_instances) == (1, 4)
    assert config.retain
    assert config.backlog_per_instance_target == 2.5
    assert (config.engine, config.model) == ("openai-whisper", "base")
    assert config.resolved_endpoint_name == "transcribe-prod"
    assert config.retention_days == 7


def test_empty_values_mean_the_default():
    assert InfraConfig.from_context({"max_instances": "", "model": None}) == InfraConfig()


def test_endpoint_name_follows_the_stack_name():
    config = InfraConfig.from_context({"stack_name": "Transcribe-Staging"})
    assert config.resolved_endpoint_name == "transcribe-staging"


@pytest.mark.parametrize("key, value, words", [
    ("max_instances", "two", "whole number"),
    ("max_instances", "0", "at least 1"),
    ("min_instances", "3", "at least min_instances"),  # above the default max of 2
    ("min_instances", "-1", "0 or more"),
    ("engine", "whisper.cpp", "faster-whisper or openai-whisper"),
    ("removal_policy", "snapshot", "destroy or retain"),
    ("retention_days", "0", "between 1 and 3650"),
    ("request_ttl_seconds", "86400", "SageMaker's limits"),
    ("instance_type", "g4dn.xlarge", "SageMaker instance type"),
    ("endpoint_name", "bad_name", "hyphens"),
    ("stack_name", "1stack", "starting with a letter"),
    ("max_concurrent_invocations", "0", "between 1 and 1000"),
    ("backlog_per_instance_target", "0", "above 0"),
    ("alarm_email", "nobody", "e-mail"),
])
def test_bad_values_fail_with_the_key_named(key, value, words):
    with pytest.raises(ConfigError) as caught:
        InfraConfig.from_context({key: value})
    message = str(caught.value)
    assert key in message and words in message


def test_the_base_model_is_baked_into_the_image():
    require_cdk()
    from infra.inference import image_build_args

    assert image_build_args("tiny.en") is None
    assert image_build_args("base") == {"BAKE_BASE_MODEL": "1"}
