"""The staff admin: every person's jobs, their review, and the service's capacity.

Thin, like the views: writes go through services, reads through
selectors_admin.py, numbers are computed there and only formatted here. A job's page is
read-only: status, results and reviews change only through the actions, which use the same
conditional updates as the rest of the app (a form save could overwrite an outcome that
landed while the page was open)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from . import selectors, selectors_admin, services
from .backends import get_backend
from .models import Invite, Job, ReviewQueueJob, Status
from .search import search, terms

TRANSCRIPT_SEGMENTS_SHOWN = 500  # a job's page shows this many segments of its transcript


# ---------------------------------------------------------------------- formatting

def clock(seconds) -> str:
    """A position or length of audio: 2:05, 1:02:05."""
    if seconds is None:
        return "—"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def span(seconds) -> str:
    """A wait or a run time: 0.4 s, 45 s, 3 min 05 s, 2 h 04 min."""
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
    return f"{whole // 86400} d {whole % 86400 // 3600} h"


def _timings(job: Job) -> dict[str, Any]:
    """The job's timings, worked out once per row although three columns show them."""
    row = vars(job)
    if "_admin_timings" not in row:
        row["_admin_timings"] = selectors_admin.job_timings(job)
    timings: dict[str, Any] = row["_admin_timings"]
    return timings


def _table(rows) -> str:
    return format_html('<table class="job-facts">{}</table>', format_html_join(
        "", "<tr><th>{}</th><td>{}</td></tr>", ((k, "—" if v in (None, "") else v) for k, v in rows)))


# ---------------------------------------------------------------------- filters and forms

class EngineFilter(admin.SimpleListFilter):
    title = "engine"
    parameter_name = "engine"

    def lookups(self, request, model_admin):
        return [(engine, engine) for engine in selectors_admin.engines()]

    def queryset(self, request, queryset):
        return queryset.filter(made_with__engine=self.value()) if self.value() else queryset


class NeedsReviewFilter(admin.SimpleListFilter):
    title = "needs review"
    parameter_name = "needs_review"

    def lookups(self, request, model_admin):
        return [("yes", "Flagged, not reviewed yet"), ("flagged", "Flagged (reviewed or not)"),
                ("clean", "Completed without flags")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(selectors_admin.NEEDS_REVIEW)
        if self.value() == "flagged":
            return queryset.filter(selectors_admin.FLAGGED)
        if self.value() == "clean":
            return queryset.filter(status=Status.COMPLETED).exclude(selectors_admin.FLAGGED)
        return queryset


class JobActionForm(helpers.ActionForm):
    """The action bar with a note for approve and reject."""

    note = forms.CharField(required=False, label="Review note:", widget=forms.TextInput(
        attrs={"size": 40, "placeholder": "why (for approve / reject; needed to reject)"}))


class _JobChangeList(ChangeList):
    def get_queryset(self, request, exclude_parameters=None):
        # A list page does not need a hundred whole transcripts; search still reads them.
        return super().get_queryset(request, exclude_parameters).defer("transcript_text")


# ---------------------------------------------------------------------- the job pages

class _JobPages(admin.ModelAdmin):
    """What the job list and the review queue share: columns, details, review actions."""

    action_form = JobActionForm
    list_select_related = ("owner",)
    search_fields = ("original_name", "owner__username", "transcript_text")
    search_help_text = "File name, owner's username, or words of the transcript."
    actions: tuple[str, ...] = ("mark_reviewed", "approve", "reject")
    fieldsets = (
        ("Job", {"fields": ("public_id", "owner", "original_name", "size_bytes", "stored_files",
                            "status", "attempts", "failure_reason")}),
        ("Timings", {"fields": ("created_at", "submitted_at", "started_at", "finished_at",
                                "timings")}),
        ("How it was made (to reproduce)", {"fields": ("requested_options", "made_with_details")}),
        ("Quality and review", {"fields": ("flag_reasons", "review", "review_note", "reviewed_by",
                                           "reviewed_at")}),
        ("Result", {"fields": ("audio_length", "language", "transcript")}),
        ("AWS", {"classes": ("collapse",), "fields": ("remote_output", "remote_failure")}),
    )
    readonly_fields = ("stored_files", "timings", "requested_options", "made_with_details",
                       "flag_reasons", "audio_length", "transcript")

    # -------------------------------------------------------------- permissions

    def has_add_permission(self, request):
        return False  # jobs come from uploads, which store the audio and submit it

    def has_change_permission(self, request, obj=None):
        # The list's actions need "change"; a job's own page is read-only (see the docstring).
        return obj is None and super().has_change_permission(request)

    # -------------------------------------------------------------- list

    def get_changelist(self, request, **kwargs):
        return _JobChangeList

    def get_search_results(self, request, queryset, search_term):
        """Each word must be in the file name, the owner's username, or the transcript; the
        transcript through the database's full-text index, not a scan of every text."""
        for word in terms(search_term):
            queryset = queryset.filter(Q(original_name__icontains=word)
                                       | Q(owner__username__icontains=word)
                                       | Q(pk__in=search(Job.objects.all(), word).values("pk")))
        return queryset, False

    @admin.display(description="file", ordering="original_name")
    def file(self, obj):
        return obj.original_name

    @admin.display(description="audio", ordering="duration")
    def audio_length(self, obj):
        return clock(obj.duration)

    @admin.display(description="engine")
    def engine(self, obj):
        return (obj.made_with or {}).get("engine") or "—"

    @admin.display(description="model")
    def model_name(self, obj):
        return (obj.made_with or {}).get("model") or "—"

    @admin.display(description="queued")
    def queued_for(self, obj):
        return span(_timings(obj)["queued"])

    @admin.display(description="processing")
    def processing_for(self, obj):
        return span(_timings(obj)["processing"])

    @admin.display(description="total")
    def total_time(self, obj):
        return span(_timings(obj)["total"])

    @admin.display(description="failure")
    def failure(self, obj):
        if not obj.failure_reason:
            return "—"
        return format_html('<span title="{}">{}</span>', obj.failure_reason,
                           Truncator(obj.failure_reason).chars(60))

    @admin.display(description="flags")
    def flag_count(self, obj):
        flags = obj.quality_flags or []
        if not flags:
            return "—"
        return format_html('<span title="{}">{}</span>',
                           "\n".join(f.get("reason", "") for f in flags), len(flags))

    @admin.display(description="review", ordering="review")
    def review_state(self, obj):
        return obj.get_review_display() or "—"

    # -------------------------------------------------------------- details

    @admin.display(description="stored files")
    def stored_files(self, obj):
        return _table([("audio", obj.audio.name), ("result JSON", obj.output_name)])

    @admin.display(description="timings")
    def timings(self, obj):
        times = _timings(obj)
        return _table([("queued", span(times["queued"])), ("processing", span(times["processing"])),
                       ("total", span(times["total"]) + (" so far" if times["running"] else ""))])

    @admin.display(description="asked for")
    def requested_options(self, obj):
        return _table(sorted((obj.options or {}).items())) if obj.options else "—"

    @admin.display(description="made with")
    def made_with_details(self, obj):
        made = obj.made_with or {}
        if not made:
            return "— (no result yet)"
        rows = [("engine", made.get("engine")), ("model", made.get("model")),
                ("device", made.get("device")), ("compute type", made.get("compute_type")),
                ("multilingual", made.get("multilingual"))]
        rows += [(f"option: {k}", json.dumps(v)) for k, v in sorted((made.get("options") or {}).items())]
        return format_html("{}<details><summary>as JSON</summary><pre>{}</pre></details>",
                           _table(rows), json.dumps(made, indent=2, sort_keys=True))

    @admin.display(description="quality flags")
    def flag_reasons(self, obj):
        flags = obj.quality_flags or []
        if not flags:
            return "none" if obj.status == Status.COMPLETED else "—"
        return format_html('<ul class="quality-flags">{}</ul>', format_html_join(
            "", "<li><strong>{}</strong>: {}</li>",
            ((f.get("code", "?"), f.get("reason", "")) for f in flags)))

    @admin.display(description="transcript")
    def transcript(self, obj):
        version = selectors.transcript_current(obj)
        if version is None:
            return "—"
        segments = version.segments[:TRANSCRIPT_SEGMENTS_SHOWN]
        more = len(version.segments) - len(segments)
        label = "the machine's" if version.is_machine else f"version {version.number} (corrected)"
        return format_html(
            "<p>{}</p><table>{}</table>{}", label,
            format_html_join("", "<tr><td>{}</td><td>{}</td></tr>",
                             ((clock(s.get("start")), s.get("text", "")) for s in segments)),
            format_html("<p>… and {} more segments</p>", more) if more > 0 else "")

    # -------------------------------------------------------------- review actions

    @admin.action(description="Mark selected jobs as reviewed", permissions=["change"])
    def mark_reviewed(self, request, queryset):
        done = sum(services.job_mark_reviewed(job=job, reviewer=request.user) for job in queryset)
        self._report(request, done, len(queryset), "marked reviewed",
                     "not completed, or already approved or rejected")

    @admin.action(description="Approve selected transcripts (with the note)", permissions=["change"])
    def approve(self, request, queryset):
        self._decide(request, queryset, "approved")

    @admin.action(description="Reject selected transcripts (with the note)", permissions=["change"])
    def reject(self, request, queryset):
        self._decide(request, queryset, "rejected")

    def _decide(self, request, queryset, decision: str) -> None:
        note = request.POST.get("note", "").strip()
        if decision == "rejected" and not note:
            self.message_user(request, "Write in the review note why the transcripts are rejected, "
                                       "then reject them again.", messages.ERROR)
            return
        done = sum(services.job_review(job=job, reviewer=request.user, decision=decision, note=note)
                   for job in queryset)
        self._report(request, done, len(queryset), decision, "not completed")

    def _report(self, request, done: int, total: int, verb: str, why_skipped: str) -> None:
        text = f"{done} job{'s' if done != 1 else ''} {verb}."
        if total > done:
            text += f" {total - done} left as they were ({why_skipped})."
        self.message_user(request, text, messages.SUCCESS if done else messages.WARNING)


@admin.register(Job)
class JobAdmin(_JobPages):
    change_list_template = "admin/transcripts/job/change_list.html"
    list_display = ("owner", "file", "status", "audio_length", "language", "engine", "model_name",
                    "queued_for", "processing_for", "total_time", "failure", "flag_count",
                    "review_state", "created_at")
    list_display_links = ("file",)
    list_filter = ("status", ("owner", admin.RelatedOnlyFieldListFilter), "language", EngineFilter,
                   ("created_at", admin.DateFieldListFilter), "review", NeedsReviewFilter)
    date_hierarchy = "created_at"
    actions = ("retry", "cancel", "mark_reviewed", "approve", "reject")

    def get_actions(self, request):
        # Django's own "delete selected" would leave the audio and results in storage: the same
        # action name (its confirmation page posts it back) runs the version that removes them.
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            actions["delete_selected"] = (JobAdmin.delete_with_files, "delete_selected",
                                          JobAdmin.delete_with_files.short_description)  # type: ignore[attr-defined]  # set by @admin.action
        return actions

    @admin.action(description="Delete selected jobs and their stored files", permissions=["delete"])
    def delete_with_files(self, request, queryset):
        return delete_selected(self, request, queryset)  # confirms first, then delete_queryset

    def delete_queryset(self, request, queryset):
        for job in queryset:
            services.job_delete(job=job)

    def delete_model(self, request, obj):
        services.job_delete(job=obj)

    @admin.action(description="Retry selected failed or expired jobs", permissions=["change"])
    def retry(self, request, queryset):
        done = sum(services.job_retry(job=job) for job in queryset)
        self._report(request, done, len(queryset), "queued again", "not failed or expired")

    @admin.action(description="Cancel selected queued or submitted jobs", permissions=["change"])
    def cancel(self, request, queryset):
        done = sum(services.job_cancel(job=job) for job in queryset)
        self._report(request, done, len(queryset), "cancelled", "already running or finished")

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}),
                         "review_queue_size": selectors_admin.review_queue().count()}
        return super().changelist_view(request, extra_context)

    # -------------------------------------------------------------- capacity page

    def get_urls(self):
        return [path("capacity/", self.admin_site.admin_view(self.capacity_view),
                     name="transcripts_job_capacity")] + super().get_urls()

    def capacity_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        numbers = selectors_admin.capacity()
        context = {
            **self.admin_site.each_context(request),
            "title": "Transcription capacity",
            "opts": self.model._meta,
            "numbers": numbers,
            "oldest_queued": span(numbers["oldest_queued_seconds"]),
            "endpoint": get_backend().capacity(),
            "review_queue_url": reverse("admin:transcripts_reviewqueuejob_changelist"),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/transcripts/capacity.html", context)


@admin.register(ReviewQueueJob)
class ReviewQueueJobAdmin(_JobPages):
    """Completed jobs the quality checks flagged that nobody has decided on, oldest first.
    A decision (or "reviewed") takes a job out of the queue."""

    list_display = ("file", "owner", "finished_at", "audio_length", "language", "engine",
                    "flag_reasons")
    list_display_links = ("file",)
    list_filter = (("owner", admin.RelatedOnlyFieldListFilter), "language", EngineFilter)
    ordering = ("finished_at", "id")

    def get_queryset(self, request):
        return selectors_admin.review_queue(super().get_queryset(request))

    def has_delete_permission(self, request, obj=None):
        return False  # the queue decides on transcripts; deleting is done from the job list


@admin.register(Invite)
class InviteAdmin(admin.ModelAdmin):
    """Single-use invite codes for SIGNUP_MODE=invite: add one (a note says who it is for),
    then give the person its code or its sign-up link. Delete an unused one to withdraw it."""

    list_display = ("code", "note", "signup_link", "created_by", "created_at", "used_by", "used_at")
    readonly_fields = ("code", "signup_link", "created_by", "created_at", "used_by", "used_at")
    fields = ("note", *readonly_fields)

    @admin.display(description="sign-up link")
    def signup_link(self, invite):
        if not invite.pk:
            return "—"
        return f"{reverse('signup')}?invite={invite.code}"

    def has_change_permission(self, request, obj=None):
        return obj is None or obj.used_at is None  # a used invite is a record, not an offer

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["note"])
            return
        made = services.invite_create(created_by=request.user, note=obj.note)
        obj.pk, obj.code, obj.created_by, obj.created_at = made.pk, made.code, made.created_by, made.created_at
