"""Alarms for a person, the alarm topic, the SNS topics' SSL policies, and the outputs."""

from __future__ import annotations

from .conftest import require_cdk

require_cdk()

import json  # noqa: E402

from aws_cdk.assertions import Match  # noqa: E402


def alarm_topic_ref(synth) -> dict:
    [topic] = [k for k in synth.resources("AWS::SNS::Topic") if k.startswith("MonitoringAlarms")]
    return {"Ref": topic}


def alarms(synth) -> dict[str, dict]:
    return {k[len("Monitoring"):-8]: v["Properties"]
            for k, v in synth.resources("AWS::CloudWatch::Alarm").items()
            if k.startswith("Monitoring")}


ALARMS = {"ServerFailures", "NotificationFailures", "NotificationDeliveryFailures",
          "FailedEventsQueued", "OldestRequestAge", "BacklogAtMaxCapacity", "HandlerErrors"}


def test_the_alarms_notify_the_alarm_topic(synth):
    found = alarms(synth)
    assert set(found) == ALARMS
    for props in found.values():
        assert props["AlarmActions"] == [alarm_topic_ref(synth)]
        assert props["OKActions"] == [alarm_topic_ref(synth)]
        assert props["TreatMissingData"] == "notBreaching"


def published_metrics(props) -> set[tuple[str, str]]:
    if "MetricName" in props:
        return {(props["Namespace"], props["MetricName"])}
    return {(m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Metric"]["MetricName"])
            for m in props["Metrics"] if "MetricStat" in m}


def test_no_alarm_on_test_notifications_or_on_peoples_files(synth):
    """SageMaker publishes a TestNotification to both topics on every endpoint create or
    update, and a person's undecodable file is a failed invocation: neither needs a person.
    Nothing alarms on what the topics publish, nor on SageMaker's failure counts (which
    include 4xx answers); failures alarm only when their cause is the server."""
    watched = set().union(*(published_metrics(p) for p in alarms(synth).values()))
    assert ("AWS/SNS", "NumberOfMessagesPublished") not in watched
    assert not watched & {("AWS/SageMaker", m) for m in (
        "InvocationFailures", "Invocation4XXErrors", "ExpiredRequests")}
    props = alarms(synth)["ServerFailures"]
    assert (props["Namespace"], props["MetricName"], props["Statistic"]) == (
        "WhisperTranscription", "FailedTranscriptions", "Sum")
    assert props["Dimensions"] == [{"Name": "Cause", "Value": "server"},
                                   {"Name": "Stack", "Value": "whisper-transcription"}]
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanThreshold", 0)


def test_the_failure_metric_is_the_one_the_lambda_emits(synth):
    from infra.results import FAILURES_METRIC, METRICS_NAMESPACE
    from tests.lambda_fn.conftest import load_handler_module

    handler = load_handler_module()
    assert (handler.METRICS_NAMESPACE, handler.FAILURES_METRIC) == (METRICS_NAMESPACE, FAILURES_METRIC)
    _, function = next((k, v) for k, v in synth.resources("AWS::Lambda::Function").items()
                       if k.startswith("ResultsHandler"))
    assert function["Properties"]["Environment"]["Variables"]["STACK_NAME"] == "whisper-transcription"


def test_notification_failures_alarm(synth):
    props = alarms(synth)["NotificationFailures"]
    assert (props["Namespace"], props["MetricName"], props["Statistic"]) == (
        "AWS/SageMaker", "NotificationFailures", "Sum")
    assert props["Dimensions"] == [{"Name": "EndpointName", "Value": "whisper-transcription"}]
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanThreshold", 0)


def test_notification_delivery_failures_alarm_watches_both_topics(synth):
    topics = {k for k in synth.resources("AWS::SNS::Topic") if k.startswith("Notifications")}
    props = alarms(synth)["NotificationDeliveryFailures"]
    watched = {m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
               for m in props["Metrics"] if "MetricStat" in m}
    assert watched == topics
    assert {m["MetricStat"]["Metric"]["MetricName"] for m in props["Metrics"]
            if "MetricStat" in m} == {"NumberOfNotificationsFailed"}
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanThreshold", 0)


def test_backlog_at_max_capacity_alarm(synth):
    """max_instances 2 x backlog_per_instance_target 5: a backlog above 10 for 15 minutes."""
    props = alarms(synth)["BacklogAtMaxCapacity"]
    assert (props["Namespace"], props["MetricName"], props["Statistic"]) == (
        "AWS/SageMaker", "ApproximateBacklogSize", "Minimum")
    assert props["Dimensions"] == [{"Name": "EndpointName", "Value": "whisper-transcription"}]
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanThreshold", 10)
    assert (props["EvaluationPeriods"], props["DatapointsToAlarm"], props["Period"]) == (3, 3, 300)


def test_a_dashboard_shows_the_queue_the_failures_and_the_alarms(synth):
    [dashboard] = synth.resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for shown in ("ApproximateBacklogSize", "ApproximateBacklogSizePerInstance",
                  "ApproximateAgeOfOldestRequest", "HasBacklogWithoutCapacity",
                  "InvocationsProcessed", "InvocationFailures", "FailedTranscriptions",
                  "NotificationFailures", "NumberOfNotificationsFailed",
                  "NumberOfMessagesPublished", "ApproximateNumberOfMessagesVisible"):
        assert shown in body, shown
    for alarm in synth.resources("AWS::CloudWatch::Alarm"):
        if alarm.startswith("Monitoring"):
            assert alarm in body  # the alarm status widget


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
