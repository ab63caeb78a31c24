"""The bucket for inputs/, outputs/ and failures/, and its access-log bucket."""

from __future__ import annotations

from .conftest import require_cdk

require_cdk()

from aws_cdk.assertions import Match  # noqa: E402

PREFIXES = ("inputs/", "outputs/", "failures/")


def data_bucket_id(synth) -> str:
    [logical_id] = [k for k in synth.resources("AWS::S3::Bucket") if k.startswith("StorageData")]
    return logical_id


def logs_bucket_id(synth) -> str:
    [logical_id] = [k for k in synth.resources("AWS::S3::Bucket")
                    if k.startswith("StorageAccessLogs")]
    return logical_id


def test_two_buckets_private_and_encrypted(synth, template):
    template.resource_count_is("AWS::S3::Bucket", 2)
    buckets = template.find_resources("AWS::S3::Bucket", {"Properties": {
        "PublicAccessBlockConfiguration": {
            "BlockPublicAcls": True, "BlockPublicPolicy": True,
            "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
        "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
    }})
    assert set(buckets) == {data_bucket_id(synth), logs_bucket_id(synth)}


def test_both_buckets_refuse_requests_without_ssl(synth):
    denied = set()
    for policy in synth.resources("AWS::S3::BucketPolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if (statement["Effect"] == "Deny" and statement["Action"] == "s3:*"
                    and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}):
                denied.add(policy["Properties"]["Bucket"]["Ref"])
    assert denied == {data_bucket_id(synth), logs_bucket_id(synth)}


def test_each_prefix_expires_after_the_retention(synth):
    rules = synth.template["Resources"][data_bucket_id(synth)]["Properties"][
        "LifecycleConfiguration"]["Rules"]
    expiring = {r["Prefix"]: r["ExpirationInDays"] for r in rules if "Prefix" in r}
    assert expiring == {prefix: 30 for prefix in PREFIXES}
    assert all(r["Status"] == "Enabled" for r in rules)


def test_incomplete_multipart_uploads_are_aborted_after_a_day(template):
    template.has_resource_properties("AWS::S3::Bucket", {
        "LifecycleConfiguration": {"Rules": Match.array_with([Match.object_like({
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
            "Status": "Enabled"})])}})
    assert len(template.find_resources("AWS::S3::Bucket", {"Properties": {
        "LifecycleConfiguration": {"Rules": Match.array_with([Match.object_like({
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}})])}}})) == 2


def test_access_logs_go_to_the_log_bucket(synth):
    data = synth.template["Resources"][data_bucket_id(synth)]["Properties"]
    assert data["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": logs_bucket_id(synth)}
    logs = synth.template["Resources"][logs_bucket_id(synth)]["Properties"]
    assert "LoggingConfiguration" not in logs
    assert [r["ExpirationInDays"] for r in logs["LifecycleConfiguration"]["Rules"]
            if "ExpirationInDays" in r] == [30]


def test_buckets_are_emptied_and_deleted_with_the_stack_by_default(synth, template):
    for logical_id in (data_bucket_id(synth), logs_bucket_id(synth)):
        bucket = synth.template["Resources"][logical_id]
        assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("Delete", "Delete")
    template.resource_count_is("Custom::S3AutoDeleteObjects", 2)
