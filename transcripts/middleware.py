"""Log-in throttling for /accounts/login/ and /admin/login/ (docs/security.md): a posted
attempt is counted for its username and its client address before the password is checked;
past the limits it is answered 429 with Retry-After and the password is not checked at all."""

from __future__ import annotations

import math

from django.shortcuts import render

from . import services

LOGIN_VIEWS = ("login", "admin:login")


class LoginThrottleMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        match = request.resolver_match
        if request.method != "POST" or match is None or match.view_name not in LOGIN_VIEWS:
            return None
        username = services.login_username(request.POST.get("username"))
        address = services.client_address(remote_addr=request.META.get("REMOTE_ADDR", ""),
                                          forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR", ""))
        wait = services.login_lockout_seconds(username=username, address=address)
        if wait is not None:
            response = render(request, "registration/locked.html",
                              {"minutes": math.ceil(wait / 60)}, status=429)
            response["Retry-After"] = str(wait)
            return response
        services.login_attempt_record(username=username, address=address)
        return None
