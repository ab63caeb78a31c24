"""Forms: the upload's options and sign-up."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import UserCreationForm

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
    pass
