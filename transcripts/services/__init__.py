"""The write side: every write and side effect, one module per concern. Keyword-only
functions named `<entity>_<action>`; state changes are conditional UPDATEs, so a repeated
or late call is harmless; broadcasts and backend calls run after the transaction commits.

- jobs.py: a job's life, from upload to outcome, retry, cancel, review and deletion;
- transcripts.py: the versions people save over the machine's transcript;
- speakers.py: naming speakers and moving segments between them (versions too);
- tokens.py: API tokens;
- webhooks.py: a person's webhooks, their events and the state of each delivery;
- progress.py: a running job's progress and partial transcript, from either backend;
- limits.py: the per-person quotas and the global queue limit on uploads;
- accounts.py: sign-up, invites, and the log-in attempts that throttle password guessing.
"""

from .accounts import (
    SignUpRefused,
    client_address,
    invite_create,
    login_attempt_record,
    login_attempts_clear,
    login_lockout_seconds,
    login_username,
    user_sign_up,
)
from .jobs import (
    CANCELLABLE,
    DECISIONS,
    Outcome,
    job_accept_upload,
    job_cancel,
    job_claim_next,
    job_count_outcome_try,
    job_create,
    job_delete,
    job_mark_reviewed,
    job_mark_submitted,
    job_record_outcome,
    job_renew_lease,
    job_requeue,
    job_retry,
    job_review,
    job_store_output,
    job_submit,
)
from .limits import UploadRefused, upload_check_queue, upload_check_quota
from .progress import job_record_progress
from .speakers import NEW_SPEAKER, transcript_move_segment, transcript_rename_speaker
from .tokens import token_create, token_revoke, user_for_key
from .transcripts import EditConflict, machine_segments, transcript_restore, transcript_save_segment
from .webhooks import webhook_create, webhook_delete, webhook_event_enqueue

__all__ = [
    "CANCELLABLE", "DECISIONS", "NEW_SPEAKER", "EditConflict", "Outcome", "SignUpRefused", "UploadRefused",
    "client_address", "invite_create", "job_accept_upload", "job_cancel", "job_claim_next",
    "job_count_outcome_try",
    "job_create", "job_delete", "job_mark_reviewed", "job_mark_submitted", "job_record_outcome", "job_record_progress",
    "job_renew_lease", "job_requeue", "job_retry", "job_review", "job_store_output", "job_submit",
    "login_attempt_record", "login_attempts_clear", "login_lockout_seconds", "login_username",
    "machine_segments", "token_create", "token_revoke", "transcript_move_segment",
    "transcript_rename_speaker", "transcript_restore", "transcript_save_segment", "upload_check_queue", "upload_check_quota", "user_for_key",
    "user_sign_up", "webhook_create", "webhook_delete", "webhook_event_enqueue",
]
