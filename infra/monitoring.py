"""Monitoring: alarms on what needs a person (failed transcriptions, outcomes that could not
be recorded, requests waiting too long, handler errors), sent to an SNS topic."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .inference import Inference

PERIOD = Duration.minutes(5)


class Monitoring(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, inference: Inference,
                 error_topic: sns.ITopic, failed_events: sqs.IQueue,
                 handler: lambda_.IFunction, queue_age_alarm_seconds: int,
                 alarm_email: str = "") -> None:
        super().__init__(scope, construct_id)
        self.alarm_topic = sns.Topic(self, "Alarms", enforce_ssl=True,
                                     display_name="Transcription alarms")
        if alarm_email:
            self.alarm_topic.add_subscription(subscriptions.EmailSubscription(alarm_email))

        self.failed_invocations = self._alarm(
            "FailedInvocations",
            "A transcription failed or expired (SageMaker published to the error topic). "
            "Also fires once after each endpoint create/update: SageMaker's TestNotification.",
            error_topic.metric_number_of_messages_published(period=PERIOD, statistic="Sum"),
            threshold=0)
        self.failed_events = self._alarm(
            "FailedEventsQueued",
            "An outcome could not be recorded in DynamoDB: see the failed-events queue.",
            failed_events.metric_approximate_number_of_messages_visible(
                period=PERIOD, statistic="Maximum"),
            threshold=0)
        self.oldest_request_age = self._alarm(
            "OldestRequestAge",
            f"A request has waited more than {queue_age_alarm_seconds} s in the endpoint's "
            "queue (not enough instances, or an instance that does not come up).",
            inference.metric("ApproximateAgeOfOldestRequest", statistic="Maximum", period=PERIOD),
            threshold=queue_age_alarm_seconds)
        self.handler_errors = self._alarm(
            "HandlerErrors",
            "The outcome Lambda raised an error (it is retried twice, then queued).",
            handler.metric_errors(period=PERIOD, statistic="Sum"),
            threshold=0)

    @property
    def alarms(self) -> tuple[cloudwatch.Alarm, ...]:
        return (self.failed_invocations, self.failed_events, self.oldest_request_age,
                self.handler_errors)

    def _alarm(self, construct_id: str, description: str, metric: cloudwatch.IMetric, *,
               threshold: float) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self, construct_id,
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        action = cloudwatch_actions.SnsAction(self.alarm_topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        return alarm
