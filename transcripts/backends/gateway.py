"""What every gateway is: the Protocol the services call, and the values that cross it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID


class SubmitFailed(Exception):
    """The backend refused or could not take the job; the message says why, for a person."""


@dataclass(frozen=True)
class JobRequest:
    """What a gateway needs to know of a job: its public id (the id every outside system
    sees), where its audio is stored, and the options the person chose."""

    public_id: UUID
    audio_name: str
    options: dict[str, Any]


@dataclass(frozen=True)
class Receipt:
    """The job was handed over; its outcome will appear at one of these locations."""

    output_location: str = ""
    failure_location: str = ""


class Gateway(Protocol):
    # The workers (see transcripts.workers) that carry this backend's jobs to an outcome.
    workers: tuple[str, ...]

    def submit(self, request: JobRequest) -> Receipt | None:
        """Hand the job over. None: it waits in our own queue, for a local worker.
        Raises SubmitFailed when the job cannot be taken."""
        ...

    def capacity(self) -> dict[str, Any]:
        """What the backend can take on now, for the admin's capacity page; never raises."""
        ...
