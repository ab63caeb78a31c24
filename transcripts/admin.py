from django.contrib import admin

from .models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("original_name", "owner", "status", "duration", "language", "created_at",
                    "finished_at")
    list_filter = ("status", "language")
    search_fields = ("original_name", "owner__username")
    readonly_fields = ("public_id", "created_at", "started_at", "finished_at", "made_with")
