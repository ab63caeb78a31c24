"""Monitoring: alarms on what needs a person, sent to an SNS topic, and a dashboard.

What does not need a person raises no alarm: SageMaker's TestNotification after each
endpoint create or update, a person's file that the model server refuses (4xx), a request
that expired (the queue-age alarm says why earlier). The results Lambda counts failures by
cause (lambda/handler.py); only `server` failures alarm."""

from __future__ import annotations

from collections.abc import Sequence

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
# A backlog above what max_instances can hold at the target, this many periods in a row:
# scaling has reached its ceiling and the queue does not shrink.
BACKLOG_PERIODS = 3
FAILURE_CAUSES = ("server", "input", "expired")


class Monitoring(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, inference: Inference,
                 topics: Sequence[sns.ITopic], failed_events: sqs.IQueue,
                 handler: lambda_.IFunction, failures_namespace: str, failures_metric: str,
                 failures_stack: str, queue_age_alarm_seconds: int, max_instances: int,
                 backlog_per_instance_target: float, alarm_email: str = "") -> None:
        super().__init__(scope, construct_id)
        self.alarm_topic = sns.Topic(self, "Alarms", enforce_ssl=True,
                                     display_name="Transcription alarms")
        if alarm_email:
            self.alarm_topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self.failures = {cause: cloudwatch.Metric(
            namespace=failures_namespace, metric_name=failures_metric,
            dimensions_map={"Stack": failures_stack, "Cause": cause},
            statistic="Sum", period=PERIOD)
            for cause in FAILURE_CAUSES}
        delivery_failures = cloudwatch.MathExpression(
            expression=" + ".join(f"FILL(t{i}, 0)" for i in range(len(topics))),
            using_metrics={f"t{i}": topic.metric_number_of_notifications_failed(
                period=PERIOD, statistic="Sum") for i, topic in enumerate(topics)},
            period=PERIOD, label="SNS deliveries to the Lambda that failed")
        backlog_ceiling = max_instances * backlog_per_instance_target

        self.server_failures = self._alarm(
            "ServerFailures",
            "A transcription failed for a reason other than the person's file (the model "
            "server answered 5xx, crashed or timed out): see the endpoint's logs.",
            self.failures["server"], threshold=0)
        self.notification_failures = self._alarm(
            "NotificationFailures",
            "SageMaker could not publish an outcome to SNS: the job's outcome reaches the "
            "web app only through its reconciler (the output or failure object in S3).",
            inference.metric("NotificationFailures", statistic="Sum", period=PERIOD),
            threshold=0)
        self.delivery_failures = self._alarm(
            "NotificationDeliveryFailures",
            "SNS could not deliver an outcome to the results Lambda (it went to the "
            "failed-events queue).",
            delivery_failures, threshold=0)
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
        self.backlog_at_max_capacity = self._alarm(
            "BacklogAtMaxCapacity",
            f"More than {backlog_ceiling:g} requests ({max_instances} instances x "
            f"{backlog_per_instance_target:g}) have waited for "
            f"{BACKLOG_PERIODS * int(PERIOD.to_minutes())} minutes: the endpoint is at "
            "max_instances and its queue does not shrink (raise max_instances or the quota).",
            inference.metric("ApproximateBacklogSize", statistic="Minimum", period=PERIOD),
            threshold=backlog_ceiling, periods=BACKLOG_PERIODS)
        self.handler_errors = self._alarm(
            "HandlerErrors",
            "The outcome Lambda raised an error (DynamoDB refused a write; it is retried "
            "twice, then queued). Malformed or foreign messages are skipped, not errors.",
            handler.metric_errors(period=PERIOD, statistic="Sum"),
            threshold=0)

        self.dashboard = self._dashboard(inference, topics, handler, failed_events,
                                         delivery_failures, backlog_ceiling)

    @property
    def alarms(self) -> tuple[cloudwatch.Alarm, ...]:
        return (self.server_failures, self.notification_failures, self.delivery_failures,
                self.failed_events, self.oldest_request_age, self.backlog_at_max_capacity,
                self.handler_errors)

    def _alarm(self, construct_id: str, description: str, metric: cloudwatch.IMetric, *,
               threshold: float, periods: int = 1) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self, construct_id,
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        action = cloudwatch_actions.SnsAction(self.alarm_topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        return alarm

    def _dashboard(self, inference: Inference, topics: Sequence[sns.ITopic],
                   handler: lambda_.IFunction, failed_events: sqs.IQueue,
                   delivery_failures: cloudwatch.IMetric,
                   backlog_ceiling: float) -> cloudwatch.Dashboard:
        def endpoint(name: str, statistic: str) -> cloudwatch.Metric:
            return inference.metric(name, statistic=statistic, period=PERIOD)

        dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(24))
        dashboard.add_widgets(cloudwatch.AlarmStatusWidget(
            title="Alarms", alarms=list(self.alarms), width=24, height=3))
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Queue: requests waiting", width=8,
                left=[endpoint("ApproximateBacklogSize", "Maximum"),
                      endpoint("ApproximateBacklogSizePerInstance", "Average")],
                left_annotations=[cloudwatch.HorizontalAnnotation(
                    value=backlog_ceiling, label="at max_instances")]),
            cloudwatch.GraphWidget(
                title="Queue: oldest request (s)", width=8,
                left=[endpoint("ApproximateAgeOfOldestRequest", "Maximum")]),
            cloudwatch.GraphWidget(
                title="Waiting with no instance", width=8,
                left=[endpoint("HasBacklogWithoutCapacity", "Maximum")]))
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Transcriptions", width=8,
                left=[endpoint("InvocationsProcessed", "Sum"),
                      endpoint("InvocationFailures", "Sum")]),
            cloudwatch.GraphWidget(
                title="Failures by cause", width=8, stacked=True,
                left=[metric.with_(label=cause) for cause, metric in self.failures.items()]),
            cloudwatch.GraphWidget(
                title="Notifications", width=8,
                left=[*(topic.metric_number_of_messages_published(period=PERIOD, statistic="Sum")
                        for topic in topics),
                      endpoint("NotificationFailures", "Sum"), delivery_failures]))
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Results Lambda", width=12,
                left=[handler.metric_invocations(period=PERIOD, statistic="Sum"),
                      handler.metric_errors(period=PERIOD, statistic="Sum")]),
            cloudwatch.GraphWidget(
                title="Failed-events queue", width=12,
                left=[failed_events.metric_approximate_number_of_messages_visible(
                    period=PERIOD, statistic="Maximum")]))
        return dashboard
