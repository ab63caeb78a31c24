from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _search_index(sender, using="default", **kwargs):
    from .search import ensure_search_index

    ensure_search_index(using)


class TranscriptsConfig(AppConfig):
    name = "transcripts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        post_migrate.connect(_search_index, sender=self)
