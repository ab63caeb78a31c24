"""`manage.py purge_expired [--days N] [--dry-run]`: delete jobs older than the retention
(RETENTION_DAYS, or --days) together with their stored files. Run it daily (cron, a
systemd timer or a scheduled task); on AWS the bucket's lifecycle rules delete the files too."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from transcripts import services
from transcripts.models import Job


class Command(BaseCommand):
    help = "Delete jobs and their files older than the retention period."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None,
                            help="age in days (default: RETENTION_DAYS)")
        parser.add_argument("--dry-run", action="store_true", help="only say what would go")

    def handle(self, *args, days, dry_run, **options):
        days = settings.RETENTION_DAYS if days is None else days
        if days <= 0:
            raise CommandError("no retention set: give --days N or set RETENTION_DAYS")
        cutoff = timezone.now() - timedelta(days=days)
        old = Job.objects.filter(created_at__lt=cutoff).order_by("created_at")
        count = 0
        for job in old.iterator(chunk_size=200):
            count += 1
            if not dry_run:
                services.job_delete(job=job)
        verb = "would delete" if dry_run else "deleted"
        self.stdout.write(f"{verb} {count} job(s) created before {cutoff:%Y-%m-%d %H:%M} UTC")
