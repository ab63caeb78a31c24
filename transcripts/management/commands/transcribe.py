"""`manage.py transcribe FILE... [--wait]`: submit recordings through whichever backend is
configured, optionally wait, and print the transcripts. `--s3-uri` takes an object that is
already in S3."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from transcripts import exports, selectors, services
from transcripts.backends import get_backend
from transcripts.backends.s3_objects import download_s3_object
from transcripts.forms import speaker_options
from transcripts.media_check import NotAudio, check_audio
from transcripts.models import TERMINAL, Job, Status
from transcripts.workers import steps


class Command(BaseCommand):
    help = "Transcribe audio or video files (or S3 objects) and optionally wait for the text."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="*", help="audio or video files")
        parser.add_argument("--s3-uri", action="append", default=[], metavar="URI",
                            help="an s3://bucket/key object to transcribe (repeatable)")
        parser.add_argument("--language", help="language code, e.g. en or fr (default: detect)")
        parser.add_argument("--task", choices=["transcribe", "translate"], default="transcribe")
        parser.add_argument("--word-timestamps", action="store_true")
        speakers = parser.add_argument_group("speakers (who speaks when)")
        speakers.add_argument("--diarize", action="store_true", help="find who speaks")
        speakers.add_argument("--speakers", type=int, metavar="N", help="exactly N speakers")
        speakers.add_argument("--min-speakers", type=int, metavar="N", help="at least N speakers")
        speakers.add_argument("--max-speakers", type=int, metavar="N", help="at most N speakers")
        speakers.add_argument("--channels-as-speakers", action="store_true",
                              help="each channel is one speaker (a stereo call, two microphones)")
        parser.add_argument("--user", help="owner of the jobs (default: the first admin)")
        parser.add_argument("--wait", action="store_true", help="wait and print the transcripts")
        parser.add_argument("--format", choices=list(exports.FORMATS), default="txt")
        parser.add_argument("--max-line-width", type=int, default=exports.SubtitleOptions.max_line_width,
                            help="SRT/VTT: characters a subtitle line")
        parser.add_argument("--max-line-count", type=int, default=exports.SubtitleOptions.max_line_count,
                            help="SRT/VTT: lines a subtitle")
        parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait at most")

    def handle(self, *args, files, s3_uri, language, task, word_timestamps, user, wait, format,
               timeout, **options):
        if not files and not s3_uri:
            raise CommandError("give at least one file or --s3-uri")
        try:
            speakers = speaker_options(
                diarize=options["diarize"], speakers=options["speakers"], min_speakers=options["min_speakers"],
                max_speakers=options["max_speakers"], channels_as_speakers=options["channels_as_speakers"])
            subtitles = exports.SubtitleOptions.parse(str(options["max_line_width"]), str(options["max_line_count"]))
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        owner = self._owner(user)
        job_options = {"language": language or None, "task": task, "word_timestamps": word_timestamps,
                       **speakers}
        jobs = [self._submit_file(owner, Path(f), job_options) for f in files]
        jobs += [self._submit_s3(owner, uri, job_options) for uri in s3_uri]
        for job in jobs:
            self.stdout.write(f"{job.public_id}  {job.original_name}  {job.status}")
        if wait:
            return self._wait(jobs, format, timeout, subtitles)

    def _owner(self, username: str | None):
        users = get_user_model().objects
        owner = users.filter(username=username).first() if username else \
            users.filter(is_superuser=True).order_by("pk").first()
        if owner is None:
            raise CommandError(f"no user {username!r}" if username else
                               "no admin account yet: run `make run` once, or give --user")
        return owner

    def _submit_file(self, owner, path: Path, job_options: dict) -> Job:
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        if path.stat().st_size == 0:
            raise CommandError(f"{path}: the file is empty")
        try:
            check_audio(str(path))
        except NotAudio as exc:
            raise CommandError(f"{path}: {exc}") from None
        with open(path, "rb") as handle:
            return services.job_create(owner=owner, upload=File(handle, name=path.name),
                                       original_name=path.name, options=job_options)

    def _submit_s3(self, owner, uri: str, job_options: dict) -> Job:
        with tempfile.NamedTemporaryFile(suffix=".audio") as handle:
            try:
                name = download_s3_object(uri, handle)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            handle.flush()
            try:
                check_audio(handle.name)
            except NotAudio as exc:
                raise CommandError(f"{uri}: {exc}") from None
            handle.seek(0)
            return services.job_create(owner=owner, upload=File(handle, name=name),
                                       original_name=name, options=job_options)

    def _wait(self, jobs: list[Job], fmt: str, timeout: float, subtitles: exports.SubtitleOptions) -> None:
        """Do the backend's background work here too, so that waiting works with or without a running
        web app (a lease stops two dispatchers from taking the same job)."""
        work = steps(get_backend().workers)
        deadline = time.monotonic() + timeout
        pending = {job.pk for job in jobs}
        while pending and time.monotonic() < deadline:
            if not sum(step() for step in work.values()):
                time.sleep(1)
            done = set(Job.objects.filter(pk__in=pending, status__in=TERMINAL).values_list("pk", flat=True))
            pending -= done
        failed = False
        for job in jobs:
            job.refresh_from_db()
            self.stdout.write(f"\n== {job.original_name} ({job.status})")
            result = selectors.job_document(job) if job.status == Status.COMPLETED else None
            if result is not None:
                self.stdout.write(exports.render(result, fmt, subtitles))
            else:
                failed = True
                self.stdout.write(job.failure_reason or "still waiting: gave up after --timeout")
        if failed:
            raise CommandError("some jobs did not complete")
