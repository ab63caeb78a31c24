"""Forms: the upload's options and sign-up."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import UserCreationForm

from . import selectors

LANGUAGES = [("", "Detect automatically"), ("en", "English"), ("fr", "French"), ("de", "German"),
             ("es", "Spanish"), ("it", "Italian"), ("pt", "Portuguese"), ("nl", "Dutch"),
             ("pl", "Polish"), ("sv", "Swedish"), ("da", "Danish"), ("no", "Norwegian"),
             ("fi", "Finnish"), ("ru", "Russian"), ("uk", "Ukrainian"), ("tr", "Turkish"),
             ("ar", "Arabic"), ("hi", "Hindi"), ("zh", "Chinese"), ("ja", "Japanese"),
             ("ko", "Korean")]


class UploadForm(forms.Form):
    file = forms.FileField(allow_empty_file=True)  # the view says "the file is empty"
    language = forms.ChoiceField(choices=LANGUAGES, required=False)
    task = forms.ChoiceField(choices=[("transcribe", "Transcribe"),
                                      ("translate", "Translate to English")], initial="transcribe",
                             required=False)
    word_timestamps = forms.BooleanField(required=False, label="Word timestamps")
    initial_prompt = forms.CharField(
        required=False, max_length=1000, label="Names and jargon",
        widget=forms.TextInput(attrs={"placeholder": "e.g. Kubernetes, Nguyen, OKRs"}),
        help_text="Words Whisper should expect; it spells them this way.")

    def options(self) -> dict:
        data = self.cleaned_data
        return {"language": data["language"] or None, "task": data["task"] or "transcribe",
                "word_timestamps": bool(data["word_timestamps"]),
                "initial_prompt": data["initial_prompt"].strip() or None}


class SignUpForm(UserCreationForm):
    """Sign-up; with SIGNUP_MODE=invite it also asks for the code a staff member gave."""

    invite_code = forms.CharField(max_length=64, label="Invite code", strip=True,
                                  help_text="The code an administrator gave you.")

    def __init__(self, *args, invite: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not invite:
            del self.fields["invite_code"]

    def clean_invite_code(self) -> str:
        code = self.cleaned_data["invite_code"]
        if not selectors.invite_is_open(code):
            raise forms.ValidationError("This invite code is not valid, or was used already.")
        return code
