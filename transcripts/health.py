"""`GET /healthz`: 200 "ok" for a load balancer's health check, answered before any other
middleware. A load balancer sends the target's private address as the Host header, which is
not in ALLOWED_HOSTS, and plain HTTP, which production redirects to HTTPS: a page such as
/accounts/login/ would answer it 400 or 301. This answer reads no request data (no host, no
cookies), touches no database and says nothing but that the process serves requests."""

from __future__ import annotations

from django.http import HttpResponse

HEALTH_PATH = "/healthz"


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info == HEALTH_PATH and request.method in ("GET", "HEAD"):
            response = HttpResponse(b"ok", content_type="text/plain")
            response["Cache-Control"] = "no-store"
            return response
        return self.get_response(request)
