"""Notifications: the two SNS topics SageMaker's async endpoint publishes to, one for
completed requests and one for failed or expired ones. SSL is enforced on publishing, and
once the stack names the endpoint's role (`allow_publishing_only_by`), no other principal of
the account may publish: an IAM policy elsewhere that allows sns:Publish on "*" does not
reach these topics. There is no server-side encryption (cdk-nag's AwsSolutions pack does
not ask for it): the messages carry a job id, S3 URIs and a failure reason, never audio or
transcript text."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct


class Notifications(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.success_topic = sns.Topic(self, "Success", enforce_ssl=True,
                                       display_name="Transcription completed")
        self.error_topic = sns.Topic(self, "Error", enforce_ssl=True,
                                     display_name="Transcription failed")

    @property
    def topics(self) -> tuple[sns.Topic, sns.Topic]:
        return (self.success_topic, self.error_topic)

    def allow_publishing_only_by(self, role: iam.IRole) -> None:
        """Deny sns:Publish to every principal but `role` (an explicit deny in the topic
        policy wins over any allow in an identity policy of the same account)."""
        for topic in self.topics:
            topic.add_to_resource_policy(iam.PolicyStatement(
                sid="PublishOnlyByTheEndpoint",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={"ArnNotEquals": {"aws:PrincipalArn": role.role_arn}}))
