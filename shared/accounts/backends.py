"""Log in with whatever identifier the association's rules allow.

A person may type a phone number (phone_password), an ID number (id_number_password) or their login
name; a company operator a USCC (uscc_password), the company name (company_name_password), a phone
number or their login name. Identifiers are normalised first (full-width digits, lowercase x, +86).
"""

from django.contrib.auth.backends import ModelBackend

from shared.accounts.models import Company, CompanyStatus, User, UserKind
from shared.validation import IdentifierError, normalise_id_number, normalise_mobile, normalise_uscc
from tenant_configs.schema import CompanyLoginMethod, PersonLoginMethod, Rules


def _normalised(function, value: str) -> str | None:
    try:
        return function(value)
    except IdentifierError:
        return None


def candidate_users(rules: Rules, identifier: str) -> list[User]:
    """Accounts the identifier may name under these rules, most specific first."""
    identifier = identifier.strip()
    if not identifier:
        return []
    identity = rules.identity
    person_methods, company_methods = set(identity.person_login_methods), set(identity.company_login_methods)
    found: list[User] = list(User.objects.filter(username=identifier))
    phone = _normalised(normalise_mobile, identifier)
    if phone and (
        PersonLoginMethod.PHONE_PASSWORD in person_methods
        or CompanyLoginMethod.PHONE_PASSWORD in company_methods
    ):
        kinds = [UserKind.STAFF, UserKind.INSTITUTION]
        if PersonLoginMethod.PHONE_PASSWORD in person_methods:
            kinds.append(UserKind.PERSON)
        if CompanyLoginMethod.PHONE_PASSWORD in company_methods:
            kinds.append(UserKind.COMPANY)
        found += User.objects.filter(phone=phone, kind__in=kinds)
    id_number = _normalised(normalise_id_number, identifier)
    if id_number and PersonLoginMethod.ID_NUMBER_PASSWORD in person_methods:
        found += User.objects.filter(id_number=id_number, kind=UserKind.PERSON)
    company = None
    uscc = _normalised(normalise_uscc, identifier)
    if uscc and CompanyLoginMethod.USCC_PASSWORD in company_methods:
        company = Company.objects.filter(uscc=uscc).first()
    if company is None and CompanyLoginMethod.COMPANY_NAME_PASSWORD in company_methods:
        company = Company.objects.filter(name=identifier).first()
    if company is not None:
        # The company's own login (USCC or name) is its first operator account.
        operator = company.operators.filter(kind=UserKind.COMPANY).order_by("id").first()
        if operator is not None:
            found.append(operator)
    unique: dict[int, User] = {}
    for user in found:
        unique.setdefault(user.pk, user)
    return list(unique.values())


class RulesLoginBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None or not username or not password:
            return None
        rules = request_rules(request)
        if rules is None:  # the public host: operators log in with their login name only
            return super().authenticate(request, username=username, password=password, **kwargs)
        for user in candidate_users(rules, username):
            if user.check_password(password) and self.user_can_authenticate(user):
                return user
        User().set_password(password)  # same work on a miss, so timing does not reveal accounts
        return None

    def user_can_authenticate(self, user) -> bool:
        if not super().user_can_authenticate(user):
            return False
        if user.kind == UserKind.COMPANY and user.company_id and user.company.status != CompanyStatus.ACTIVE:
            return False
        return True


def request_rules(request) -> Rules | None:
    from django_tenants.utils import get_public_schema_name

    from tenant_configs.selectors import RulesNotPublished, rules_current

    tenant = getattr(request, "tenant", None)
    if tenant is None or tenant.schema_name == get_public_schema_name():
        return None
    try:
        return rules_current()
    except RulesNotPublished:
        return None
