from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_migrate


def _search_index(sender, using="default", **kwargs):
    from .search import ensure_search_index

    ensure_search_index(using)


def _logged_in(sender, user, **kwargs):
    from . import services

    services.login_attempts_clear(username=services.login_username(user.get_username()))


class TranscriptsConfig(AppConfig):
    name = "transcripts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        post_migrate.connect(_search_index, sender=self)
        user_logged_in.connect(_logged_in, dispatch_uid="transcripts.login_attempts_clear")
