"""Printable registration documents: the 报名表 (registration form) and the 承诺书 (pledges) of one application.

The caller builds a `RegistrationPrintout` (every value already a display string: choice labels, formatted
answers, document labels) and gets PDF bytes back; nothing here reads the database, so the layout is
tested without one. The form shows the full ID number: it is the applicant's own printout, handed to the
applicant or to staff who already see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.pdf import image_data_uri, render_pdf

__all__ = [
    "PrintedField",
    "PrintedPledge",
    "RegistrationPrintout",
    "pledge_pdf",
    "registration_form_pdf",
]


@dataclass(frozen=True)
class PrintedField:
    label: str
    value: str


@dataclass(frozen=True)
class PrintedPledge:
    title: str
    version: int
    text: str
    accepted_at: datetime | None
    accepted_by: str

    @property
    def paragraphs(self) -> tuple[str, ...]:
        """The text's non-blank lines, each printed as an indented paragraph."""
        return tuple(line.strip() for line in self.text.splitlines() if line.strip())


@dataclass(frozen=True)
class RegistrationPrintout:
    association_name: str
    program_name: str
    session_name: str  # "" when the program has no sessions
    application_number: str
    status_label: str
    submitted_at: datetime | None
    person_name: str
    gender_label: str
    id_number: str
    phone: str
    employer: str
    fields: tuple[PrintedField, ...]  # the form's answers, as display labels
    documents: tuple[str, ...]  # labels of the documents submitted
    pledges: tuple[PrintedPledge, ...]
    photo: bytes | None  # the 1-inch photo (295×413 px); a box saying 照片 is printed when None
    photo_content_type: str
    decisions: tuple[PrintedField, ...]  # review steps: label = step, value = result and reason
    printed_at: datetime


def _context(printout: RegistrationPrintout) -> dict:
    photo_uri = image_data_uri(printout.photo, printout.photo_content_type) if printout.photo else ""
    return {"printout": printout, "photo_uri": photo_uri}


def registration_form_pdf(printout: RegistrationPrintout) -> bytes:
    """The A4 报名表: identity and photo, form answers, documents, review results and pledge acceptances."""
    return render_pdf(template_name="registration/print/registration_form.html", context=_context(printout))


def pledge_pdf(printout: RegistrationPrintout) -> bytes:
    """The pledges alone, one per page, each with a line for the applicant's signature and the date.

    Raises ValueError when the printout has no pledges (the program asks for none: nothing to print).
    """
    if not printout.pledges:
        raise ValueError(f"application {printout.application_number} has no pledges to print")
    return render_pdf(template_name="registration/print/pledge.html", context={"printout": printout})
