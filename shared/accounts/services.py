"""Account services: invitations (the only way staff and issued company accounts get a password)."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from shared.accounts.models import Company, CompanyStatus, Invitation, StaffRole, User, UserKind
from shared.errors import CodedError
from shared.services import audit_record

INVITATION_VALID_FOR = timedelta(days=14)


class InvitationError(CodedError):
    pass


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    token: str  # shown once; only its hash is stored


def invitation_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def invitation_create(
    *,
    kind: str,
    staff_roles: list[str] | None = None,
    name: str = "",
    email: str = "",
    phone: str = "",
    company: Company | None = None,
    created_by_label: str,
    valid_for: timedelta = INVITATION_VALID_FOR,
) -> IssuedInvitation:
    """Create an invitation in the current schema and return it with its one-time token."""
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        token_sha256=invitation_token_hash(token),
        kind=kind,
        staff_roles=list(staff_roles or []),
        name=name,
        email=email,
        phone=phone,
        company=company,
        created_by_label=created_by_label,
        expires_at=timezone.now() + valid_for,
    )
    audit_record(
        actor=None,
        actor_label=created_by_label,
        action="invitation.create",
        target=invitation,
        data={"kind": kind, "staff_roles": list(staff_roles or []), "name": name},
    )
    return IssuedInvitation(invitation=invitation, token=token)


def invitation_get_usable(*, token: str) -> Invitation | None:
    invitation = Invitation.objects.filter(token_sha256=invitation_token_hash(token)).first()
    if invitation is None or not invitation.is_usable():
        return None
    return invitation


def invitation_accept(*, token: str, username: str, password: str, name: str = "") -> User:
    """Create the invited account with a password of the invitee's choosing.

    Raises InvitationError("invalid") for an unknown, used or expired token, ("username_taken")
    when the login name exists, and ("weak_password") when Django's validators refuse the password.
    """
    username = username.strip()
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update().filter(token_sha256=invitation_token_hash(token)).first()
        )
        if invitation is None or not invitation.is_usable():
            raise InvitationError("invalid", "邀请链接无效或已过期")
        if not username:
            raise InvitationError("username_required", "请填写登录名")
        if User.objects.filter(username__iexact=username).exists():
            raise InvitationError("username_taken", "该登录名已被使用")
        candidate = User(username=username, name=name or invitation.name, email=invitation.email)
        try:
            validate_password(password, user=candidate)
        except ValidationError as error:
            raise InvitationError("weak_password", "；".join(error.messages)) from error
        try:
            with transaction.atomic():
                user = User.objects.create_user(
                    username,
                    password,
                    name=name or invitation.name,
                    email=invitation.email,
                    phone=invitation.phone,
                    kind=invitation.kind,
                    company=invitation.company,
                    staff_roles=invitation.staff_roles,
                    is_staff=invitation.kind == UserKind.STAFF,
                    # An association admin administers everything in their own schema (and only there).
                    is_superuser=invitation.kind == UserKind.STAFF
                    and StaffRole.ADMIN in invitation.staff_roles,
                )
        except IntegrityError as error:
            raise InvitationError("username_taken", "该登录名或手机号已被使用") from error
        if invitation.company is not None and invitation.company.status == CompanyStatus.INVITED:
            invitation.company.status = CompanyStatus.ACTIVE
            invitation.company.save(update_fields=["status"])
        invitation.accepted_at = timezone.now()
        invitation.accepted_user = user
        invitation.save(update_fields=["accepted_at", "accepted_user"])
        audit_record(actor=user, action="invitation.accept", target=invitation, data={"username": username})
    return user


def user_create(
    *,
    username: str,
    password: str,
    kind: str,
    name: str = "",
    staff_roles: list[str] | None = None,
    actor_label: str = "system",
) -> User:
    """Create an account in the current schema directly (operators, demo data, management commands).

    People normally get accounts by registering or through an invitation; this is for the platform
    itself. Raises InvitationError("username_taken") when the login name exists.
    """
    with transaction.atomic():
        if User.objects.filter(username__iexact=username).exists():
            raise InvitationError("username_taken", "该登录名已被使用")
        roles = list(staff_roles or [])
        user = User.objects.create_user(
            username,
            password,
            name=name,
            kind=kind,
            staff_roles=roles,
            is_staff=kind in (UserKind.STAFF, UserKind.OPERATOR),
            is_superuser=kind == UserKind.OPERATOR or (kind == UserKind.STAFF and StaffRole.ADMIN in roles),
        )
        audit_record(
            actor=None,
            actor_label=actor_label,
            action="user.create",
            target=user,
            data={"username": username, "kind": kind, "staff_roles": roles},
        )
    return user
