"""The context keys: documented defaults, values typed on the command line, and bad values
stopping the synth with the key's name. No synth here (and no aws-cdk-lib needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from infra.config import ConfigError, InfraConfig
from infra.models import MODELS
from tests.conftest import REPO

from .conftest import require_cdk


def test_defaults_are_the_documented_ones():
    config = InfraConfig.from_context({})
    # tiny.en runs on a CPU instance: the instance follows the model unless given.
    assert config.resolved_instance_type == "ml.c6i.xlarge" and not config.gpu
    assert config.model_data_url == "" and config.bakes_model
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
    ("instance_type", "ml.c7g.xlarge", "Graviton"),
    ("instance_type", "ml.inf2.xlarge", "Neuron"),
    ("model", "large-v4", "large-v3 (3090 MB, multilingual, ml.g5.xlarge)"),
    ("model", "my-finetune", "model_data_url=s3://"),
    ("model_data_url", "https://example.com/model.tar.gz", "s3://BUCKET/KEY.tar.gz"),
    ("model_data_url", "s3://bucket/model.zip", "s3://BUCKET/KEY.tar.gz"),
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


@pytest.mark.parametrize("name", sorted(MODELS))
def test_each_model_has_a_default_instance_that_fits_it(name):
    config = InfraConfig.from_context({"model": name})
    entry = MODELS[name]
    assert config.model == name and config.whisper_model == entry
    # A CPU instance for the small models, a GPU for medium and up (tiny/base/small run at
    # many times real time on a few cores; the rest need float16 on a GPU to be usable).
    small = name.split(".")[0] in ("tiny", "base", "small", "distil-small")
    assert config.gpu is not small, config.resolved_instance_type


def test_aliases_name_the_same_weights():
    assert InfraConfig.from_context({"model": "large"}).model == "large-v3"
    assert InfraConfig.from_context({"model": "turbo"}).model == "large-v3-turbo"


def test_the_instance_type_stays_overridable():
    config = InfraConfig.from_context({"model": "large-v3", "instance_type": "ml.g4dn.2xlarge"})
    assert config.resolved_instance_type == "ml.g4dn.2xlarge" and config.gpu
    config = InfraConfig.from_context({"model": "small", "instance_type": "ml.g4dn.xlarge"})
    assert config.gpu


def test_model_data_url_takes_a_model_of_ones_own():
    config = InfraConfig.from_context({"model": "acme-large-v3-legal",
                                       "model_data_url": "s3://acme-models/whisper/model.tar.gz"})
    assert not config.bakes_model and config.whisper_model is None
    assert config.resolved_instance_type == "ml.g4dn.xlarge"  # size unknown: a GPU
    # A known name with model data: that model's instance.
    config = InfraConfig.from_context({"model": "small",
                                       "model_data_url": "s3://acme-models/small.tar.gz"})
    assert config.resolved_instance_type == "ml.c6i.2xlarge" and not config.bakes_model


def test_the_image_build_args_follow_the_model_engine_and_device():
    require_cdk()
    from infra.inference import image_build_args

    def args(**context):
        return image_build_args(InfraConfig.from_context(context))

    assert args() == {"DEVICE": "cpu", "ENGINE": "faster-whisper", "MODEL_NAME": "tiny.en",
                      "MODEL_SOURCE": "package"}
    assert args(model="base")["MODEL_SOURCE"] == "package"
    assert args(model="large-v3") == {
        "DEVICE": "gpu", "ENGINE": "faster-whisper", "MODEL_NAME": "large-v3",
        "MODEL_SOURCE": "hub", "MODEL_REPO": "Systran/faster-whisper-large-v3"}
    assert args(model="small", engine="openai-whisper")["ENGINE"] == "openai-whisper"
    assert args(model="large-v3", instance_type="ml.c6i.4xlarge")["DEVICE"] == "cpu"
    assert args(model="mine", model_data_url="s3://b-1/m.tar.gz") == {
        "DEVICE": "gpu", "ENGINE": "faster-whisper", "MODEL_SOURCE": "none"}


def test_a_wrong_model_name_stops_synth_with_the_list_and_no_traceback(tmp_path):
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps({"model": "large-v4"}),
           "CDK_OUTDIR": str(tmp_path), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    result = subprocess.run([sys.executable, "infra/app.py"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "context value model='large-v4' is invalid" in result.stderr and "large-v3-turbo" in result.stderr
    assert "Traceback" not in result.stderr
