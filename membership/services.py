"""Join requests: a person asks to join a company; the company's operator approves or rejects."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from membership.models import JOIN_REQUEST_TRANSITIONS, JoinRequest, JoinRequestStatus
from shared.accounts.models import Company, PersonProfile, User, UserKind
from shared.errors import CodedError
from shared.services import audit_record


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
