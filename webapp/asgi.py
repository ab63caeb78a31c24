"""ASGI entry point: HTTP (with the upload limit), websockets (logged-in, same origin) and
the lifespan that starts the background workers."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
django_http = get_asgi_application()  # set up Django before importing app code

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from transcripts.asgi import UploadLimit, WorkersLifespan  # noqa: E402
from transcripts.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter({
    "http": UploadLimit(django_http),
    "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    "lifespan": WorkersLifespan(),
})
