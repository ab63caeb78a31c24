"""Forms: the upload's options and sign-up."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import UserCreationForm

from . import selectors

LANGUAGES = [("", "Detect automatically"), ("en", "English"), ("fr", "French"), ("de", "German"),
             ("es", "Spanish"), ("it", "Italian"), ("pt", "Portuguese"), ("nl", "Dutch"),
             ("pl", "Polish"), ("sv", "Swedish"), ("da", "Danish"), ("no", "Norwegian"),
             ("fi", "Finnish"), ("ru", "Russian"), ("uk", "Ukrainian"), ("tr", "Turkish"),
             ("ar", "Arabic"), ("hi", "Hindi"), ("zh", "Chinese"), ("ja", "Japanese"),
             ("ko", "Korean")]
MAX_SPEAKERS = 20  # the model server's limit


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
    # Speakers (the model server's options of the same names): who speaks when.
    diarize = forms.BooleanField(required=False, label="Find who speaks")
    speakers = forms.IntegerField(required=False, min_value=1, max_value=MAX_SPEAKERS,
                                  label="Exactly", widget=forms.NumberInput(attrs={"placeholder": "any"}))
    min_speakers = forms.IntegerField(required=False, min_value=1, max_value=MAX_SPEAKERS, label="From")
    max_speakers = forms.IntegerField(required=False, min_value=1, max_value=MAX_SPEAKERS, label="to")
    channels_as_speakers = forms.BooleanField(
        required=False, label="One speaker per channel",
        help_text="A stereo call or a two-microphone interview: each channel is one person.")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            data["speaker_options"] = speaker_options(
                diarize=data.get("diarize"), speakers=data.get("speakers"),
                min_speakers=data.get("min_speakers"), max_speakers=data.get("max_speakers"),
                channels_as_speakers=data.get("channels_as_speakers"))
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data

    def options(self) -> dict:
        data = self.cleaned_data
        return {"language": data["language"] or None, "task": data["task"] or "transcribe",
                "word_timestamps": bool(data["word_timestamps"]),
                "initial_prompt": data["initial_prompt"].strip() or None,
                **data["speaker_options"]}


def speaker_options(*, diarize: bool | None = None, speakers: int | None = None,
                    min_speakers: int | None = None, max_speakers: int | None = None,
                    channels_as_speakers: bool | None = None) -> dict[str, Any]:
    """The job's speaker options, checked as the model server checks them (so that a bad
    combination is refused at upload, not by a failed job): a count turns speakers on; an
    exact count and a range, or counts with one speaker per channel, contradict each other.
    Empty when no speakers are asked for. Raises ValueError with a reason for a person."""
    counts = {name: value for name, value in (("speakers", speakers), ("min_speakers", min_speakers),
                                             ("max_speakers", max_speakers)) if value is not None}
    for name, value in counts.items():
        if not 1 <= value <= MAX_SPEAKERS:
            raise ValueError(f"{name} must be from 1 to {MAX_SPEAKERS}")
    if counts and channels_as_speakers:
        raise ValueError("a number of speakers cannot be given with one speaker per channel: "
                         "each channel is one speaker")
    if speakers is not None and len(counts) > 1:
        raise ValueError("give either an exact number of speakers or a range, not both")
    if min_speakers is not None and max_speakers is not None and min_speakers > max_speakers:
        raise ValueError(f"the range of speakers is empty: {min_speakers} is more than {max_speakers}")
    if channels_as_speakers:
        return {"channels_as_speakers": True}
    if not (diarize or counts):
        return {}
    return {"diarize": True, **counts}


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
