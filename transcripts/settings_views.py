"""The person's settings page: API tokens and webhooks. Thin views: parse, call a service or
a selector, render. A new key or secret is shown once, in the answer to the POST that made
it; it is never stored in the clear (tokens) nor put in a message cookie or the session."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from . import selectors, services


def _page(request, *, status: int = 200, **extra):
    context = {
        "tokens": selectors.api_tokens_for_user(request.user),
        "webhooks": selectors.webhooks_for_user(request.user),
        "token_name": "", "token_error": "", "new_token": None, "new_key": "",
        "webhook_url": "", "webhook_error": "", "new_webhook": None, "new_secret": "",
    }
    context.update(extra)
    return render(request, "transcripts/settings.html", context, status=status)


@never_cache
@login_required
@require_GET
def settings_page(request):
    return _page(request)


@never_cache
@login_required
@require_POST
def token_create(request):
    name = (request.POST.get("name") or "").strip()
    if not name:
        return _page(request, status=400, token_error="Give the token a name, e.g. the script that uses it.")
    if len(name) > 100:
        return _page(request, status=400, token_name=name,
                     token_error="A token name has at most 100 characters.")
    token, key = services.token_create(owner=request.user, name=name)
    return _page(request, new_token=token, new_key=key)


@never_cache
@login_required
@require_POST
def token_revoke(request, token_id: int):
    token = selectors.api_token_for_user(request.user, token_id)
    if services.token_revoke(owner=request.user, token_id=token.pk):
        messages.success(request, f"Token “{token.name}” is revoked: its key no longer works.")
    return redirect("settings")


@never_cache
@login_required
@require_POST
def webhook_create(request):
    url = (request.POST.get("url") or "").strip()
    try:
        webhook, secret = services.webhook_create(owner=request.user, url=url)
    except ValueError as exc:
        return _page(request, status=400, webhook_url=url, webhook_error=str(exc))
    return _page(request, new_webhook=webhook, new_secret=secret)


@never_cache
@login_required
@require_POST
def webhook_delete(request, webhook_id: int):
    if not services.webhook_delete(owner=request.user, webhook_id=webhook_id):
        raise Http404("No such webhook")
    messages.success(request, "The webhook is deleted, with its delivery history.")
    return redirect("settings")
