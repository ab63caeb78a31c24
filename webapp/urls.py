from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from transcripts import api, settings_views, speaker_views, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("upload/", views.upload, name="upload"),
    path("jobs/<uuid:public_id>/", views.job_detail, name="job-detail"),
    path("jobs/<uuid:public_id>/status/", views.job_status, name="job-status"),
    path("jobs/<uuid:public_id>/transcript/", views.job_transcript, name="job-transcript"),
    path("jobs/<uuid:public_id>/audio/", views.job_audio, name="job-audio"),
    path("jobs/<uuid:public_id>/download.<str:fmt>", views.job_download, name="job-download"),
    path("jobs/<uuid:public_id>/retry/", views.job_retry, name="job-retry"),
    path("jobs/<uuid:public_id>/segments/<int:segment_id>/", views.segment_save, name="segment-save"),
    path("jobs/<uuid:public_id>/segments/<int:segment_id>/speaker/", speaker_views.segment_speaker,
         name="segment-speaker"),
    path("jobs/<uuid:public_id>/speakers/<str:speaker_id>/", speaker_views.speaker_rename,
         name="speaker-rename"),
    path("jobs/<uuid:public_id>/versions/<int:number>/restore/", views.version_restore,
         name="version-restore"),
    path("search/", views.search_page, name="search"),
    path("jobs/<uuid:public_id>/delete/", views.job_delete, name="job-delete"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("settings/", settings_views.settings_page, name="settings"),
    path("settings/tokens/", settings_views.token_create, name="settings-token-create"),
    path("settings/tokens/<int:token_id>/revoke/", settings_views.token_revoke, name="settings-token-revoke"),
    path("settings/webhooks/", settings_views.webhook_create, name="settings-webhook-create"),
    path("settings/webhooks/<int:webhook_id>/delete/", settings_views.webhook_delete,
         name="settings-webhook-delete"),
    path("admin/", admin.site.urls),
    path("api/v1/jobs/", api.jobs, name="api-jobs"),
    path("api/v1/jobs/<uuid:public_id>/", api.job, name="api-job"),
    path("api/v1/jobs/<uuid:public_id>/transcript/", api.transcript, name="api-transcript"),
    path("api/v1/jobs/<uuid:public_id>/retry/", api.retry, name="api-retry"),
    path("api/v1/openapi.json", api.openapi, name="api-openapi"),
    path("v1/audio/transcriptions", api.openai_transcriptions, name="openai-transcriptions"),
    path("v1/audio/translations", api.openai_translations, name="openai-translations"),
]

handler404 = "transcripts.views.not_found"
