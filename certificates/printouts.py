"""The printed certificate: a `CertificatePrintout` (display values only) in, PDF bytes out.

Nothing here reads the database, so the layout is tested (and benchmarked) without one. The holder's own
certificate shows the full ID number; the verification page, which anyone can open, shows it masked.
The QR code is printed only when the tenant's registry is enabled (rules `certificates.registry_enabled`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from shared.pdf import image_data_uri, qr_svg_data_uri, render_pdf

__all__ = ["CertificatePrintout", "certificate_printout_pdf"]

TEMPLATE = "certificates/print/certificate.html"


@dataclass(frozen=True)
class CertificatePrintout:
    association_name: str
    title: str
    number: str
    holder_name: str
    id_number: str
    company_name: str
    program_name: str
    issued_on: date
    valid_until: date | None  # None: 长期
    verification_code: str
    verification_url: str  # "" when the registry is disabled: no QR code is printed
    photo: bytes | None = None
    photo_content_type: str = ""


def certificate_printout_pdf(printout: CertificatePrintout) -> bytes:
    """The A4 certificate. Raises PdfAssetRefused if the template ever asks for a non-data: URL."""
    photo_uri = image_data_uri(printout.photo, printout.photo_content_type) if printout.photo else ""
    qr_uri = qr_svg_data_uri(printout.verification_url) if printout.verification_url else ""
    return render_pdf(
        template_name=TEMPLATE, context={"printout": printout, "photo_uri": photo_uri, "qr_uri": qr_uri}
    )
