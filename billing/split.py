"""The order splitter: which payments (orders) does a selection of payable items become?

Pure (STYLE.md "Pure rules are separate from I/O"): plain `Item`s and the tenant's typed `BillingRules` in,
one `Plan` out. No Django, no database, no clock, so every combination of billing rules is tested with
parametrized cases in milliseconds (tests/unit/test_billing_split.py).

One order is one payment and at most one invoice (DESIGN §6). A company selects approved applications, a
student pays their own, or membership fees are due; the plan says how those items are grouped into orders
so that every order respects the rules:

- `split.separate_materials`: items with and without training materials are never in one order. An item
  whose program has no materials choice (`with_materials is None`) is a third group of its own: "no
  choice" may mean materials are included (policy `required_shipped`) or that there are none at all, and
  the splitter cannot tell which, so it never mixes it with either side;
- `invoice_cap`: with `cap_fen > 0`, each order's total measured on the cap's basis (`cap_basis_amount`)
  is at most the cap. Items are packed first-fit decreasing; an item that alone exceeds the cap is refused
  (`strict`) or paid alone in an order marked `above_cap`;
- zero-amount items (members who train free) need no payment: they are listed in `Plan.free_items`,
  never in an order, because a payment of 0 fen cannot go through a gateway and there is nothing to
  invoice. A selection of only such items gives no orders and the note "无需缴费".

Money is integer fen throughout; the only division (tax-exclusive amounts) is integer arithmetic rounded
half up to the fen.

Refusals are `Problem`s (stable English `code`, specific Simplified Chinese `message`, the `field` they
belong to), reported all at once in this stable order:

1. `payment_not_required` (the tenant's payer is none; reported alone, nothing else applies);
2. `channel_not_offered`, then `invoice_type_not_allowed` (checked only for an offered channel, since the
   allowed invoice types depend on it);
3. the selection: `nothing_selected`; `duplicate_item` once per repeated key; `amount_invalid` per item;
4. `item_above_cap` per item, in selection order, when the cap is strict.

A plan with any problem has no orders, no free items and no notes: nothing is payable until the payer
changes the selection, the channel or the invoice type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tenant_configs.schema import (
    BillingRules,
    InvoiceCapBasis,
    InvoiceCapRules,
    InvoiceType,
    Payer,
    PaymentChannel,
)

__all__ = [
    "PROBLEM_CODES",
    "Item",
    "Plan",
    "Problem",
    "ProposedOrder",
    "cap_basis_amount",
    "format_yuan",
    "invoice_types_for",
    "plan",
]

PROBLEM_CODES: tuple[str, ...] = (
    "payment_not_required",
    "channel_not_offered",
    "invoice_type_not_allowed",
    "nothing_selected",
    "duplicate_item",
    "amount_invalid",
    "item_above_cap",
)
"""Every code `plan` can report, in the order it reports them."""

CHANNEL_FIELD = "channel"
INVOICE_TYPE_FIELD = "invoice_type"
ITEMS_FIELD = "items"
"""`Problem.field` of problems about the channel, the invoice type and the selection as a whole; problems
about one item carry that item's key."""

CHANNEL_LABELS: dict[PaymentChannel, str] = {
    PaymentChannel.WECHAT_NATIVE: "微信扫码支付",
    PaymentChannel.WECHAT_JSAPI: "微信支付",
    PaymentChannel.ALIPAY_PAGE: "支付宝网页支付",
    PaymentChannel.ALIPAY_QR: "支付宝扫码支付",
    PaymentChannel.STRIPE: "银行卡支付（Stripe）",
    PaymentChannel.OFFLINE_TRANSFER: "线下汇款",
}

INVOICE_TYPE_LABELS: dict[InvoiceType, str] = {
    InvoiceType.ELECTRONIC_NORMAL: "增值税电子普通发票",
    InvoiceType.PAPER_NORMAL: "增值税普通发票（纸质）",
    InvoiceType.SPECIAL_VAT: "增值税专用发票",
}

ONLINE_LABEL = "在线支付"
OFFLINE_LABEL = CHANNEL_LABELS[PaymentChannel.OFFLINE_TRANSFER]

NOTHING_TO_PAY_NOTE = "无需缴费"

_MATERIALS_LABELS: dict[bool | None, str] = {  # in the order the separation note names them
    True: "含培训资料",
    False: "不含培训资料",
    None: "无培训资料选项",
}

_BASIS_POINTS = 10_000  # 100 % in basis points (万分之一)


# ---------------------------------------------------------------------------------------------------------
# inputs and output
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One thing paid for, priced by the caller (registration.rules.fee_for, the membership fee, …)."""

    key: str  # stable id of what is paid for, e.g. "application:123"; unique within a selection
    label: str  # shown to the payer, e.g. "张三 · 2022年四川省工程监理人员职业培训"
    amount_fen: int  # tax-inclusive price in fen; a negative amount is refused as `amount_invalid`
    with_materials: bool | None  # the materials choice; None when the program offers no choice

    def __post_init__(self) -> None:
        # A float or a bool here is a programming error, not a payer's mistake: fail loudly rather than
        # carry binary fractions into money.
        if type(self.amount_fen) is not int:
            raise TypeError(f"Item.amount_fen must be an int (fen), got {self.amount_fen!r}")


@dataclass(frozen=True)
class ProposedOrder:
    """One payment, and at most one invoice."""

    items: tuple[Item, ...]  # in selection order
    total_fen: int  # tax-inclusive sum of the items
    with_materials: (
        bool | None
    )  # shared by every item; None when they have no choice or (not separated) differ
    above_cap: bool  # a single item whose amount alone exceeds the cap (only when the cap is not strict)


@dataclass(frozen=True)
class Problem:
    """One reason to refuse, shaped like registration.rules.Problem so one API error serializer shows
    both. `field` is "channel", "invoice_type", "items" or the key of the item concerned."""

    code: str  # stable English, one of PROBLEM_CODES
    message: str  # specific Simplified Chinese, naming the channel / invoice type / item by its label
    field: str | None = None


@dataclass(frozen=True)
class Plan:
    orders: tuple[ProposedOrder, ...]
    free_items: tuple[Item, ...]  # zero-amount items: nothing to pay, in no order (selection order)
    problems: tuple[Problem, ...]  # refusals: when non-empty, orders, free_items and notes are empty
    notes: tuple[str, ...]  # Chinese sentences explaining the split to the payer

    @property
    def allowed(self) -> bool:
        return not self.problems

    @property
    def total_fen(self) -> int:
        return sum(order.total_fen for order in self.orders)


# ---------------------------------------------------------------------------------------------------------
# money
# ---------------------------------------------------------------------------------------------------------


def cap_basis_amount(*, amount_fen: int, cap: InvoiceCapRules) -> int:
    """A tax-inclusive amount measured on the cap's basis, in fen.

    `tax_inclusive`: the amount itself. `tax_exclusive`: amount × 10000 / (10000 + tax_rate_basis_points),
    rounded half up to the fen with integer arithmetic (600 bp: 1,060,000 fen → 1,000,000 fen).
    Non-decreasing in `amount_fen`, which is what lets the packing check each order's total on its own.
    Precondition: `amount_fen >= 0` (else ValueError: half up is ambiguous for negative amounts).
    """
    if amount_fen < 0:
        raise ValueError(f"amount_fen must be >= 0, got {amount_fen}")
    if cap.basis == InvoiceCapBasis.TAX_INCLUSIVE:
        return amount_fen
    divisor = _BASIS_POINTS + cap.tax_rate_basis_points
    # floor(x + 1/2) with x = amount × 10000 / divisor, kept in integers: floor((2·amount·10000 + divisor) / 2·divisor).
    return (2 * amount_fen * _BASIS_POINTS + divisor) // (2 * divisor)


def format_yuan(amount_fen: int) -> str:
    """1000000 → "10,000.00" (yuan with thousands separators, two decimals)."""
    sign = "-" if amount_fen < 0 else ""
    yuan, fen = divmod(abs(amount_fen), 100)
    return f"{sign}{yuan:,}.{fen:02d}"


# ---------------------------------------------------------------------------------------------------------
# channel and invoice type
# ---------------------------------------------------------------------------------------------------------


def invoice_types_for(*, billing: BillingRules, channel: PaymentChannel) -> tuple[InvoiceType, ...]:
    """The invoice types a payment through `channel` may ask for, in the rules' order.

    Channels form two groups: offline transfer (`invoice_types.offline_transfer`) and online, every other
    channel (`invoice_types.online`). An empty list means the tenant issues no invoice through that group.
    A channel the tenant does not offer gets () since nothing can be paid through it. Not wanting an
    invoice (None) is always allowed and is not listed.
    """
    if channel not in billing.channels:
        return ()
    if channel == PaymentChannel.OFFLINE_TRANSFER:
        return billing.invoice_types.offline_transfer
    return billing.invoice_types.online


def _channel_problem(billing: BillingRules, channel: PaymentChannel) -> Problem | None:
    if channel in billing.channels:
        return None
    offered = "、".join(CHANNEL_LABELS[offered] for offered in billing.channels)
    return Problem(
        "channel_not_offered",
        f"本协会不支持{CHANNEL_LABELS[channel]}，可选的支付方式：{offered}",
        CHANNEL_FIELD,
    )


def _invoice_type_problem(
    billing: BillingRules, channel: PaymentChannel, invoice_type: InvoiceType | None
) -> Problem | None:
    """The message says what this channel group issues and where the asked-for type is available, e.g.
    "在线支付仅支持开具增值税电子普通发票；增值税专用发票仅支持线下汇款"."""
    allowed_here = invoice_types_for(billing=billing, channel=channel)
    if invoice_type is None or invoice_type in allowed_here:
        return None
    offline = channel == PaymentChannel.OFFLINE_TRANSFER
    here_label, other_label = (OFFLINE_LABEL, ONLINE_LABEL) if offline else (ONLINE_LABEL, OFFLINE_LABEL)
    allowed_elsewhere = billing.invoice_types.online if offline else billing.invoice_types.offline_transfer
    if not allowed_here and not allowed_elsewhere:
        message = "本协会不开具发票"
    else:
        if allowed_here:
            here = f"{here_label}仅支持开具{'、'.join(INVOICE_TYPE_LABELS[kind] for kind in allowed_here)}"
        else:
            here = f"{here_label}不开具发票"
        asked = INVOICE_TYPE_LABELS[invoice_type]
        elsewhere = (
            f"{asked}仅支持{other_label}" if invoice_type in allowed_elsewhere else f"本协会不开具{asked}"
        )
        message = f"{here}；{elsewhere}"
    return Problem("invoice_type_not_allowed", message, INVOICE_TYPE_FIELD)


# ---------------------------------------------------------------------------------------------------------
# the selection
# ---------------------------------------------------------------------------------------------------------


def _selection_problems(items: Sequence[Item]) -> list[Problem]:
    if not items:
        return [Problem("nothing_selected", "请选择要缴费的人员", ITEMS_FIELD)]
    problems: list[Problem] = []
    seen: set[str] = set()
    reported: set[str] = set()
    for item in items:
        if item.key in seen and item.key not in reported:
            reported.add(item.key)
            problems.append(
                Problem("duplicate_item", f"「{item.label}」被重复选择，每项只能缴费一次", item.key)
            )
        seen.add(item.key)
    problems.extend(
        Problem(
            "amount_invalid", f"「{item.label}」的金额无效（{format_yuan(item.amount_fen)} 元）", item.key
        )
        for item in items
        if item.amount_fen < 0
    )
    return problems


def _basis_text(cap: InvoiceCapRules) -> str:
    return "不含税金额" if cap.basis == InvoiceCapBasis.TAX_EXCLUSIVE else "金额"


def _cap_note(cap: InvoiceCapRules, order_count: int) -> str:
    """E.g. "单次缴费（一张发票）金额不超过 10,000.00 元，已分为 3 笔"."""
    return (
        f"单次缴费（一张发票）{_basis_text(cap)}不超过 {format_yuan(cap.cap_fen)} 元，已分为 {order_count} 笔"
    )


def _above_cap_text(item: Item, cap: InvoiceCapRules) -> str:
    """E.g. "「张三 · …」金额 120.00 元，超过单次缴费（一张发票）金额上限 100.00 元"; on the tax-exclusive
    basis the item's tax-exclusive amount is shown too, since that is what exceeds the cap."""
    amount = f"金额 {format_yuan(item.amount_fen)} 元"
    if cap.basis == InvoiceCapBasis.TAX_EXCLUSIVE:
        exclusive = cap_basis_amount(amount_fen=item.amount_fen, cap=cap)
        amount += f"（不含税 {format_yuan(exclusive)} 元）"
    return f"「{item.label}」{amount}，超过单次缴费（一张发票）{_basis_text(cap)}上限 {format_yuan(cap.cap_fen)} 元"


def _is_above_cap(item: Item, cap: InvoiceCapRules) -> bool:
    return cap.cap_fen > 0 and cap_basis_amount(amount_fen=item.amount_fen, cap=cap) > cap.cap_fen


def _above_cap_problems(items: Sequence[Item], cap: InvoiceCapRules) -> list[Problem]:
    if not cap.strict:
        return []
    problems: list[Problem] = []
    reported: set[str] = set()
    for item in items:
        if item.amount_fen < 0 or item.key in reported or not _is_above_cap(item, cap):
            continue
        reported.add(item.key)
        problems.append(
            Problem(
                "item_above_cap",
                f"{_above_cap_text(item, cap)}，无法缴费，请联系协会",
                item.key,
            )
        )
    return problems


# ---------------------------------------------------------------------------------------------------------
# the plan
# ---------------------------------------------------------------------------------------------------------


def plan(
    *,
    items: Sequence[Item],
    billing: BillingRules,
    channel: PaymentChannel,
    invoice_type: InvoiceType | None,
) -> Plan:
    """Split the selection `items` into orders payable through `channel` with the invoice `invoice_type`
    (None: no invoice wanted).

    Preconditions: `billing` is a validated `BillingRules` (so a strict cap has `cap_fen > 0`); each item's
    `amount_fen` is an int (enforced by `Item`) already priced by the caller. Never raises for a payer's
    mistake: every refusal is a `Problem` in the plan (see the module docstring for codes and order).

    Decisions:
    - groups: with `separate_materials`, one group per materials value (True / False / None); otherwise one
      group. Zero-amount items are taken out first (`free_items`) and form no group;
    - cap 0: one order per group. Cap > 0: first-fit decreasing per group — items by amount, largest first,
      ties by key, each into the first order it fits in on the cap basis, else a new order. Ties by key,
      not by position, so the partition depends only on the set of items: the preview and the confirmed
      plan agree however the selection was ordered. FFD is not always minimal, but no two of its orders
      (of one group) would fit together, and with one price per group (sichuan: 800 元 without materials,
      920 元 with, separated) it is minimal;
    - the cap is checked on each order's total, not on the sum of per-item amounts: the invoice for an
      order carries the order's total, and the tax-exclusive amount the cap limits is derived from that
      total; per-item rounding could drift half a fen per item from it and pass an invoice that is over;
    - an item above the cap, not strict: alone in its own order, `above_cap=True`, with a note;
    - output: groups in the order their first item appears in the selection, within a group orders by
      their first item's position, items within an order in selection order;
    - notes, in this order: the materials separation (only when more than one group is payable), the cap
      split (only when the cap made some group more than one order; "已分为 N 笔" counts all orders), one
      per above-cap order, then the free items.
    """
    if billing.payer == Payer.NONE:
        return _refused((Problem("payment_not_required", "本协会不在线收费，无需缴费"),))
    problems: list[Problem] = []
    channel_problem = _channel_problem(billing, channel)
    if channel_problem is not None:
        problems.append(channel_problem)
    elif (invoice_problem := _invoice_type_problem(billing, channel, invoice_type)) is not None:
        problems.append(invoice_problem)
    problems += _selection_problems(items)
    problems += _above_cap_problems(items, billing.invoice_cap)
    if problems:
        return _refused(tuple(problems))

    free_items = tuple(item for item in items if item.amount_fen == 0)
    payable = [(position, item) for position, item in enumerate(items) if item.amount_fen > 0]
    if not payable:
        return Plan(orders=(), free_items=free_items, problems=(), notes=(NOTHING_TO_PAY_NOTE,))

    groups = _groups(payable, separate=billing.split.separate_materials)
    orders: list[ProposedOrder] = []
    cap_split = False
    for group in groups:
        group_orders = _pack(group, billing.invoice_cap)
        cap_split = cap_split or len(group_orders) > 1
        orders.extend(group_orders)

    notes: list[str] = []
    if billing.split.separate_materials and len(groups) > 1:
        present = {group[0][1].with_materials for group in groups}
        labels = [label for choice, label in _MATERIALS_LABELS.items() if choice in present]
        joined = "、".join(labels[:-1]) + "与" + labels[-1]
        notes.append(f"{joined}的人员分开缴费")
    if cap_split:
        notes.append(_cap_note(billing.invoice_cap, len(orders)))
    notes.extend(
        f"{_above_cap_text(order.items[0], billing.invoice_cap)}，单独缴费"
        for order in orders
        if order.above_cap
    )
    if free_items:
        notes.append(f"另有 {len(free_items)} 人金额为 0 元，{NOTHING_TO_PAY_NOTE}")
    return Plan(orders=tuple(orders), free_items=free_items, problems=(), notes=tuple(notes))


def _refused(problems: tuple[Problem, ...]) -> Plan:
    return Plan(orders=(), free_items=(), problems=problems, notes=())


_Positioned = tuple[int, Item]  # (position in the selection, item)


def _groups(payable: list[_Positioned], *, separate: bool) -> list[list[_Positioned]]:
    """Payable items by materials value (one group when not separating), groups in order of first
    appearance, items in selection order."""
    if not separate:
        return [payable]
    groups: dict[bool | None, list[_Positioned]] = {}
    for positioned in payable:
        groups.setdefault(positioned[1].with_materials, []).append(positioned)
    return list(groups.values())


def _pack(group: list[_Positioned], cap: InvoiceCapRules) -> list[ProposedOrder]:
    """First-fit decreasing on the cap basis (see `plan`); above-cap items (not strict) alone."""
    bins: list[list[_Positioned]] = []
    totals: list[int] = []
    above_cap: list[bool] = []
    for positioned in sorted(group, key=lambda positioned: (-positioned[1].amount_fen, positioned[1].key)):
        amount = positioned[1].amount_fen
        if _is_above_cap(positioned[1], cap):
            bins.append([positioned])
            totals.append(amount)
            above_cap.append(True)
            continue
        for index, total in enumerate(totals):
            if not above_cap[index] and _fits(total + amount, cap):
                bins[index].append(positioned)
                totals[index] += amount
                break
        else:
            bins.append([positioned])
            totals.append(amount)
            above_cap.append(False)
    packed = sorted(zip(bins, totals, above_cap, strict=True), key=lambda packed: _first_position(packed[0]))
    return [_order(sorted(members, key=_position), total, is_above) for members, total, is_above in packed]


def _position(positioned: _Positioned) -> int:
    return positioned[0]


def _first_position(members: list[_Positioned]) -> int:
    return min(_position(positioned) for positioned in members)


def _fits(total_fen: int, cap: InvoiceCapRules) -> bool:
    return cap.cap_fen == 0 or cap_basis_amount(amount_fen=total_fen, cap=cap) <= cap.cap_fen


def _order(members: list[_Positioned], total_fen: int, is_above_cap: bool) -> ProposedOrder:
    items = tuple(item for _, item in members)
    choices = {item.with_materials for item in items}
    return ProposedOrder(
        items=items,
        total_fen=total_fen,
        with_materials=choices.pop() if len(choices) == 1 else None,
        above_cap=is_above_cap,
    )
