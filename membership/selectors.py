"""Reads scoped to their owner: a company sees only requests addressed to it."""

from django.db.models import Q, QuerySet

from membership.models import JoinRequest, JoinRequestStatus
from shared.accounts.models import Company, CompanyStatus, PersonProfile, User


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
