"""Alarms for a person, the alarm topic, the SNS topics' SSL policies, and the outputs."""

from __future__ import annotations

from .conftest import require_cdk

require_cdk()

from aws_cdk.assertions import Match  # noqa: E402


def alarm_topic_ref(synth) -> dict:
    [topic] = [k for k in synth.resources("AWS::SNS::Topic") if k.startswith("MonitoringAlarms")]
    return {"Ref": topic}


def alarms(synth) -> dict[str, dict]:
    return {k[len("Monitoring"):-8]: v["Properties"]
            for k, v in synth.resources("AWS::CloudWatch::Alarm").items()
            if k.startswith("Monitoring")}


def test_four_alarms_notify_the_alarm_topic(synth):
    found = alarms(synth)
    assert set(found) == {"FailedInvocations", "FailedEventsQueued", "OldestRequestAge",
                          "HandlerErrors"}
    for props in found.values():
        assert props["AlarmActions"] == [alarm_topic_ref(synth)]
        assert props["OKActions"] == [alarm_topic_ref(synth)]
        assert props["TreatMissingData"] == "notBreaching"
        assert props["EvaluationPeriods"] == 1


def test_failed_invocations_from_the_error_topic(synth):
    [error_topic] = [k for k in synth.resources("AWS::SNS::Topic")
                     if k.startswith("NotificationsError")]
    props = alarms(synth)["FailedInvocations"]
    assert (props["Namespace"], props["MetricName"], props["Statistic"]) == (
        "AWS/SNS", "NumberOfMessagesPublished", "Sum")
    assert props["Dimensions"] == [{"Name": "TopicName",
                                    "Value": {"Fn::GetAtt": [error_topic, "TopicName"]}}]
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanThreshold", 0)


def test_failed_events_queue_alarm(synth):
    [queue] = synth.resources("AWS::SQS::Queue")
    props = alarms(synth)["FailedEventsQueued"]
    assert (props["Namespace"], props["MetricName"]) == (
        "AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert props["Dimensions"] == [{"Name": "QueueName",
                                    "Value": {"Fn::GetAtt": [queue, "QueueName"]}}]
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanThreshold", 0)


def test_oldest_request_age_alarm(synth):
    props = alarms(synth)["OldestRequestAge"]
    assert (props["Namespace"], props["MetricName"], props["Statistic"]) == (
        "AWS/SageMaker", "ApproximateAgeOfOldestRequest", "Maximum")
    assert props["Dimensions"] == [{"Name": "EndpointName", "Value": "whisper-transcription"}]
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanThreshold", 1800)


def test_handler_errors_alarm(synth):
    [function] = [k for k in synth.resources("AWS::Lambda::Function")
                  if k.startswith("ResultsHandler")]
    props = alarms(synth)["HandlerErrors"]
    assert (props["Namespace"], props["MetricName"], props["Statistic"]) == (
        "AWS/Lambda", "Errors", "Sum")
    assert props["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function}}]


def test_every_topic_refuses_publishing_without_ssl(synth, template):
    topics = set(synth.resources("AWS::SNS::Topic"))
    assert len(topics) == 3  # success, error, alarms
    insecure = {"Bool": {"aws:SecureTransport": "false"}}
    enforced = set()
    for policy in synth.resources("AWS::SNS::TopicPolicy").values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        if any(s["Effect"] == "Deny" and s["Condition"] == insecure for s in statements):
            enforced.update(t["Ref"] for t in policy["Properties"]["Topics"])
    assert enforced == topics


def test_outputs(template):
    for name in ("BucketName", "EndpointName", "JobsTableName", "SuccessTopicArn",
                 "ErrorTopicArn", "AppPolicyArn", "Region", "RequestTtlSeconds",
                 "AlarmTopicArn"):
        template.has_output(name, {"Value": Match.any_value(), "Description": Match.any_value()})
    template.has_output("Region", {"Value": {"Ref": "AWS::Region"}})
    template.has_output("RequestTtlSeconds", {"Value": "21600"})
