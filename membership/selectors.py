"""Reads scoped to their owner: a company sees only requests addressed to it."""

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from membership.models import (
    IN_GOOD_STANDING,
    FeeStatus,
    JoinRequest,
    JoinRequestStatus,
    Membership,
    MembershipEvent,
    MembershipFee,
    MembershipStatus,
    RecommendationBatch,
)
from shared.accounts.models import Company, CompanyStatus, PersonProfile, User, UserKind
from tenant_configs.schema import Rules


def company_search(*, query: str, limit: int = 20) -> list[Company]:
    """Companies a person may ask to join, by (part of) the name or the exact USCC."""
    query = query.strip()
    if len(query) < 2:
        return []
    return list(
        Company.objects.filter(status=CompanyStatus.ACTIVE)
        .filter(Q(name__icontains=query) | Q(uscc=query.upper()))
        .order_by("name")[:limit]
    )


def join_requests_for_company(
    *, company: Company, status: str | None = JoinRequestStatus.PENDING
) -> QuerySet:
    requests = JoinRequest.objects.filter(company=company).select_related("person", "person__profile")
    return requests.filter(status=status) if status else requests


def join_requests_for_person(*, person: User) -> QuerySet:
    return JoinRequest.objects.filter(person=person).select_related("company")


def company_people(*, company: Company) -> QuerySet:
    return PersonProfile.objects.filter(company=company).select_related("user").order_by("name")


def member_user_ids() -> QuerySet:
    """Ids of the people counted as association members (in good standing), for audiences and checks."""
    return Membership.objects.filter(status__in=IN_GOOD_STANDING).values("person_id")


# ---------------------------------------------------------------------------------------------------------
# association membership
# ---------------------------------------------------------------------------------------------------------

# The company's tabs (the seed's five, plus the steps our flow adds: awaiting the fee, not approved).
COMPANY_TABS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("applied", (MembershipStatus.APPLIED, MembershipStatus.ROLLED_BACK)),
    ("recommended_new", (MembershipStatus.RECOMMENDED_NEW,)),
    ("recommended_renewal", (MembershipStatus.RECOMMENDED_RENEWAL,)),
    ("approved", (MembershipStatus.APPROVED,)),
    ("active", (MembershipStatus.ACTIVE,)),
    ("expired", (MembershipStatus.EXPIRED,)),
    ("rejected", (MembershipStatus.REJECTED,)),
)
TAB_STATUSES = dict(COMPANY_TABS)


def status_label(*, rules: Rules, status: str) -> str:
    """The tenant's word for a status (rules' `membership.status_labels`), else the built-in one."""
    label = getattr(rules.membership.status_labels, status, None)
    return label or MembershipStatus(status).label


def tab_counts(*, memberships: QuerySet) -> dict[str, int]:
    grouped = memberships.order_by().values("status").annotate(count=Count("pk"))
    by_status = {row["status"]: row["count"] for row in grouped}
    return {tab: sum(by_status.get(status, 0) for status in statuses) for tab, statuses in COMPANY_TABS}


def memberships_for_company(*, company: Company) -> QuerySet[Membership]:
    """The company's people's memberships (people who have since left the company are not its to see)."""
    return (
        Membership.objects.filter(company=company, person__profile__company=company)
        .select_related("person", "batch")
        .order_by("-applied_at", "-pk")
    )


def memberships_for_staff(*, query: str = "") -> QuerySet[Membership]:
    memberships = Membership.objects.select_related("person", "company", "batch").order_by(
        "-applied_at", "-pk"
    )
    query = query.strip()
    if query:
        memberships = memberships.filter(
            Q(answers__name__icontains=query)
            | Q(answers__id_number=query.upper())
            | Q(company__name__icontains=query)
        )
    return memberships


def memberships_in_tab(*, memberships: QuerySet, tab: str) -> QuerySet[Membership]:
    return memberships.filter(status__in=TAB_STATUSES.get(tab, TAB_STATUSES["applied"]))


def membership_get_for_company(*, company: Company, membership_id: int) -> Membership:
    return memberships_for_company(company=company).get(pk=membership_id)


def membership_for_person(*, person: User) -> Membership | None:
    return Membership.objects.select_related("company", "batch").filter(person=person).first()


def membership_events(*, membership: Membership) -> QuerySet[MembershipEvent]:
    return membership.events.all()


def batches_for_company(*, company: Company) -> QuerySet[RecommendationBatch]:
    return RecommendationBatch.objects.filter(company=company).defer("pdf")


def batch_get_for_company(*, company: Company, batch_id: int) -> RecommendationBatch:
    return RecommendationBatch.objects.filter(company=company).get(pk=batch_id)


def unconfirmed_count(*, company: Company) -> int:
    return (
        memberships_for_company(company=company)
        .filter(
            batch__isnull=True,
            status__in=(MembershipStatus.RECOMMENDED_NEW, MembershipStatus.RECOMMENDED_RENEWAL),
        )
        .count()
    )


def fees_payable(*, payer: User) -> QuerySet[MembershipFee]:
    """Fees due for approved memberships that the payer may pay and that are in no live order: a company
    pays for its people, a person their own."""
    fees = MembershipFee.objects.filter(
        status=FeeStatus.DUE, membership__status=MembershipStatus.APPROVED
    ).exclude(order_items__live=True)
    if payer.kind == UserKind.COMPANY and payer.company_id is not None:
        fees = fees.filter(membership__company_id=payer.company_id)
    elif payer.kind == UserKind.PERSON:
        fees = fees.filter(membership__person=payer)
    else:
        return MembershipFee.objects.none()
    return fees.select_related("membership").order_by("membership__answers__name", "pk")


def fees_for_person(*, person: User) -> QuerySet[MembershipFee]:
    return MembershipFee.objects.filter(membership__person=person).order_by("-created_at", "-pk")


EXPORT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "姓名"),
    ("gender", "性别"),
    ("id_number", "身份证号"),
    ("education", "学历"),
    ("professional_title", "职称"),
    ("specialty", "从事专业"),
    ("position", "职务"),
    ("phone", "联系电话"),
    ("qq", "QQ号"),
    ("address", "通讯地址"),
)


def export_rows(*, rules: Rules, memberships: QuerySet) -> tuple[list[str], list[list[object]]]:
    """Header and rows of a members export (Excel): the application, company, status and period."""
    header = [label for _name, label in EXPORT_COLUMNS] + [
        "单位",
        "状态",
        "会员起始日",
        "会员到期日",
        "推荐批号",
    ]
    rows = []
    for membership in memberships.select_related("company", "batch"):
        answers = membership.answers
        rows.append(
            [answers.get(name, "") for name, _label in EXPORT_COLUMNS]
            + [
                membership.company.name if membership.company_id else "",
                status_label(rules=rules, status=membership.status),
                membership.starts_on,
                membership.ends_on,
                membership.batch.number if membership.batch_id else "",
            ]
        )
    return header, rows


BATCH_COLUMNS: tuple[tuple[str, str], ...] = (
    ("kind", "类别"),
    ("name", "姓名"),
    ("gender", "性别"),
    ("id_number", "身份证号"),
    ("education", "学历"),
    ("professional_title", "职称"),
    ("position", "职务"),
    ("phone", "联系电话"),
    ("recommended_at", "推荐时间"),
)


def batch_rows(*, batch: RecommendationBatch) -> tuple[list[str], list[list[object]]]:
    """A confirmed batch's summary as a sheet, with its hash and operator below the people."""
    header = ["序号"] + [label for _name, label in BATCH_COLUMNS]
    rows: list[list[object]] = [
        [index] + [entry.get(name, "") for name, _label in BATCH_COLUMNS]
        for index, entry in enumerate(batch.entries, start=1)
    ]
    rows.append([])
    rows.append(["推荐批号", batch.number])
    rows.append(
        ["电子确认", f"{batch.confirmed_by_name} {timezone.localtime(batch.confirmed_at):%Y-%m-%d %H:%M}"]
    )
    rows.append(["内容校验码（SHA-256）", batch.content_sha256])
    return header, rows
