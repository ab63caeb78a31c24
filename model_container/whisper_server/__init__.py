"""Whisper inference server with SageMaker's bring-your-own-container contract.

Pure inference pieces (options, audio, engines, transcriber) are separate from the
HTTP layer (app.py) so they can be tested and benchmarked without a server.
This package imports no Django and no other project code.
"""

SCHEMA_VERSION = "1.1"
