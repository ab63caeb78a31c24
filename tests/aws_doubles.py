"""AWS resources the tests make under moto, in one place."""

from __future__ import annotations

import boto3


def sagemaker_endpoint(name: str, *, region: str, instances: int = 1) -> None:
    """A SageMaker endpoint with one variant ("AllTraffic") of `instances` instances."""
    sagemaker = boto3.client("sagemaker", region_name=region)
    sagemaker.create_model(ModelName=f"{name}-model", ExecutionRoleArn="arn:aws:iam::123456789012:role/x",
                           PrimaryContainer={"Image": f"123456789012.dkr.ecr.{region}.amazonaws.com/w:1"})
    sagemaker.create_endpoint_config(EndpointConfigName=f"{name}-config", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": f"{name}-model", "InitialInstanceCount": instances,
        "InstanceType": "ml.g4dn.xlarge"}])
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")
