"""The registry's pure parts (certificates/numbering.py, certificates/printouts.py): registry numbers from
every tenant's pattern, validity, masking, and the printed certificate read back with poppler and zbar.
No database."""

import shutil
import subprocess
import tempfile
from datetime import date
from pathlib import Path

import pytest

from certificates.numbering import certificate_number, mask_id_number, mask_name, valid_until_for
from certificates.printouts import CertificatePrintout, certificate_printout_pdf
from tenant_configs.loader import load_rules_file

CONFIGS = Path(__file__).resolve().parents[2] / "tenant_configs"


# --- numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "year", "seq", "program", "expected"),
    [
        ("{year}{seq:06d}", 2026, 1, "", "2026000001"),
        ("SC{year}{seq:06d}", 2026, 42, "", "SC2026000042"),
        ("HA{year}{seq:07d}", 2027, 1234567, "", "HA20271234567"),
        ("GSJL{year}{seq:05d}", 2026, 99999, "", "GSJL202699999"),
        # Past the padding the number simply grows: never truncated, so never a duplicate.
        ("GSJL{year}{seq:05d}", 2026, 100000, "", "GSJL2026100000"),
        ("{program}-{year}-{seq:04d}", 2026, 7, "jianli_2022", "jianli_2022-2026-0007"),
        ("ZS{seq}", 2026, 3, "", "ZS3"),
    ],
)
def test_certificate_number_follows_the_pattern(pattern, year, seq, program, expected):
    assert certificate_number(pattern=pattern, year=year, seq=seq, program=program) == expected


def test_sequence_starts_at_one():
    with pytest.raises(ValueError, match="start at 1"):
        certificate_number(pattern="{year}{seq:06d}", year=2026, seq=0)


@pytest.mark.parametrize("config", ["sichuan", "henan", "shanghai", "gansu", "miniapp"])
def test_every_shipped_pattern_numbers_the_first_and_a_large_sequence(config):
    rules = load_rules_file(CONFIGS / f"{config}.toml")
    assert rules.certificates.kinds, config
    for kind in rules.certificates.kinds:
        first = certificate_number(pattern=kind.numbering_pattern, year=2026, seq=1, program="p")
        later = certificate_number(pattern=kind.numbering_pattern, year=2026, seq=123456, program="p")
        assert "2026" in first
        assert first.endswith("1") and later.endswith("123456")
        assert first != later


def test_numbers_of_two_years_differ():
    assert certificate_number(pattern="HA{year}{seq:07d}", year=2026, seq=1) != certificate_number(
        pattern="HA{year}{seq:07d}", year=2027, seq=1
    )


# --- validity -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("issued", "years", "expected"),
    [
        (date(2026, 3, 1), 0, None),
        (date(2026, 3, 1), 3, date(2029, 3, 1)),
        (date(2026, 12, 31), 5, date(2031, 12, 31)),
        (date(2028, 2, 29), 1, date(2029, 2, 28)),
        (date(2028, 2, 29), 4, date(2032, 2, 29)),
    ],
)
def test_valid_until(issued, years, expected):
    assert valid_until_for(issued_on=issued, validity_years=years) == expected


# --- masking ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三丰", "张*丰"),
        ("张三", "张*"),
        ("欧阳娜娜", "欧**娜"),
        ("张", "张"),
        ("", ""),
        ("  王䶮  ", "王*"),
        ("阿卜杜拉·买买提", "阿******提"),
    ],
)
def test_mask_name(name, masked):
    assert mask_name(name) == masked


def test_mask_id_number_keeps_region_and_last_four():
    assert mask_id_number("410102199001011234") == "410102********1234"


# --- the printed certificate --------------------------------------------------------------------

URL = "https://henan.localhost/verify/AbCdEfGhIjKlMnOpQrSt-_/"


def _printout(**changes) -> CertificatePrintout:
    values = {
        "association_name": "河南省建设教育协会",
        "title": "施工现场专业人员职业培训合格证",
        "number": "HA20260000001",
        "holder_name": "王䶮",
        "id_number": "410102199001011234",
        "company_name": "河南省第一建筑工程集团有限责任公司",
        "program_name": "施工现场专业人员新证培训",
        "issued_on": date(2026, 3, 1),
        "valid_until": date(2029, 3, 1),
        "verification_code": "AbCdEfGhIjKlMnOpQrSt-_",
        "verification_url": URL,
    }
    values.update(changes)
    return CertificatePrintout(**values)


def pdf_text(data: bytes) -> str:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.pdf"
        path.write_bytes(data)
        return subprocess.run(
            ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
        ).stdout


def pdf_qr_codes(data: bytes) -> list[str]:
    """The QR codes zbarimg reads from the first page at 150 dpi ([] when none)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.pdf"
        path.write_bytes(data)
        subprocess.run(["pdftoppm", "-r", "150", "-png", str(path), str(Path(folder) / "p")], check=True)
        page = sorted(Path(folder).glob("p-*.png"))[0]
        result = subprocess.run(["zbarimg", "-q", "--raw", str(page)], capture_output=True, text=True)
        return [line for line in result.stdout.splitlines() if line]


needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils missing")
# Decoding the QR needs zbar-tools (infra/debian-packages.sh test installs it).
needs_zbar = pytest.mark.skipif(shutil.which("zbarimg") is None, reason="QR-DECODE-SKIPPED: zbarimg missing")


@needs_poppler
def test_certificate_pdf_text_is_extractable_with_the_holder_and_number():
    text = pdf_text(certificate_printout_pdf(_printout()))

    assert "施工现场专业人员职业培训合格证" in text
    assert "证书编号：HA20260000001" in text
    assert "王䶮" in text  # CJK Extension A, no tofu
    assert "410102199001011234" in text  # the holder's own certificate: full ID number
    assert "2026年3月1日 至 2029年3月1日" in text
    assert "AbCdEfGhIjKlMnOpQrSt-_" in text  # the code printed under the QR, for typing in


@needs_poppler
def test_a_certificate_without_validity_says_long_term():
    assert "2026年3月1日 至 长期" in pdf_text(certificate_printout_pdf(_printout(valid_until=None)))


@needs_poppler
@needs_zbar
def test_the_qr_code_decodes_to_the_verification_url():
    assert pdf_qr_codes(certificate_printout_pdf(_printout())) == [URL]


@needs_poppler
@needs_zbar
def test_no_registry_no_qr_code():
    data = certificate_printout_pdf(_printout(verification_url=""))

    assert pdf_qr_codes(data) == []
    assert "扫码验证" not in pdf_text(data)


def test_same_printout_same_bytes():
    assert certificate_printout_pdf(_printout()) == certificate_printout_pdf(_printout())
