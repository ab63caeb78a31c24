"""Taking an upload in: the checks every way in shares (web page, REST API, OpenAI-compatible
endpoint), before anything is queued."""

from __future__ import annotations

import os
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from . import services
from .media_check import NotAudio, check_audio
from .models import Job


class UploadRefused(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


def accept_upload(*, owner, upload, options: dict) -> Job:
    """Check the file (size, not empty, holds audio) and queue a job for it."""
    name = os.path.basename((upload.name or "upload").replace("\\", "/")) or "upload"
    recent = Job.objects.filter(owner=owner, created_at__gte=timezone.now() - timedelta(hours=1)).count()
    if recent >= settings.UPLOADS_PER_HOUR:
        raise UploadRefused(f"{name}: you have uploaded {recent} files in the last hour, the limit "
                            f"is {settings.UPLOADS_PER_HOUR}; please wait a little", status=429)
    if upload.size > settings.UPLOAD_MAX_BYTES:
        raise UploadRefused(f"{name}: the file is larger than the upload limit of "
                            f"{settings.UPLOAD_MAX_BYTES / 1024**2:.0f} MB", status=413)
    if upload.size == 0:
        raise UploadRefused(f"{name}: the file is empty")
    try:
        check_audio(upload.temporary_file_path())
    except NotAudio as exc:
        raise UploadRefused(f"{name}: {exc}") from None
    return services.job_create(owner=owner, upload=upload, original_name=name, options=options)
