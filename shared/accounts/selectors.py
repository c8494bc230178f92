"""Reading accounts data by client-supplied ids, always filtered by who owns it.

Invoice titles and mailing addresses belong to a person (`owner`) or, for a company operator, to the
operator's company (`company`): every operator of a company shares its titles and addresses.
"""

from django.db.models import Q, QuerySet

from shared.accounts.models import InvoiceTitle, MailingAddress, PersonProfile, User, UserKind


def owner_filter(user: User) -> Q:
    """The rows `user` owns: its company's for a company operator, else its own."""
    if user.kind == UserKind.COMPANY and user.company_id is not None:
        return Q(company_id=user.company_id)
    return Q(owner_id=user.pk)


def invoice_titles_for_owner(*, user: User) -> QuerySet[InvoiceTitle]:
    return InvoiceTitle.objects.filter(owner_filter(user)).order_by("-is_default", "id")


def invoice_title_get_for_owner(*, title_id: int, user: User) -> InvoiceTitle:
    """Raises InvoiceTitle.DoesNotExist when the title does not exist or belongs to someone else."""
    return invoice_titles_for_owner(user=user).get(pk=title_id)


def addresses_for_owner(*, user: User) -> QuerySet[MailingAddress]:
    return MailingAddress.objects.filter(owner_filter(user)).order_by("-is_default", "id")


def address_get_for_owner(*, address_id: int, user: User) -> MailingAddress:
    """Raises MailingAddress.DoesNotExist when the address does not exist or belongs to someone else."""
    return addresses_for_owner(user=user).get(pk=address_id)


def profile_get_for_user(*, user: User) -> PersonProfile:
    """The person's own profile. Raises PersonProfile.DoesNotExist for accounts without one."""
    return PersonProfile.objects.select_related("company").get(user_id=user.pk)


def person_get_by_wechat_openid(*, openid: str) -> User | None:
    """The person bound to this mini-program openid in the current tenant, if any."""
    if not openid:
        return None
    return User.objects.filter(wechat_openid=openid, kind=UserKind.PERSON).select_related("company").first()


def profile_editable_by(*, profile_id: int, user) -> "PersonProfile":
    """A profile `user` may edit: their own, or (company operator) one of their company's people.

    Raises PersonProfile.DoesNotExist otherwise, so the view answers 404.
    """
    from shared.accounts.models import PersonProfile, UserKind

    profiles = PersonProfile.objects.select_related("user")
    if user.kind == UserKind.COMPANY and user.company_id:
        return profiles.get(Q(pk=profile_id) & (Q(company_id=user.company_id) | Q(user=user)))
    return profiles.get(pk=profile_id, user=user)
