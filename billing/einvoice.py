"""Issuing invoices (发票): an `EInvoiceProvider` interface, the `ManualProvider` (finance types the number
and date from the tax-control device and attaches the PDF) and `OpenPlatformProvider`, an HTTP adapter for a
generic Chinese e-invoice open platform in the style of 诺诺 / 百望. `einvoice_provider()` picks the adapter
from the current tenant's settings (billing.merchant_settings, kind "einvoice"); manual when none.

Providers touch no database: billing.services calls them outside any row lock and records the result.

Wire format of the open platform
--------------------------------
JSON over HTTPS, UTF-8, POST to `{endpoint}{operation}`:

    /v1/invoice/issue       开具蓝字发票
    /v1/invoice/red-flush   开具红字发票（红冲）

`{path}` below is the whole path of that URL: for the endpoint https://host/open it is
/open/v1/invoice/issue.

Every request carries four headers:

    X-App-Key    the tenant's appKey
    X-Timestamp  Unix time in milliseconds
    X-Nonce      32 random hex characters, never reused
    X-Sign       base64(HMAC-SHA256(appSecret, canonical))

where `canonical` is the lines (joined with "\\n", no trailing newline)

    POST
    {path}
    appKey={appKey}&nonce={nonce}&timestamp={timestamp}
    {lowercase hex SHA-256 of the exact body bytes}

Answers are signed the same way with the same appSecret, in the headers X-Timestamp, X-Nonce and X-Sign,
over the lines `{HTTP status}`, `{path}`, the same `appKey=…&nonce=…&timestamp=…` line (the answer's own
nonce and timestamp) and the SHA-256 of the answer body. An answer without a valid signature, or with a
timestamp more than five minutes off, is refused whatever it says.

Issue request body::

    {"serialNo": "INV<order number>",        # ours; the platform answers a repeated serialNo with the
                                             # invoice it already issued, so a retry never issues twice
     "sellerTaxNo": "91510100…",
     "invoiceType": "ELECTRONIC_NORMAL" | "ELECTRONIC_SPECIAL",   # 数电普票 / 数电专票
     "buyer": {"name": 抬头, "taxNo": 税号, "addressPhone": 地址电话, "bankAccount": 开户行及账号,
               "email": 交付邮箱},
     "totalAmount": "920.00",                 # 元, tax included (价税合计)
     "items": [{"name": "…", "amount": "800.00", "quantity": 1}],   # goods code and tax rate: the
                                                                   # seller's defaults on the platform
     "remark": "订单号 …"}

Red-flush request body::

    {"serialNo": "RED<order number>", "sellerTaxNo": "…", "originalSerialNo": <platform serial>,
     "invoiceCode": 发票代码, "invoiceNo": 发票号码, "reason": "退款"}

Answer body (HTTP 200 in every case the platform understood)::

    {"code": "0000", "message": "成功",
     "data": {"platformSerialNo": "…", "invoiceCode": "" (数电发票无代码), "invoiceNo": "2551…",
              "invoiceDate": "2026-11-20 10:31:05", "pdfBase64": "…" | "pdfUrl": "https://…"}}

Any other `code` is a refusal whose `message` (Chinese) is shown to finance. A `pdfUrl` is fetched with a
plain GET (it is a short-lived link the platform signs itself). The red-flush answer's data is
`{"platformSerialNo": "…", "invoiceNo": 红字发票号码}`.
"""

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol
from urllib.parse import urlsplit

import requests

from billing.merchant_settings import EINVOICE, EInvoiceSettings, merchant_settings_load

logger = logging.getLogger(__name__)

ISSUE_PATH = "/v1/invoice/issue"
RED_FLUSH_PATH = "/v1/invoice/red-flush"
SUCCESS_CODE = "0000"
TIMEOUT_SECONDS = 15
SIGNATURE_WINDOW_MS = 5 * 60 * 1000
PDF_MAGIC = b"%PDF-"
# Our invoice types the platform can issue; paper invoices stay with finance's tax-control device.
PLATFORM_INVOICE_TYPES = {"electronic_normal": "ELECTRONIC_NORMAL", "special_vat": "ELECTRONIC_SPECIAL"}


class EInvoiceError(Exception):
    """The platform refused or could not be trusted: `code` is the platform's (or ours: network,
    bad_signature, malformed_response, type_not_supported), `message` is Chinese and shown to finance."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class EInvoiceLine:
    name: str
    amount_fen: int
    quantity: int = 1


@dataclass(frozen=True)
class EInvoiceRequest:
    serial: str  # ours, stable per invoice: a retried call must not issue a second invoice
    invoice_type: str  # tenant_configs.schema.InvoiceType value
    buyer_name: str
    buyer_tax_number: str
    amount_fen: int
    lines: tuple[EInvoiceLine, ...]
    buyer_address_phone: str = ""
    buyer_bank_account: str = ""
    buyer_email: str = ""
    remark: str = ""


@dataclass(frozen=True)
class EInvoiceResult:
    number: str  # 发票号码
    issued_on: date  # 开票日期
    pdf: bytes | None
    platform_serial: str = ""  # empty for invoices issued by hand
    code: str = ""  # 发票代码; 数电 invoices have none
    pdf_filename: str = "invoice.pdf"


@dataclass(frozen=True)
class RedFlushRequest:
    serial: str
    platform_serial: str
    number: str
    code: str = ""
    reason: str = "退款"


@dataclass(frozen=True)
class RedFlushResult:
    platform_serial: str
    number: str


class EInvoiceProvider(Protocol):
    manual: bool

    def issue(self, request: EInvoiceRequest) -> EInvoiceResult: ...

    def red_flush(self, request: RedFlushRequest) -> RedFlushResult | None: ...


@dataclass(frozen=True)
class ManualProvider:
    """Finance issued the invoice on the tax-control device and types what it printed."""

    number: str = ""
    issued_on: date | None = None
    pdf: bytes | None = None
    pdf_filename: str = "invoice.pdf"
    manual: bool = field(default=True, init=False)

    def issue(self, request: EInvoiceRequest) -> EInvoiceResult:
        if not self.number.strip():
            raise EInvoiceError("number_required", "请填写发票号码")
        if self.issued_on is None:
            raise EInvoiceError("date_required", "请填写开票日期")
        return EInvoiceResult(
            number=self.number.strip(),
            issued_on=self.issued_on,
            pdf=self.pdf,
            pdf_filename=self.pdf_filename,
        )

    def red_flush(self, request: RedFlushRequest) -> None:
        """Nothing to call: finance red-flushes a hand-issued invoice on its own device."""
        return None


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def sign(
    *, secret: str, first_line: str, path: str, app_key: str, nonce: str, timestamp: str, body: bytes
) -> str:
    """The X-Sign of a request (`first_line` "POST") or an answer (`first_line` the HTTP status)."""
    canonical = "\n".join(
        (
            first_line,
            path,
            f"appKey={app_key}&nonce={nonce}&timestamp={timestamp}",
            hashlib.sha256(body).hexdigest(),
        )
    )
    digest = hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class OpenPlatformProvider:
    """The HTTP adapter (wire format in the module docstring)."""

    manual = False

    def __init__(self, settings: EInvoiceSettings, session: requests.Session | None = None):
        self.settings = settings
        self.session = session or requests.Session()

    # -- the two calls ----------------------------------------------------------------------------------

    def issue(self, request: EInvoiceRequest) -> EInvoiceResult:
        platform_type = PLATFORM_INVOICE_TYPES.get(request.invoice_type)
        if platform_type is None:
            raise EInvoiceError("type_not_supported", "该发票类型不能通过电子发票平台开具，请手工登记")
        body = {
            "serialNo": request.serial,
            "sellerTaxNo": self.settings.seller_tax_number,
            "invoiceType": platform_type,
            "buyer": {
                "name": request.buyer_name,
                "taxNo": request.buyer_tax_number,
                "addressPhone": request.buyer_address_phone,
                "bankAccount": request.buyer_bank_account,
                "email": request.buyer_email,
            },
            "totalAmount": _yuan(request.amount_fen),
            "items": [
                {"name": line.name, "amount": _yuan(line.amount_fen), "quantity": line.quantity}
                for line in request.lines
            ],
            "remark": request.remark,
        }
        data = self._call(ISSUE_PATH, body)
        number = _text(data, "invoiceNo")
        if not number:
            raise _malformed("没有发票号码")
        try:
            issued_on = datetime.strptime(_text(data, "invoiceDate")[:10], "%Y-%m-%d").date()
        except ValueError:
            raise _malformed("开票日期格式不正确") from None
        return EInvoiceResult(
            number=number,
            code=_text(data, "invoiceCode"),
            issued_on=issued_on,
            pdf=self._pdf(data),
            platform_serial=_text(data, "platformSerialNo"),
            pdf_filename=f"fapiao-{number}.pdf",
        )

    def red_flush(self, request: RedFlushRequest) -> RedFlushResult:
        body = {
            "serialNo": request.serial,
            "sellerTaxNo": self.settings.seller_tax_number,
            "originalSerialNo": request.platform_serial,
            "invoiceCode": request.code,
            "invoiceNo": request.number,
            "reason": request.reason,
        }
        data = self._call(RED_FLUSH_PATH, body)
        serial = _text(data, "platformSerialNo")
        if not serial:
            raise _malformed("没有红字发票流水号")
        return RedFlushResult(platform_serial=serial, number=_text(data, "invoiceNo"))

    # -- signing and transport --------------------------------------------------------------------------

    def _call(self, operation: str, payload: dict) -> dict:
        url = self.settings.endpoint.rstrip("/") + operation
        path = urlsplit(url).path
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp, nonce = str(int(time.time() * 1000)), secrets.token_hex(16)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-App-Key": self.settings.app_key,
            "X-Timestamp": timestamp,
            "X-Nonce": nonce,
            "X-Sign": sign(
                secret=self.settings.app_secret,
                first_line="POST",
                path=path,
                app_key=self.settings.app_key,
                nonce=nonce,
                timestamp=timestamp,
                body=body,
            ),
        }
        try:
            response = self.session.post(url, data=body, headers=headers, timeout=TIMEOUT_SECONDS)
        except requests.RequestException as error:
            raise EInvoiceError("network", f"电子发票平台无法连接：{type(error).__name__}") from error
        self._verify(path, response)
        try:
            answer = json.loads(response.content)
        except ValueError:
            raise _malformed("应答不是 JSON") from None
        if not isinstance(answer, dict):
            raise _malformed("应答不是 JSON 对象")
        code = str(answer.get("code", ""))
        if code != SUCCESS_CODE:
            message = str(answer.get("message") or "").strip() or f"HTTP {response.status_code}"
            raise EInvoiceError(code or "platform_error", f"电子发票平台：{message}")
        data = answer.get("data")
        if not isinstance(data, dict):
            raise _malformed("缺少 data")
        return data

    def _verify(self, path: str, response: requests.Response) -> None:
        timestamp = response.headers.get("X-Timestamp", "")
        nonce = response.headers.get("X-Nonce", "")
        given = response.headers.get("X-Sign", "")
        expected = sign(
            secret=self.settings.app_secret,
            first_line=str(response.status_code),
            path=path,
            app_key=self.settings.app_key,
            nonce=nonce,
            timestamp=timestamp,
            body=response.content,
        )
        if not (timestamp.isdigit() and nonce and hmac.compare_digest(given.encode(), expected.encode())):
            logger.warning("einvoice answer with a bad signature on %s (HTTP %s)", path, response.status_code)
            raise EInvoiceError("bad_signature", "电子发票平台应答验签失败，未登记开票结果")
        if abs(int(timestamp) - int(time.time() * 1000)) > SIGNATURE_WINDOW_MS:
            raise EInvoiceError("bad_signature", "电子发票平台应答时间戳超出允许范围，未登记开票结果")

    def _pdf(self, data: dict) -> bytes:
        encoded, url = _text(data, "pdfBase64"), _text(data, "pdfUrl")
        if encoded:
            try:
                pdf = base64.b64decode(encoded, validate=True)
            except ValueError:
                raise _malformed("PDF 不是有效的 base64") from None
        elif url.startswith("https://"):
            try:
                response = self.session.get(url, timeout=TIMEOUT_SECONDS)
                response.raise_for_status()
            except requests.RequestException as error:
                raise EInvoiceError("network", f"发票 PDF 下载失败：{type(error).__name__}") from error
            pdf = response.content
        else:
            raise _malformed("没有发票 PDF")
        if not pdf.startswith(PDF_MAGIC):
            raise _malformed("发票文件不是 PDF")
        return pdf


def _text(data: dict, key: str) -> str:
    value = data.get(key)
    return value.strip() if isinstance(value, str) else ""


def _malformed(what: str) -> EInvoiceError:
    return EInvoiceError("malformed_response", f"电子发票平台应答不完整：{what}")


def einvoice_settings() -> EInvoiceSettings | None:
    """The current tenant's e-invoice platform settings, or None when it issues invoices by hand."""
    stored = merchant_settings_load(EINVOICE)
    return stored if isinstance(stored, EInvoiceSettings) else None


def einvoice_provider() -> EInvoiceProvider:
    """The adapter for the tenant on the current connection: its open platform when configured, else manual
    (which issues nothing by itself: finance enters the invoice through `invoice_issue_by_finance`)."""
    settings = einvoice_settings()
    if settings is None:
        return ManualProvider()
    return OpenPlatformProvider(settings)
