"""The AWS CDK app for the AWS path: `app.py` is the entry point (see cdk.json), `stack.py`
composes one construct per concern (storage, notifications, results, inference,
monitoring). Runtime code (model_container/, lambda/) is referenced by path, never imported."""
