"""Who may reach what: every URL of the app for a stranger, the owner, another person and
staff; CSRF; upload rate limits; retention; production settings."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.test import Client
from django.urls import get_resolver, reverse
from django.utils import timezone

from tests.conftest import REPO
from tests.transcripts.conftest import make_result, upload
from transcripts import services
from transcripts.models import Job, Status

pytestmark = pytest.mark.django_db

# Every named URL of the app with how to call it. A new URL without a row fails
# test_every_url_is_in_the_matrix, so nobody adds a page without deciding who sees it.
JOB_URLS = {  # name: (method, extra kwargs) on alice's job
    "job-detail": ("get", {}), "job-status": ("get", {}), "job-audio": ("get", {}),
    "job-transcript": ("get", {}), "job-download": ("get", {"fmt": "txt"}),
    "job-retry": ("post", {}), "job-delete": ("post", {}),
    "segment-save": ("post", {"segment_id": 0}), "version-restore": ("post", {"number": 0}),
    "segment-speaker": ("post", {"segment_id": 0}), "speaker-rename": ("post", {"speaker_id": "S1"}),
    "api-job": ("get", {}), "api-transcript": ("get", {}), "api-retry": ("post", {}),
}
PERSONAL_PAGES = {"dashboard": "get", "upload": "get", "search": "get"}
PUBLIC = {"login", "signup", "logout", "api-openapi"}
API_COLLECTIONS = {"api-jobs": "get"}
TOKEN_ONLY = {"openai-transcriptions", "openai-translations"}
SETTINGS_PAGES_PREFIX = "settings"


def url_names() -> set[str]:
    return {name for name in get_resolver().reverse_dict if isinstance(name, str)
            and not name.startswith("admin")} - {"django.contrib.auth.views.LoginView"}


def test_every_url_is_in_the_matrix():
    known = set(JOB_URLS) | set(PERSONAL_PAGES) | PUBLIC | set(API_COLLECTIONS) | TOKEN_ONLY
    unclassified = {n for n in url_names() - known if not n.startswith(SETTINGS_PAGES_PREFIX)}
    assert not unclassified, f"add these URLs to the authorization matrix: {sorted(unclassified)}"


@pytest.fixture
def alices_job(alice, make_job):
    return make_job(alice, name="alice.wav", status=Status.COMPLETED, text="private words")


def call(client, name, method, job, **kwargs):
    url = reverse(name, kwargs={"public_id": job.public_id, **kwargs})
    return getattr(client, method)(url)


@pytest.mark.parametrize("name", sorted(JOB_URLS))
def test_strangers_must_log_in(client, alices_job, name):
    method, kwargs = JOB_URLS[name]
    response = call(client, name, method, alices_job, **kwargs)
    if name.startswith("api-"):
        assert response.status_code == 401
    else:
        assert response.status_code == 302 and response.url.startswith(reverse("login"))


@pytest.mark.parametrize("name", sorted(JOB_URLS))
def test_another_person_and_staff_get_404(client, bob, admin_user, alices_job, name):
    method, kwargs = JOB_URLS[name]
    for outsider in (bob, admin_user):  # staff see jobs in the admin, not in people's pages
        client.force_login(outsider)
        assert call(client, name, method, alices_job, **kwargs).status_code == 404
    alices_job.refresh_from_db()
    assert alices_job.status == "completed" and alices_job.versions.count() == 1


@pytest.mark.parametrize("name", sorted(JOB_URLS))
def test_the_owner_reaches_each_of_her_urls(client, alice, alices_job, name):
    method, kwargs = JOB_URLS[name]
    client.force_login(alice)
    response = call(client, name, method, alices_job, **kwargs)
    # 409: the API's retry of a completed job; 400: an empty segment save; both are hers.
    assert response.status_code in (200, 204, 302, 400, 409)


@pytest.mark.parametrize("name", sorted(PERSONAL_PAGES))
def test_personal_pages_need_a_login_and_show_only_ones_own(client, bob, alices_job, name):
    response = client.get(reverse(name))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    client.force_login(bob)
    page = client.get(reverse(name), {"q": "private"}).content.decode()
    assert "alice.wav" not in page and "private words" not in page


def test_collections_and_token_endpoints_refuse_strangers(client):
    assert client.get(reverse("api-jobs")).status_code == 401
    for name in sorted(TOKEN_ONLY):
        assert client.post(reverse(name)).status_code == 401


def test_admin_is_for_staff_only(client, alice, admin_user):
    client.force_login(alice)
    assert client.get("/admin/transcripts/job/").status_code == 302
    client.force_login(admin_user)
    assert client.get("/admin/transcripts/job/").status_code == 200


def test_forms_need_their_csrf_token(alice, alices_job):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    assert browser.post(reverse("job-delete", args=[alices_job.public_id])).status_code == 403
    assert Job.objects.filter(pk=alices_job.pk).exists()


def test_uploads_per_hour_are_limited(client, alice, report_wav, settings):
    settings.UPLOADS_PER_HOUR = 2
    client.force_login(alice)
    statuses = []
    for _ in range(3):
        with open(report_wav, "rb") as audio:
            statuses.append(client.post(reverse("upload"), {"file": audio}))
    assert [r.status_code for r in statuses] == [201, 201, 429]
    assert "the limit is 2" in statuses[2].json()["error"]


def test_file_names_with_paths_are_only_displayed(client, alice, report_wav):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(alice)
    upload = SimpleUploadedFile("..\\..\\<b>evil; rm -rf 'x'.wav", report_wav.read_bytes())
    assert client.post(reverse("upload"), {"file": upload}).status_code == 201
    job = Job.objects.get()
    assert job.original_name == "<b>evil; rm -rf 'x'.wav" and job.audio.name.startswith("inputs/")
    page = client.get(reverse("dashboard")).content.decode()
    assert "&lt;b&gt;evil; rm -rf &#x27;x&#x27;.wav" in page


@pytest.mark.django_db(transaction=True)
def test_retention_deletes_old_jobs_and_their_files(alice, make_job):
    old = make_job(alice, name="old.wav", status=Status.COMPLETED, text="old")
    new = make_job(alice, name="new.wav")
    Job.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    files = [old.audio.name, old.output_name]
    out = io.StringIO()
    call_command("purge_expired", "--days", "30", "--dry-run", stdout=out)
    assert "would delete 1 job(s)" in out.getvalue() and Job.objects.count() == 2
    call_command("purge_expired", "--days", "30", stdout=out)
    assert list(Job.objects.all()) == [new]
    assert not any(default_storage.exists(name) for name in files)
    assert default_storage.exists(new.audio.name)


def test_production_settings_pass_the_deploy_check(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DJANGO_ENV="production", DJANGO_SECRET_KEY="x" * 20 + "a-long-random-secret-value-for-tests",
               ALLOWED_HOSTS="transcripts.example.com", VAR_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


# ---------------------------------------------------------------- files on the host

def _mode(path) -> int:
    return os.stat(path).st_mode & 0o777


def test_the_database_the_secret_key_and_their_folder_are_the_owners_alone(tmp_path):
    var = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SQLITE_PATH")}
    env.update(VAR_DIR=str(var))
    # A permissive umask, as on many hosts: the modes must not depend on it.
    result = subprocess.run(["sh", "-c", f"umask 022 && exec {sys.executable} manage.py migrate"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert _mode(var) == 0o700
    assert _mode(var / "secret_key") == 0o600
    assert _mode(var / "db.sqlite3") == 0o600
    assert all(_mode(p) == 0o600 for p in var.glob("db.sqlite3-*"))  # WAL files follow the database


def test_a_folder_given_as_var_dir_that_is_not_ours_is_left_as_it_is(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    (shared / "someone-elses-file").write_text("x")
    os.chmod(shared, 0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SQLITE_PATH")}
    env.update(VAR_DIR=str(shared), SQLITE_PATH=str(tmp_path / "db.sqlite3"))
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert _mode(shared) == 0o755 and _mode(shared / "secret_key") == 0o600


def test_uploads_and_results_are_stored_for_the_owner_alone(client, alice, report_wav, media):
    previous = os.umask(0o022)  # a permissive umask, as on many hosts
    try:
        job = upload(client, alice, report_wav)
        result = services.job_store_output(job=job, result=make_result("hello"))
    finally:
        os.umask(previous)
    for stored in (media / job.audio.name, media / result):
        assert _mode(stored) == 0o600 and _mode(stored.parent) == 0o700, stored


# ---------------------------------------------------------------- Content-Security-Policy

def test_every_page_carries_a_policy_that_allows_no_inline_script(client, alice, make_job):
    job = make_job(alice, status=Status.COMPLETED, text="Hello world.")
    client.force_login(alice)
    for url in (reverse("dashboard"), reverse("upload"), reverse("settings"),
                reverse("job-detail", args=[job.public_id]), reverse("search")):
        response = client.get(url)
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy, url
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
        html = response.content.decode()
        # What the policy would block must not be in the page: inline scripts and handlers.
        assert "<script>" not in html and " onsubmit=" not in html and " onclick=" not in html, url
        assert ' style="' not in html, url
