"""Join requests (a person asks to join a company) and association membership (个人会员)."""

import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from certificates.services import certificate_issue
from membership.models import (
    JOIN_REQUEST_TRANSITIONS,
    MEMBERSHIP_TRANSITIONS,
    ExpiryReminder,
    FeeStatus,
    JoinRequest,
    JoinRequestStatus,
    Membership,
    MembershipEvent,
    MembershipFee,
    MembershipStatus,
    RecommendationBatch,
)
from shared.accounts.models import Company, PersonProfile, User, UserKind
from shared.documents.checks import UploadProblem
from shared.documents.models import Document, DocumentStatus
from shared.documents.services import document_upload
from shared.errors import CodedError
from shared.notices.services import message_send
from shared.pdf import render_pdf
from shared.services import audit_record, describe_actor
from shared.validation import id_number_birth_date, id_number_gender, normalise_mobile
from tenant_configs.schema import CertificateCondition, MembershipRules, Rules
from tenant_configs.selectors import rules_current


class JoinRequestError(CodedError):
    pass


def join_request_create(*, person: User, company: Company) -> JoinRequest:
    """Raises JoinRequestError: not_a_person, already_member, request_pending."""
    if person.kind != UserKind.PERSON:
        raise JoinRequestError("not_a_person", "只有个人用户可以申请加入单位")
    profile = PersonProfile.objects.filter(user=person).first()
    if profile is not None and profile.company_id == company.pk:
        raise JoinRequestError("already_member", f"您已是「{company.name}」的成员")
    try:
        with transaction.atomic():
            request = JoinRequest.objects.create(person=person, company=company)
            audit_record(
                actor=person, action="join_request.create", target=request, data={"company": company.pk}
            )
    except IntegrityError as error:
        raise JoinRequestError(
            "request_pending", "您已有一个待审核的加入申请，请等待单位审核或先撤回"
        ) from error
    return request


def _transition(
    *, request_id: int, company: Company | None, person: User | None, to: str, actor: User, reason: str = ""
) -> JoinRequest:
    with transaction.atomic():
        request = JoinRequest.objects.select_for_update().filter(pk=request_id)
        if company is not None:
            request = request.filter(company=company)
        if person is not None:
            request = request.filter(person=person)
        request = request.first()
        if request is None:
            raise JoinRequestError("not_found", "申请不存在")
        if request.status == to:
            return request  # already applied
        if to not in JOIN_REQUEST_TRANSITIONS[request.status]:
            raise JoinRequestError(
                "invalid_transition", f"该申请已{request.get_status_display()}，不能再操作"
            )
        request.status = to
        request.reason = reason
        request.decided_at = timezone.now()
        request.decided_by = actor
        request.save(update_fields=["status", "reason", "decided_at", "decided_by"])
        if to == JoinRequestStatus.APPROVED:
            PersonProfile.objects.filter(user=request.person).update(
                company=request.company, company_name=request.company.name
            )
        audit_record(actor=actor, action=f"join_request.{to}", target=request, data={"reason": reason})
    return request


def join_request_approve(*, request_id: int, company: Company, actor: User) -> JoinRequest:
    return _transition(
        request_id=request_id, company=company, person=None, to=JoinRequestStatus.APPROVED, actor=actor
    )


def join_request_reject(*, request_id: int, company: Company, actor: User, reason: str) -> JoinRequest:
    if not reason.strip():
        raise JoinRequestError("reason_required", "请填写拒绝原因")
    return _transition(
        request_id=request_id,
        company=company,
        person=None,
        to=JoinRequestStatus.REJECTED,
        actor=actor,
        reason=reason.strip(),
    )


def join_request_withdraw(*, request_id: int, person: User) -> JoinRequest:
    return _transition(
        request_id=request_id, company=None, person=person, to=JoinRequestStatus.WITHDRAWN, actor=person
    )


# =========================================================================================================
# association membership (个人会员): apply → (company recommends → confirms electronically) → association
# decides → company pays the fee → active until the period ends → expired → renewal
# =========================================================================================================


class MembershipError(CodedError):
    """A membership operation refused: stable `code`, Chinese `message`; nothing changed. `fields` maps
    a form field to its problem where the refusal is about input."""

    def __init__(self, code: str, message: str, *, fields: dict[str, str] | None = None) -> None:
        super().__init__(code, message)
        self.fields = fields or {}


# The application form (入会申请). The account's ID number and the profile prefill it; once submitted the
# person cannot change it (staff can, with an audit entry).
APPLICATION_FIELDS: tuple[tuple[str, str, bool], ...] = (
    ("name", "姓名", True),
    ("gender", "性别", True),
    ("id_number", "身份证号", True),
    ("birth_date", "出生日期", False),
    ("education", "学历", True),
    ("professional_title", "职称", True),
    ("specialty", "从事专业", False),
    ("position", "职务", False),
    ("work_start_date", "参加工作时间", False),
    ("phone", "联系电话", True),
    ("qq", "QQ号", False),
    ("address", "通讯地址（当前就职单位地址）", True),
)
# Taken from the account's ID number, never from input.
DERIVED_FROM_ID = frozenset({"id_number", "gender", "birth_date"})
STAFF_EDITABLE = frozenset(name for name, _label, _required in APPLICATION_FIELDS) - DERIVED_FROM_ID


def add_years(day: date, years: int) -> date:
    """The same calendar day `years` later (29 February → 28 February in a common year)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def membership_period(*, paid_on: date, years: int) -> tuple[date, date]:
    """A period paid on `paid_on` runs `years` years: 2026-03-01 for 5 years ends 2031-02-28."""
    return paid_on, add_years(paid_on, years) - timedelta(days=1)


def membership_fee_amount(*, rules: MembershipRules) -> tuple[int, int]:
    """(years, amount in fen) of one payment period: gansu 5 × 200 CNY = 1,000 CNY."""
    return rules.period_years, rules.fee_per_year_fen * rules.period_years


def _clean_answers(*, answers: dict, person: User, today: date, rules: MembershipRules) -> dict:
    cleaned: dict[str, str] = dict.fromkeys(DERIVED_FROM_ID, "")
    problems: dict[str, str] = {}
    for name, label, required in APPLICATION_FIELDS:
        if name in DERIVED_FROM_ID:
            continue
        value = str(answers.get(name) or "").strip()[:200]
        if required and not value:
            problems[name] = f"请填写{label}"
        cleaned[name] = value
    # The account's ID number is the member's ID (the seed's account is the ID number): never taken from input.
    profile = PersonProfile.objects.filter(user=person).first()
    id_number = profile.id_number if profile is not None else ""
    if not id_number:
        problems["id_number"] = "请先在个人资料中填写身份证号"
    cleaned["id_number"] = id_number
    if id_number:
        try:
            birth = id_number_birth_date(id_number)
            cleaned["birth_date"] = birth.isoformat()
            cleaned["gender"] = "男" if id_number_gender(id_number) == "male" else "女"
            if rules.eligibility_age_below:
                age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
                if age >= rules.eligibility_age_below:
                    problems["id_number"] = f"申请人年龄须在{rules.eligibility_age_below}岁以下"
        except ValueError:
            problems["id_number"] = "身份证号无效"
    if cleaned["phone"]:
        try:
            cleaned["phone"] = normalise_mobile(cleaned["phone"])
        except ValueError:
            problems["phone"] = "请填写有效的手机号"
    if cleaned["qq"] and not (cleaned["qq"].isdigit() and 5 <= len(cleaned["qq"]) <= 12):
        problems["qq"] = "QQ号为5–12位数字"
    if cleaned["work_start_date"]:
        try:
            date.fromisoformat(cleaned["work_start_date"])
        except ValueError:
            problems["work_start_date"] = "日期格式应为 YYYY-MM-DD"
    if problems:
        raise MembershipError("invalid", "；".join(problems.values()), fields=problems)
    return cleaned


@dataclass(frozen=True)
class PhotoUpload:
    data: bytes
    filename: str


def _current_photo(*, rules: MembershipRules, person: User) -> Document | None:
    return (
        Document.objects.filter(
            owner=person, key=rules.photo.key, company__isnull=True, superseded_at__isnull=True
        )
        .exclude(status=DocumentStatus.RETURNED)
        .first()
    )


def _photo(*, rules: MembershipRules, person: User, photo: PhotoUpload | None) -> Document | None:
    """The membership photo: a new upload checked against the rules' spec, else the person's current one."""
    if rules.photo is None:
        return None
    if photo is not None:
        try:
            return document_upload(
                owner=person,
                key=rules.photo.key,
                spec=rules.photo,
                data=photo.data,
                filename=photo.filename,
                review_required=False,
            )
        except UploadProblem as problem:
            raise MembershipError(
                "photo_invalid", problem.message, fields={"photo": problem.message}
            ) from problem
    document = _current_photo(rules=rules, person=person)
    if document is None:
        raise MembershipError("photo_required", f"请上传{rules.photo.label}", fields={"photo": "必填"})
    return document


def _event(
    membership: Membership,
    *,
    action: str,
    from_status: str,
    actor: User | None,
    now: datetime,
    reason: str = "",
    changes: dict | None = None,
) -> None:
    MembershipEvent.objects.create(
        membership=membership,
        action=action,
        from_status=from_status,
        to_status=membership.status,
        actor=actor,
        actor_label=describe_actor(actor) if actor is not None else "系统",
        reason=reason,
        changes=changes or {},
        at=now,
    )
    audit_record(
        actor=actor,
        actor_label=None if actor is not None else "系统",
        action=f"membership.{action}",
        target=membership,
        data={"from": from_status, "to": membership.status, "reason": reason, **(changes or {})},
    )


def _move(membership: Membership, to: str) -> str:
    """Check the transition table and move; returns the status it came from."""
    if to not in MEMBERSHIP_TRANSITIONS[membership.status]:
        raise MembershipError(
            "invalid_transition",
            f"{_name(membership)}当前为「{membership.get_status_display()}」，不能进行此操作",
        )
    previous, membership.status = membership.status, to
    return previous


def _name(membership: Membership) -> str:
    return membership.answers.get("name") or str(membership.person)


def _enabled(rules: Rules) -> MembershipRules:
    if not rules.membership.enabled:
        raise MembershipError("membership_disabled", "本协会未开通个人会员")
    return rules.membership


def membership_apply(
    *,
    rules: Rules,
    person: User,
    answers: dict,
    photo: PhotoUpload | None = None,
    now: datetime | None = None,
) -> Membership:
    """The person's application (入会申请), or their corrected one after a rejection. The photo is a new
    upload, or without one the person's current photo of the rules' key.

    Raises MembershipError: membership_disabled, not_a_person, no_company (the rules need a company's
    recommendation), already_applied, invalid (with `fields`), photo_required, photo_invalid.
    """
    membership_rules = _enabled(rules)
    now = now or timezone.now()
    if person.kind != UserKind.PERSON:
        raise MembershipError("not_a_person", "只有个人用户可以申请入会")
    cleaned = _clean_answers(
        answers=answers, person=person, today=timezone.localdate(now), rules=membership_rules
    )
    profile = PersonProfile.objects.select_related("company").filter(user=person).first()
    company = profile.company if profile is not None else None
    if membership_rules.company_recommendation_required and company is None:
        raise MembershipError("no_company", "个人会员须经所在单位推荐，请先加入您的工作单位")
    if Membership.objects.filter(person=person).exclude(status=MembershipStatus.REJECTED).exists():
        raise MembershipError(
            "already_applied", "您已提交入会申请，信息提交后不能自行修改，如需修改请联系协会"
        )
    photo_document = _photo(rules=membership_rules, person=person, photo=photo)
    with transaction.atomic():
        existing = Membership.objects.select_for_update().filter(person=person).first()
        if existing is None:
            try:
                with transaction.atomic():
                    membership = Membership.objects.create(
                        person=person, company=company, answers=cleaned, photo=photo_document, applied_at=now
                    )
            except IntegrityError as error:  # a concurrent first application won
                raise MembershipError("already_applied", "您已提交入会申请") from error
            _event(membership, action="apply", from_status="", actor=person, now=now)
            return membership
        if existing.status != MembershipStatus.REJECTED:
            raise MembershipError(
                "already_applied", "您已提交入会申请，信息提交后不能自行修改，如需修改请联系协会"
            )
        previous = _move(existing, MembershipStatus.APPLIED)
        changes = {
            name: [existing.answers.get(name, ""), value]
            for name, value in cleaned.items()
            if existing.answers.get(name, "") != value
        }
        existing.answers, existing.photo, existing.company = cleaned, photo_document, company
        existing.applied_at, existing.reason = now, ""
        existing.batch = None
        existing.save(
            update_fields=["status", "answers", "photo", "company", "applied_at", "reason", "batch"]
        )
        _event(existing, action="reapply", from_status=previous, actor=person, now=now, changes=changes)
        return existing


def _company_memberships(*, company: Company, membership_ids: Sequence[int]) -> list[Membership]:
    """The company's memberships by id, locked in id order; any id that is not the company's refuses all."""
    ids = sorted(set(membership_ids))
    if not ids:
        raise MembershipError("nothing_selected", "请选择人员")
    memberships = list(
        Membership.objects.select_for_update()
        .filter(pk__in=ids, company=company, person__profile__company=company)
        .order_by("pk")
    )
    if len(memberships) != len(ids):
        raise MembershipError("not_found", "所选人员不属于本单位或不存在")
    return memberships


def memberships_recommend(
    *, rules: Rules, company: Company, actor: User, membership_ids: Sequence[int], now: datetime | None = None
) -> list[Membership]:
    """批量推荐: people who applied become 企业推荐（新会员）; expired members become 企业推荐（续期）
    where the rules let companies recommend renewals. All or nothing.

    Raises MembershipError: membership_disabled, nothing_selected, not_found (another company's person),
    already_recommended, invalid_transition.
    """
    membership_rules = _enabled(rules)
    now = now or timezone.now()
    with transaction.atomic():
        memberships = _company_memberships(company=company, membership_ids=membership_ids)
        for membership in memberships:
            if membership.status in (MembershipStatus.RECOMMENDED_NEW, MembershipStatus.RECOMMENDED_RENEWAL):
                raise MembershipError("already_recommended", f"{_name(membership)}已推荐，请勿重复推荐")
            if membership.status in (MembershipStatus.APPLIED, MembershipStatus.ROLLED_BACK):
                to, action = MembershipStatus.RECOMMENDED_NEW, "recommend"
            elif membership.status == MembershipStatus.EXPIRED and membership_rules.renewal_by_company:
                to, action = MembershipStatus.RECOMMENDED_RENEWAL, "recommend_renewal"
            else:
                raise MembershipError(
                    "invalid_transition",
                    f"{_name(membership)}当前为「{membership.get_status_display()}」，不能推荐",
                )
            previous = _move(membership, to)
            membership.renewal = to == MembershipStatus.RECOMMENDED_RENEWAL
            membership.recommended_at, membership.recommended_by, membership.batch = now, actor, None
            membership.save(update_fields=["status", "renewal", "recommended_at", "recommended_by", "batch"])
            _event(membership, action=action, from_status=previous, actor=actor, now=now)
    return memberships


def membership_roll_back(
    *, rules: Rules, company: Company, actor: User, membership_id: int, now: datetime | None = None
) -> Membership:
    """回退 a recommendation the association has not decided yet: a new member goes back to the company's
    applicants (已回退), a renewal back to 已过期. Confirmed batches keep their record of what was confirmed.

    Raises MembershipError: membership_disabled, roll_back_not_allowed, not_found, already_decided.
    """
    membership_rules = _enabled(rules)
    if not membership_rules.company_may_roll_back:
        raise MembershipError("roll_back_not_allowed", "本协会不允许回退推荐")
    now = now or timezone.now()
    with transaction.atomic():
        (membership,) = _company_memberships(company=company, membership_ids=[membership_id])
        if membership.status == MembershipStatus.RECOMMENDED_NEW:
            to = MembershipStatus.ROLLED_BACK
        elif membership.status == MembershipStatus.RECOMMENDED_RENEWAL:
            to = MembershipStatus.EXPIRED
        else:
            raise MembershipError(
                "already_decided",
                f"{_name(membership)}当前为「{membership.get_status_display()}」，协会已处理或尚未推荐，不能回退",
            )
        previous = _move(membership, to)
        membership.renewal, membership.batch = False, None
        membership.save(update_fields=["status", "renewal", "batch"])
        _event(membership, action="roll_back", from_status=previous, actor=actor, now=now)
    return membership


def _batch_entry(membership: Membership) -> dict:
    answers = membership.answers
    return {
        "membership": membership.pk,
        "kind": "续期" if membership.status == MembershipStatus.RECOMMENDED_RENEWAL else "新会员",
        **{name: answers.get(name, "") for name in ("name", "gender", "id_number", "education")},
        **{name: answers.get(name, "") for name in ("professional_title", "position", "phone")},
        "recommended_at": timezone.localtime(membership.recommended_at).isoformat(timespec="seconds")
        if membership.recommended_at
        else "",
    }


def batch_content_sha256(*, company: Company, number: str, entries: list[dict]) -> str:
    """sha256 of the batch's canonical JSON: what the operator confirmed, checkable later."""
    content = {"company": company.name, "uscc": company.uscc, "number": number, "entries": entries}
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def recommendation_confirm(
    *, rules: Rules, company: Company, actor: User, now: datetime | None = None
) -> RecommendationBatch:
    """电子推荐确认: the company's operator confirms every recommendation not yet confirmed, in one batch.

    The batch keeps the entries, their sha256, the operator and an A4-landscape PDF summary; with
    `electronic_recommendation` the association decides only confirmed recommendations.

    Raises MembershipError: membership_disabled, not_electronic, nothing_to_confirm.
    """
    membership_rules = _enabled(rules)
    if not membership_rules.electronic_recommendation:
        raise MembershipError("not_electronic", "本协会未开通电子推荐")
    now = now or timezone.now()
    with transaction.atomic():
        Company.objects.select_for_update().filter(pk=company.pk).first()  # one confirmation at a time
        memberships = list(
            Membership.objects.select_for_update()
            .filter(
                company=company,
                person__profile__company=company,
                batch__isnull=True,
                status__in=(MembershipStatus.RECOMMENDED_NEW, MembershipStatus.RECOMMENDED_RENEWAL),
            )
            .order_by("recommended_at", "pk")
        )
        if not memberships:
            raise MembershipError("nothing_to_confirm", "没有待确认的推荐人员")
        number = f"TJ{timezone.localtime(now):%Y%m%d}{company.pk:05d}{secrets.randbelow(10**4):04d}"
        entries = [_batch_entry(membership) for membership in memberships]
        digest = batch_content_sha256(company=company, number=number, entries=entries)
        operator = actor.name or actor.username
        pdf = render_pdf(
            template_name="membership/print/recommendation.html",
            context={
                "association": rules.association,
                "company": company,
                "number": number,
                "entries": entries,
                "sha256": digest,
                "operator": operator,
                "confirmed_at": timezone.localtime(now),
            },
        )
        batch = RecommendationBatch.objects.create(
            company=company,
            number=number,
            entries=entries,
            content_sha256=digest,
            confirmed_by=actor,
            confirmed_by_name=operator,
            confirmed_at=now,
            pdf=pdf,
        )
        Membership.objects.filter(pk__in=[membership.pk for membership in memberships]).update(batch=batch)
        for membership in memberships:
            membership.batch = batch
            _event(membership, action="confirm", from_status=membership.status, actor=actor, now=now)
        audit_record(
            actor=actor,
            action="membership.batch_confirm",
            target=batch,
            data={"sha256": digest, "count": len(entries)},
        )
    return batch


def memberships_decide(
    *,
    rules: Rules,
    actor: User,
    membership_ids: Sequence[int],
    approve: bool,
    reason: str = "",
    now: datetime | None = None,
) -> list[Membership]:
    """The association approves (→ 待缴费, with the period's fee due) or rejects with a reason. All or nothing.

    Raises MembershipError: membership_disabled, nothing_selected, not_found, reason_required,
    not_recommended (the rules need the company's recommendation), not_confirmed (the company has not
    confirmed it electronically), invalid_transition (already decided, never applied …).
    """
    membership_rules = _enabled(rules)
    now = now or timezone.now()
    reason = reason.strip()[:200]
    if not approve and not reason:
        raise MembershipError("reason_required", "请填写不通过的原因")
    ids = sorted(set(membership_ids))
    if not ids:
        raise MembershipError("nothing_selected", "请选择人员")
    with transaction.atomic():
        memberships = list(Membership.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
        if len(memberships) != len(ids):
            raise MembershipError("not_found", "所选会员申请不存在")
        years, amount = membership_fee_amount(rules=membership_rules)
        for membership in memberships:
            recommended = membership.status in (
                MembershipStatus.RECOMMENDED_NEW,
                MembershipStatus.RECOMMENDED_RENEWAL,
            )
            if membership_rules.company_recommendation_required and not recommended:
                raise MembershipError(
                    "not_recommended",
                    f"{_name(membership)}当前为「{membership.get_status_display()}」，须经单位推荐后才能审批",
                )
            if membership_rules.electronic_recommendation and recommended and membership.batch_id is None:
                raise MembershipError("not_confirmed", f"{_name(membership)}的推荐尚未经单位电子确认")
            if not membership_rules.company_recommendation_required and membership.status not in (
                MembershipStatus.APPLIED,
                MembershipStatus.EXPIRED,
            ):
                raise MembershipError(
                    "invalid_transition",
                    f"{_name(membership)}当前为「{membership.get_status_display()}」，不能审批",
                )
            previous = _move(membership, MembershipStatus.APPROVED if approve else MembershipStatus.REJECTED)
            membership.renewal = membership.renewal or previous == MembershipStatus.EXPIRED
            membership.decided_at, membership.decided_by = now, actor
            membership.reason = "" if approve else reason
            membership.save(update_fields=["status", "renewal", "decided_at", "decided_by", "reason"])
            if approve:
                MembershipFee.objects.create(
                    membership=membership,
                    years=years,
                    fee_per_year_fen=membership_rules.fee_per_year_fen,
                    amount_fen=amount,
                    renewal=membership.renewal,
                    created_at=now,
                )
            _event(
                membership,
                action="approve" if approve else "reject",
                from_status=previous,
                actor=actor,
                now=now,
                reason=membership.reason,
            )
    return memberships


def membership_staff_edit(
    *, membership_id: int, actor: User, answers: dict, now: datetime | None = None
) -> Membership:
    """Association staff correct a submitted application; every change is kept as an audited event.

    Raises MembershipError: not_found, invalid (an empty required field), unchanged.
    """
    now = now or timezone.now()
    with transaction.atomic():
        membership = Membership.objects.select_for_update().filter(pk=membership_id).first()
        if membership is None:
            raise MembershipError("not_found", "会员不存在")
        changes = {}
        for name, label, required in APPLICATION_FIELDS:
            if name not in STAFF_EDITABLE or name not in answers:
                continue
            value = str(answers[name] or "").strip()[:200]
            if required and not value:
                raise MembershipError("invalid", f"请填写{label}", fields={name: "必填"})
            if membership.answers.get(name, "") != value:
                changes[name] = [membership.answers.get(name, ""), value]
        if not changes:
            raise MembershipError("unchanged", "没有修改")
        membership.answers = {**membership.answers, **{name: new for name, (_old, new) in changes.items()}}
        membership.save(update_fields=["answers"])
        _event(
            membership,
            action="staff_edit",
            from_status=membership.status,
            actor=actor,
            now=now,
            changes=changes,
        )
    return membership


def membership_fees_mark_paid(
    *, fee_ids: Sequence[int], actor: User | None, now: datetime | None = None
) -> None:
    """Billing calls this when the order holding the fees is paid: each membership becomes 正式会员 from
    the payment date to the end of the paid period. No-op for fees already paid (the order transition is
    idempotent too)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    fees = list(
        MembershipFee.objects.select_for_update()
        .select_related("membership")
        .filter(pk__in=list(fee_ids), status=FeeStatus.DUE)
        .order_by("membership_id")
    )
    for fee in fees:
        membership = Membership.objects.select_for_update().get(pk=fee.membership_id)
        starts_on, ends_on = membership_period(paid_on=today, years=fee.years)
        fee.status, fee.paid_at = FeeStatus.PAID, now
        fee.period_starts_on, fee.period_ends_on = starts_on, ends_on
        fee.save(update_fields=["status", "paid_at", "period_starts_on", "period_ends_on"])
        if membership.status != MembershipStatus.APPROVED:
            # Paid for a membership that is no longer waiting for it: keep the money visible to finance.
            _event(
                membership, action="fee_paid_unexpected", from_status=membership.status, actor=actor, now=now
            )
            continue
        previous = _move(membership, MembershipStatus.ACTIVE)
        membership.starts_on, membership.ends_on = starts_on, ends_on
        membership.save(update_fields=["status", "starts_on", "ends_on"])
        _membership_certificates_issue(membership=membership, fee=fee, actor=actor, now=now)
        _event(
            membership,
            action="activate",
            from_status=previous,
            actor=actor,
            now=now,
            changes={"starts_on": starts_on.isoformat(), "ends_on": ends_on.isoformat(), "fee": fee.pk},
        )


def _membership_certificates_issue(
    *, membership: Membership, fee: MembershipFee, actor: User | None, now
) -> None:
    """The rules' membership certificates (个人会员证, condition after_membership_payment) for the period just
    paid: one per period, valid to the membership's end date."""
    rules = rules_current()
    for kind in rules.certificates.kinds:
        if kind.condition == CertificateCondition.AFTER_MEMBERSHIP_PAYMENT:
            certificate_issue(
                rules=rules,
                kind_code=kind.code,
                holder=membership.person,
                actor=actor,
                now=now,
                subject=f"membership:{fee.pk}",
                valid_until=membership.ends_on,
            )


def memberships_expire(*, now: datetime | None = None) -> int:
    """Celery beat: memberships whose period has ended become 已过期 (and can be recommended for renewal)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    expired = 0
    ids = list(
        Membership.objects.filter(status=MembershipStatus.ACTIVE, ends_on__lt=today).values_list(
            "pk", flat=True
        )
    )
    for membership_id in ids:
        with transaction.atomic():
            membership = (
                Membership.objects.select_for_update()
                .filter(pk=membership_id, status=MembershipStatus.ACTIVE, ends_on__lt=today)
                .first()
            )
            if membership is None:
                continue  # renewed or expired meanwhile
            previous = _move(membership, MembershipStatus.EXPIRED)
            membership.renewal = False
            membership.save(update_fields=["status", "renewal"])
            _event(membership, action="expire", from_status=previous, actor=None, now=now)
            expired += 1
    return expired


def membership_reminders_send(*, rules: Rules, now: datetime | None = None) -> int:
    """Celery beat: remind members (and their company's operators) `reminder_days_before_expiry` days before
    the end date, once per day count and period, through the site's messages (and e-mail)."""
    if not rules.membership.enabled or not rules.membership.reminder_days_before_expiry:
        return 0
    now = now or timezone.now()
    today = timezone.localdate(now)
    sent = 0
    for days in sorted(set(rules.membership.reminder_days_before_expiry)):
        ends_on = today + timedelta(days=days)
        for membership in Membership.objects.filter(
            status=MembershipStatus.ACTIVE, ends_on=ends_on
        ).select_related("person"):
            with transaction.atomic():
                _reminder, created = ExpiryReminder.objects.get_or_create(
                    membership=membership, ends_on=ends_on, days_before=days, defaults={"sent_at": now}
                )
                if not created:
                    continue
                _remind(rules=rules, membership=membership, days=days)
                sent += 1
    return sent


def _remind(*, rules: Rules, membership: Membership, days: int) -> None:
    title = "会员即将到期提醒"
    body = (
        f"{_name(membership)}的{rules.association.short_name or rules.association.name}个人会员将于"
        f"{membership.ends_on:%Y年%m月%d日}到期（还有 {days} 天）。到期后请由所在单位推荐续期。"
    )
    message_send(recipient=membership.person, title=title, body=body, link="/membership/")
    if membership.company_id:
        for operator in User.objects.filter(
            kind=UserKind.COMPANY, company_id=membership.company_id, is_active=True
        ):
            message_send(recipient=operator, title=title, body=body, link="/company/membership/?tab=active")
