"""Webhooks: signed events for finished jobs, delivered over real HTTP with retries, refused
for private targets; and the settings page where a person manages tokens and webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import shutil
import ssl
import subprocess
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.transcripts.conftest import make_result, stored_outcome
from transcripts import services, webhook_signing, webhook_targets
from transcripts.models import ApiToken, Status, Webhook, WebhookDelivery
from transcripts.services import Outcome, webhooks
from transcripts.services.tokens import token_create, user_for_key
from transcripts.workers import webhook_delivery

PUBLIC_URL = "https://93.184.215.14/hooks/transcripts"  # a public address: no DNS needed


def receiver_verifies(secret: str, headers, body: bytes, tolerance: int = 300) -> bool:
    """What docs/webhooks.md tells a receiver to do, written independently of the sender."""
    timestamp = headers.get("X-Webhook-Timestamp", "")
    signature = headers.get("X-Webhook-Signature", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"sha256={expected}", signature)


class Receiver:
    """A real HTTP server on 127.0.0.1 that checks each request's signature with the secrets
    of its webhooks (401 when none verifies) and answers the scripted statuses, then `default`."""

    def __init__(self, statuses=(), default=200, tls: tuple[str, str] | None = None, before_answer=None):
        self.secrets: list[str] = []
        self.before_answer = before_answer or (lambda: None)  # e.g. a receiver that is slow
        self.statuses = list(statuses)
        self.default = default
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                verified = any(receiver_verifies(secret, self.headers, body) for secret in outer.secrets)
                outer.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                       "verified": verified})
                outer.before_answer()
                status = (outer.statuses.pop(0) if outer.statuses else outer.default) if verified else 401
                answer = b"ok" if status < 300 else f"refused with {status}".encode()
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path="/hooks", host="127.0.0.1", scheme="http"):
        return f"{scheme}://{host}:{self.port}{path}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the receiver listens on 127.0.0.1
    made = []

    def make(*statuses, default=200, tls=None, before_answer=None):
        made.append(Receiver(statuses, default, tls, before_answer))
        return made[-1]
    yield make
    for server in made:
        server.close()


def hook_for(owner, server, path="/hooks", **url):
    webhook, secret = webhooks.webhook_create(owner=owner, url=server.url(path, **url))
    server.secrets.append(secret)
    return webhook


def completed_event(owner, make_job):
    """A completed job of `owner` and its queued deliveries."""
    job = make_job(owner, status=Status.COMPLETED, text="Please send the report")
    webhooks.webhook_event_enqueue(job=job)
    return job


# ---------------------------------------------------------------- signing

def test_a_receiver_verifies_the_signature_with_the_secret_and_a_tampered_body_fails():
    body = json.dumps({"id": "e1", "type": "job.completed", "job": {"status": "completed"}})
    headers = webhook_signing.request_headers(secret="whsec_abc", event_id="e1", event="job.completed",
                                       timestamp=int(time.time()), body=body)
    assert headers["X-Webhook-Signature"].startswith("sha256=")
    assert headers["Content-Type"] == "application/json" and headers["X-Webhook-Id"] == "e1"
    assert headers["User-Agent"]
    assert receiver_verifies("whsec_abc", headers, body.encode())
    assert not receiver_verifies("whsec_abc", headers, body.replace("completed", "failed").encode())
    assert not receiver_verifies("whsec_other", headers, body.encode())


def test_the_signature_covers_the_timestamp_and_old_timestamps_are_rejected():
    body = '{"id":"e1"}'
    assert webhook_signing.sign("s", 1700000000, body) == hmac.new(
        b"s", b'1700000000.{"id":"e1"}', hashlib.sha256).hexdigest()
    assert webhook_signing.sign("s", 1700000000, body) != webhook_signing.sign("s", 1700000001, body)
    old = webhook_signing.request_headers(secret="s", event_id="e1", event="job.completed",
                                   timestamp=int(time.time()) - 600, body=body)
    assert not receiver_verifies("s", old, body.encode())  # a replay after 5 minutes


# ---------------------------------------------------------------- which URLs

@pytest.mark.django_db
@pytest.mark.parametrize("url, address", [
    ("http://127.0.0.1/hooks", "127.0.0.1"),
    ("http://localhost:8000/hooks", None),  # 127.0.0.1 or ::1, as the resolver says
    ("http://10.0.0.5/hooks", "10.0.0.5"),
    ("https://192.168.1.20/hooks", "192.168.1.20"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
    ("http://[::1]:8080/hooks", "::1"),
    ("http://[::ffff:127.0.0.1]/hooks", "::ffff:127.0.0.1"),
    ("http://0.0.0.0/hooks", "0.0.0.0"),
    ("http://224.0.0.1/hooks", "224.0.0.1"),
    # IPv6 addresses that carry a private IPv4 one: 6to4 (2002::/16), Teredo (2001::/32, the
    # client obfuscated), NAT64's well-known prefix.
    ("http://[2002:7f00:1::1]/hooks", "2002:7f00:1::1"),
    ("http://[2002:a00:5::]/hooks", "2002:a00:5::"),
    ("http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/hooks", "2001:0:4136:e378:8000:63bf:f5ff:fffe"),
    ("http://[64:ff9b::a9fe:a9fe]/hooks", "64:ff9b::a9fe:a9fe"),
])
def test_private_targets_are_refused_unless_the_operator_allows_them(settings, alice, url, address):
    # (2001:0:4136:e378:8000:63bf:f5ff:fffe: Teredo server 65.54.227.120, client 10.0.0.1)
    settings.WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(ValueError, match="are not allowed") as refused:
        webhooks.webhook_create(owner=alice, url=url)
    if address:
        assert str(refused.value).endswith(f"not allowed: {address}")
    assert not Webhook.objects.exists()

    settings.WEBHOOK_ALLOW_PRIVATE = True
    webhook, secret = webhooks.webhook_create(owner=alice, url=url)
    assert webhook.url == url and webhook.secret == secret and secret.startswith("whsec_")


def test_the_refusal_message_names_the_address():
    from django.test import override_settings

    with override_settings(WEBHOOK_ALLOW_PRIVATE=False), pytest.raises(ValueError) as refused:
        webhook_targets.validate_url("http://127.0.0.1/hooks")
    assert str(refused.value) == "webhook targets on loopback or private networks are not allowed: 127.0.0.1"


@pytest.mark.django_db
@pytest.mark.parametrize("url, message", [
    ("ftp://93.184.215.14/x", "http:// or https://"),
    ("file:///etc/passwd", "http:// or https://"),
    ("not a url", "http:// or https://"),
    ("", "enter the URL"),
    ("https://user:pw@93.184.215.14/x", "user name or password"),
    ("https://93.184.215.14/" + "x" * 500, "longer than 500"),
])
def test_other_bad_urls_are_refused_with_a_reason(settings, alice, url, message):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    with pytest.raises(ValueError, match=message):
        webhooks.webhook_create(owner=alice, url=url)


@pytest.mark.django_db
def test_a_public_address_is_allowed(settings, alice):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    webhook, _ = webhooks.webhook_create(owner=alice, url=PUBLIC_URL)
    assert Webhook.objects.get(owner=alice).pk == webhook.pk


# ---------------------------------------------------------------- events from outcomes

@pytest.mark.django_db(transaction=True)
def test_a_completed_outcome_enqueues_one_delivery_per_active_webhook(alice, bob, make_job):
    first, _ = webhooks.webhook_create(owner=alice, url=PUBLIC_URL)
    second, _ = webhooks.webhook_create(owner=alice, url=PUBLIC_URL + "/second")
    off, _ = webhooks.webhook_create(owner=alice, url=PUBLIC_URL + "/off")
    Webhook.objects.filter(pk=off.pk).update(active=False)
    webhooks.webhook_create(owner=bob, url=PUBLIC_URL + "/bob")
    job = make_job(alice)
    name = services.job_store_output(job=job, result=make_result("Please send the report"))

    assert services.job_record_outcome(job_pk=job.pk, outcome=stored_outcome(name))
    deliveries = list(WebhookDelivery.objects.order_by("webhook_id"))
    assert [d.webhook_id for d in deliveries] == sorted([first.pk, second.pk])
    assert {d.event for d in deliveries} == {"job.completed"}
    assert {d.state for d in deliveries} == {"pending"}
    payload = deliveries[0].payload
    assert payload["type"] == "job.completed" and payload == deliveries[1].payload  # one event
    assert payload["job"]["public_id"] == str(job.public_id)
    assert payload["job"]["url"] == f"/jobs/{job.public_id}/"
    assert payload["job"]["status"] == "completed" and payload["job"]["duration"] == 2.5
    assert payload["id"] and payload["created_at"]

    # The same outcome again (SNS or the dispatcher deliver twice): no new event.
    assert not services.job_record_outcome(job_pk=job.pk, outcome=stored_outcome(name))
    assert WebhookDelivery.objects.count() == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("status, event", [("failed", "job.failed"), ("expired", "job.failed"),
                                           ("cancelled", None)])
def test_failed_and_expired_outcomes_are_job_failed_events(alice, make_job, status, event):
    webhooks.webhook_create(owner=alice, url=PUBLIC_URL)
    job = make_job(alice)
    services.job_record_outcome(job_pk=job.pk, outcome=Outcome(Status(status), failure_reason="no speech found"))
    deliveries = list(WebhookDelivery.objects.all())
    if event is None:
        assert deliveries == []
        return
    assert [(d.event, d.payload["job"]["status"], d.payload["job"]["failure_reason"]) for d in deliveries] \
        == [(event, status, "no speech found")]
    services.job_record_outcome(job_pk=job.pk, outcome=Outcome.completed(result=make_result("late"), output_name=""))
    assert WebhookDelivery.objects.count() == 1  # the first outcome won; nothing more is sent


# ---------------------------------------------------------------- delivery over HTTP

@pytest.mark.django_db
def test_an_event_reaches_a_real_receiver_that_checks_the_signature(alice, make_job, receiver):
    server = receiver()
    hook_for(alice, server, path="/hooks/in?source=transcripts")
    job = completed_event(alice, make_job)

    assert webhook_delivery.deliver_due() == 1
    [request] = server.requests
    assert request["verified"] and request["path"] == "/hooks/in?source=transcripts"
    headers, body = request["headers"], json.loads(request["body"])
    assert headers["Content-Type"] == "application/json"
    assert headers["Host"] == f"127.0.0.1:{server.port}"
    assert headers["X-Webhook-Id"] == body["id"] and headers["X-Webhook-Event"] == "job.completed"
    assert body["type"] == "job.completed" and body["job"]["public_id"] == str(job.public_id)

    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status, delivery.last_error) == \
        ("delivered", 1, 200, "")
    assert delivery.delivered_at is not None
    assert webhook_delivery.deliver_due() == 0 and len(server.requests) == 1  # sent once


@pytest.mark.django_db
def test_a_wrong_secret_is_refused_by_the_receiver_and_retried(alice, make_job, receiver):
    server = receiver()
    hook_for(alice, server)
    server.secrets = ["whsec_not-the-one"]
    completed_event(alice, make_job)
    webhook_delivery.deliver_due()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.last_status) == ("pending", 401)
    assert "HTTP 401" in delivery.last_error and "refused with 401" in delivery.last_error


@pytest.mark.django_db
def test_failures_are_retried_with_backoff_until_the_receiver_answers(alice, make_job, receiver):
    server = receiver(500, 500)  # then 200
    hook_for(alice, server)
    completed_event(alice, make_job)
    start = timezone.now()

    assert webhook_delivery.deliver_due(now=start) == 1
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("pending", 1, 500)
    assert delivery.last_error.startswith("HTTP 500")
    assert delivery.next_attempt_at == start + timedelta(seconds=10)
    assert webhook_delivery.deliver_due(now=start + timedelta(seconds=9)) == 0  # not due yet

    second = start + timedelta(seconds=10)
    assert webhook_delivery.deliver_due(now=second) == 1
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.next_attempt_at) == (2, second + timedelta(seconds=60))
    assert webhook_delivery.deliver_due(now=second + timedelta(seconds=59)) == 0

    assert webhook_delivery.deliver_due(now=second + timedelta(seconds=60)) == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status, delivery.last_error) == \
        ("delivered", 3, 200, "")
    assert len(server.requests) == 3 and all(r["verified"] for r in server.requests)
    assert len({r["headers"]["X-Webhook-Id"] for r in server.requests}) == 1  # the same event


@pytest.mark.django_db
def test_a_delivery_gives_up_as_failed_after_the_last_attempt(alice, make_job, receiver):
    server = receiver(default=503)
    hook_for(alice, server)
    completed_event(alice, make_job)
    now = timezone.now()
    for _ in range(webhooks.MAX_ATTEMPTS):
        assert webhook_delivery.deliver_due(now=now) == 1
        now += timedelta(hours=3)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status, delivery.next_attempt_at) == \
        ("failed", webhooks.MAX_ATTEMPTS, 503, None)
    assert webhook_delivery.deliver_due(now=now + timedelta(days=1)) == 0
    assert len(server.requests) == webhooks.MAX_ATTEMPTS == 6


@pytest.mark.django_db
def test_redirects_are_not_followed(alice, make_job, receiver):
    server = receiver(302)
    hook_for(alice, server)
    completed_event(alice, make_job)
    webhook_delivery.deliver_due()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.last_status) == ("pending", 302)
    assert "redirects are not followed" in delivery.last_error
    assert [r["path"] for r in server.requests] == ["/hooks"]


@pytest.mark.django_db
def test_the_address_is_checked_again_before_each_delivery(settings, alice, make_job, receiver):
    server = receiver()
    hook_for(alice, server)
    completed_event(alice, make_job)
    settings.WEBHOOK_ALLOW_PRIVATE = False  # as if the host now resolved to a private address

    assert webhook_delivery.deliver_due() == 1
    assert server.requests == []  # no request was made
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "pending" and delivery.attempts == 1 and delivery.last_status is None
    assert delivery.last_error == "webhook targets on loopback or private networks are not allowed: 127.0.0.1"


@pytest.mark.django_db
def test_an_unreachable_receiver_is_recorded_and_retried(settings, alice, make_job):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    webhooks.webhook_create(owner=alice, url="http://127.0.0.1:9/hooks")  # nothing listens there
    completed_event(alice, make_job)
    assert webhook_delivery.deliver_due() == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "pending" and delivery.attempts == 1
    assert "could not deliver" in delivery.last_error


@pytest.fixture(scope="module")
def localhost_cert(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost"], check=True, capture_output=True)
    return str(cert), str(key)


@pytest.mark.django_db
def test_https_goes_to_the_checked_address_and_still_verifies_the_host_name(
        alice, make_job, receiver, localhost_cert, monkeypatch):
    server = receiver(tls=localhost_cert)
    monkeypatch.setattr(webhook_targets, "TLS_VERIFY", localhost_cert[0])  # trust the test's own CA
    monkeypatch.setattr(webhook_delivery, "resolve_target", lambda url: ["127.0.0.1"])  # "localhost" → here
    hook_for(alice, server, host="localhost", scheme="https")
    completed_event(alice, make_job)
    assert webhook_delivery.deliver_due() == 1
    assert WebhookDelivery.objects.get().state == "delivered"
    [request] = server.requests
    assert request["verified"] and request["headers"]["Host"] == f"localhost:{server.port}"

    # The certificate is for localhost: a URL naming another host is refused by TLS.
    other = hook_for(alice, server, host="127.0.0.1", scheme="https")
    WebhookDelivery.objects.all().delete()
    completed_event(alice, make_job)
    webhook_delivery.deliver_due()
    failed = WebhookDelivery.objects.get(webhook=other)
    assert failed.state == "pending" and "doesn't match" in failed.last_error


@pytest.mark.django_db
def test_a_claimed_delivery_is_not_sent_by_a_second_worker(alice, make_job, receiver):
    server = receiver()
    hook_for(alice, server)
    completed_event(alice, make_job)
    delivery = WebhookDelivery.objects.get()
    now = timezone.now()
    assert webhooks.delivery_claim(delivery_pk=delivery.pk, now=now) is True
    assert webhooks.delivery_claim(delivery_pk=delivery.pk, now=now) is False  # the other worker loses the UPDATE
    assert webhook_delivery.deliver_due(now=now) == 0 and server.requests == []
    # A worker that died mid-send: its claim runs out and the delivery is due again.
    assert webhook_delivery.deliver_due(now=now + timedelta(seconds=webhooks.CLAIM_SECONDS)) == 1
    assert len(server.requests) == 1


@pytest.mark.django_db
def test_deleting_a_webhook_stops_its_deliveries(alice, make_job, receiver):
    server = receiver()
    hook = hook_for(alice, server)
    completed_event(alice, make_job)
    assert webhooks.webhook_delete(owner=alice, webhook_id=hook.pk)
    assert not WebhookDelivery.objects.exists()
    assert webhook_delivery.deliver_due() == 0 and server.requests == []


@pytest.mark.django_db
def test_the_management_command_delivers_what_is_due_once(alice, make_job, receiver, capsys):
    server = receiver()
    hook_for(alice, server)
    hook_for(alice, server, path="/second")
    completed_event(alice, make_job)
    call_command("work", "webhook_delivery", "--once")
    assert "webhook_delivery: 2 done" in capsys.readouterr().out
    assert sorted(r["path"] for r in server.requests) == ["/hooks", "/second"]
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"delivered"}


@pytest.mark.django_db
def test_a_slow_receiver_does_not_hold_back_another_persons_deliveries(alice, bob, make_job, receiver):
    """The slow receiver answers only once the fast one has been called: sent one after the
    other, the slow one would time out first; sent side by side, both are delivered."""
    fast_called = threading.Event()
    slow = receiver(before_answer=lambda: fast_called.wait(timeout=30))
    fast = receiver(before_answer=fast_called.set)
    hook_for(alice, slow)
    completed_event(alice, make_job)  # alice's event is due first
    hook_for(bob, fast)
    completed_event(bob, make_job)
    assert webhook_delivery.deliver_due() == 2
    assert len(fast.requests) == 1 and len(slow.requests) == 1
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"delivered"}


@pytest.mark.django_db
def test_one_target_gets_at_most_its_share_of_a_batch(alice, bob, make_job, receiver):
    busy, other = receiver(), receiver()
    hook_for(alice, busy)
    for _ in range(4):
        completed_event(alice, make_job)
    hook_for(bob, other)
    completed_event(bob, make_job)
    assert webhook_delivery.deliver_due() == webhook_delivery.PER_TARGET + 1
    assert len(busy.requests) == webhook_delivery.PER_TARGET and len(other.requests) == 1
    while webhook_delivery.deliver_due():  # the rest follow in the next batches
        pass
    assert len(busy.requests) == 4


# ---------------------------------------------------------------- the settings page

@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.mark.django_db
def test_the_settings_page_needs_a_login_and_is_linked_from_the_nav(client, alice):
    response = client.get(reverse("settings"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    client.force_login(alice)
    assert f'href="{reverse("settings")}"' in client.get(reverse("dashboard")).content.decode()
    page = client.get(reverse("settings"))
    assert page.status_code == 200 and "API tokens" in page.content.decode()


@pytest.mark.django_db
def test_a_new_token_is_shown_once_and_authenticates(alice_client, alice):
    response = alice_client.post(reverse("settings-token-create"), {"name": "nightly import"})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    page = response.content.decode()
    key = re.search(r'id="new-key"[^>]*>(wt_[^<]+)<', page).group(1)
    assert "shown only this once" in page
    assert user_for_key(key) == alice

    later = alice_client.get(reverse("settings")).content.decode()
    token = ApiToken.objects.get(owner=alice)
    assert key not in later and "nightly import" in later and f"{token.prefix}…" in later
    assert alice_client.post(reverse("settings-token-create"), {"name": " "}).status_code == 400


@pytest.mark.django_db
def test_revoking_a_token_stops_its_key(alice_client, alice):
    token, key = token_create(owner=alice, name="ci")
    response = alice_client.post(reverse("settings-token-revoke", args=[token.pk]))
    assert response.status_code == 302 and response.url == reverse("settings")
    assert user_for_key(key) is None
    page = alice_client.get(reverse("settings")).content.decode()
    assert "is revoked" in page and "Revoked" in page


@pytest.mark.django_db
def test_another_persons_token_and_webhook_are_404(client, alice, bob):
    token, key = token_create(owner=alice, name="alice's")
    webhook, _ = webhooks.webhook_create(owner=alice, url=PUBLIC_URL)
    client.force_login(bob)
    assert client.post(reverse("settings-token-revoke", args=[token.pk])).status_code == 404
    assert client.post(reverse("settings-webhook-delete", args=[webhook.pk])).status_code == 404
    assert user_for_key(key) == alice and Webhook.objects.filter(pk=webhook.pk).exists()
    page = client.get(reverse("settings")).content.decode()
    assert PUBLIC_URL not in page and "alice&#x27;s" not in page


@pytest.mark.django_db
def test_a_new_webhook_shows_its_secret_once_and_can_be_deleted(alice_client, alice):
    response = alice_client.post(reverse("settings-webhook-create"), {"url": PUBLIC_URL})
    assert response.status_code == 200
    webhook = Webhook.objects.get(owner=alice)
    assert webhook.secret in response.content.decode() and webhook.url == PUBLIC_URL
    later = alice_client.get(reverse("settings")).content.decode()
    assert webhook.secret not in later and PUBLIC_URL in later

    response = alice_client.post(reverse("settings-webhook-delete", args=[webhook.pk]))
    assert response.status_code == 302 and not Webhook.objects.exists()


@pytest.mark.django_db
def test_a_refused_webhook_url_is_explained_on_the_page(settings, alice_client):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    response = alice_client.post(reverse("settings-webhook-create"), {"url": "http://169.254.169.254/latest"})
    assert response.status_code == 400
    assert "not allowed: 169.254.169.254" in response.content.decode()
    assert not Webhook.objects.exists()


@pytest.mark.django_db
def test_the_forms_need_the_csrf_token(alice):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post(reverse("settings-token-create"), {"name": "x"}).status_code == 403
    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_the_delivery_history_is_on_the_page(alice_client, alice, bob, make_job, receiver):
    server = receiver(500)
    hook_for(alice, server)
    completed_event(alice, make_job)
    webhook_delivery.deliver_due()
    page = alice_client.get(reverse("settings")).content.decode()
    row = re.search(r'<tr data-delivery="\d+">(.*?)</tr>', page, re.S).group(1)
    assert "job.completed" in row and "Pending" in row and "HTTP 500" in row and "refused with 500" in row
    assert ">1<" in row  # attempts

    other = Client()
    other.force_login(bob)
    assert "data-delivery" not in other.get(reverse("settings")).content.decode()
