"""A company's roster (单位人员管理): import many people from the Excel template, or bind one who exists.

Imported people get an account with no usable password: they activate it themselves (SMS password
reset on their own phone), so no shared initial password ever exists.
"""

from dataclasses import dataclass, field

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from shared.accounts.models import Company, PersonProfile, User, UserKind
from shared.db import bulk_insert_copy
from shared.errors import CodedError
from shared.excel.roster import RosterFileError, RosterRow, RowError, check_roster_values, parse_roster
from shared.services import audit_record
from shared.validation import IdentifierError, normalise_id_number
from tenant_configs.schema import PersonLoginMethod, Rules

USER_FIELDS = (
    "username",
    "password",
    "name",
    "phone",
    "email",
    "id_number",
    "wechat_openid",
    "institution_code",
    "kind",
    "staff_roles",
    "is_active",
    "is_staff",
    "is_superuser",
    "date_joined",
)
PROFILE_FIELDS = (
    "user",
    "name",
    "gender",
    "id_type",
    "id_number",
    "phone",
    "email",
    "address",
    "company",
    "company_name",
    "birth_date",
    "education",
    "ethnicity",
    "political_status",
    "work_start_date",
    "professional_title",
    "specialty",
    "position",
    "academician_or_master",
    "postcode",
    "remark",
    "qq",
    "submitted_at",
    "created_at",
)


class RosterError(CodedError):
    pass


@dataclass
class RosterImportResult:
    imported: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return not self.errors


def _existing_account_errors(rows: list[RosterRow]) -> list[RowError]:
    """Rows whose ID number or phone already has an account: the seed's 存在账号, to be bound instead."""
    ids = {row.id_number for row in rows}
    phones = {row.phone for row in rows if row.phone}
    taken_ids = set(User.objects.filter(id_number__in=ids).values_list("id_number", flat=True))
    taken_ids |= set(PersonProfile.objects.filter(id_number__in=ids).values_list("id_number", flat=True))
    taken_phones = set(User.objects.filter(phone__in=phones).values_list("phone", flat=True))
    errors = []
    for row in rows:
        if row.id_number in taken_ids:
            errors.append(
                RowError(
                    row.row_number,
                    "身份证号",
                    "account_exists",
                    f"第 {row.row_number} 行「身份证号」：存在账号，请从表中删除该行后用“绑定已注册学员”添加",
                )
            )
        elif row.phone in taken_phones:
            errors.append(
                RowError(
                    row.row_number,
                    "手机号",
                    "phone_taken",
                    f"第 {row.row_number} 行「手机号」：该手机号已被其他账号使用",
                )
            )
    return errors


def roster_import(*, rules: Rules, company: Company, actor: User, data: bytes) -> RosterImportResult:
    """Import the filled-in template for `company`. All or nothing: any bad row imports no row.

    Raises RosterFileError when the file as a whole is unreadable (not xlsx, too large, wrong header).
    """
    return _roster_create(rules=rules, company=company, actor=actor, parsed=parse_roster(data))


def roster_add_person(
    *, rules: Rules, company: Company, actor: User, values: dict[str, object]
) -> RosterImportResult:
    """Add one person typed into the company's form (单独添加学员), checked exactly like an imported row."""
    return _roster_create(rules=rules, company=company, actor=actor, parsed=check_roster_values(values))


def _roster_create(*, rules: Rules, company: Company, actor: User, parsed) -> RosterImportResult:
    result = RosterImportResult(errors=list(parsed.errors))
    result.errors += _existing_account_errors(parsed.rows)
    if result.errors:
        result.errors.sort(key=lambda error: error.row_number)
        return result
    by_id_number = PersonLoginMethod.ID_NUMBER_PASSWORD in rules.identity.person_login_methods
    unusable = make_password(None)
    now = timezone.now()
    with transaction.atomic():
        users = [
            User(
                username=row.id_number if by_id_number or not row.phone else row.phone,
                password=unusable,
                name=row.name,
                phone=row.phone,
                email=row.email,
                id_number=row.id_number,
                kind=UserKind.PERSON,
                date_joined=now,
            )
            for row in parsed.rows
        ]
        bulk_insert_copy(User, users, fields=USER_FIELDS)
        profiles = [_profile(user, row, company, now) for user, row in zip(users, parsed.rows, strict=True)]
        bulk_insert_copy(PersonProfile, profiles, fields=PROFILE_FIELDS)
        audit_record(actor=actor, action="roster.import", target=company, data={"rows": len(users)})
    result.imported = len(users)
    return result


def _profile(user: User, row: RosterRow, company: Company, now) -> PersonProfile:
    return PersonProfile(
        user=user,
        name=row.name,
        gender=row.gender,
        id_type=row.id_type,
        id_number=row.id_number,
        phone=row.phone,
        email=row.email,
        address=row.address,
        company=company,
        company_name=company.name,
        birth_date=row.birth_date,
        education=row.education,
        ethnicity=row.ethnicity,
        political_status=row.political_status,
        work_start_date=row.work_start_date,
        professional_title=row.title,
        specialty=row.specialty,
        position=row.position,
        academician_or_master=row.academician,
        postcode=row.postal_code,
        remark=row.remark,
        submitted_at=now,
    )


def roster_bind_person(*, company: Company, actor: User, name: str, id_number: str) -> PersonProfile:
    """Bind an already-registered person to the company by name + ID number (both must match)."""
    try:
        id_number = normalise_id_number(id_number)
    except IdentifierError as error:
        raise RosterError(error.code, error.message) from error
    with transaction.atomic():
        profile = (
            PersonProfile.objects.select_for_update().filter(id_number=id_number, name=name.strip()).first()
        )
        if profile is None:
            raise RosterError("person_not_found", "没有找到姓名和身份证号都一致的已注册学员")
        if profile.company_id == company.pk:
            return profile
        if profile.company_id is not None:
            raise RosterError("person_in_other_company", "该学员已属于其他单位，请学员本人先申请变更单位")
        profile.company = company
        profile.company_name = company.name
        profile.save(update_fields=["company", "company_name"])
        audit_record(actor=actor, action="roster.bind", target=profile, data={"company": company.pk})
    return profile


__all__ = [
    "RosterError",
    "RosterFileError",
    "RosterImportResult",
    "roster_add_person",
    "roster_bind_person",
    "roster_import",
]


@dataclass(frozen=True)
class PhotoOutcome:
    entry_name: str
    ok: bool
    message: str


@dataclass
class PhotoImportResult:
    outcomes: list[PhotoOutcome] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return sum(1 for outcome in self.outcomes if outcome.ok)


def roster_photos_import(*, rules: Rules, company: Company, actor: User, data: bytes) -> PhotoImportResult:
    """Store the ID photos of a zip of `姓名-身份证号.jpg` for the company's own people.

    Each file stands alone: a good photo is stored even when its neighbour is refused, and every file
    gets a line in the result. A photo names a person of this company by ID number, and the name must
    match. Raises RosterError("photo_not_configured") when the rules define no ID photo, and
    UploadProblem for an archive that is not a zip, too big, or a zip bomb.
    """
    from shared.documents.photo_zip import read_photo_zip
    from shared.documents.services import document_upload

    spec = rules.identity.profile_photo
    if spec is None:
        raise RosterError("photo_not_configured", "本协会没有设置证件照要求")
    archive = read_photo_zip(data=data, spec=spec)
    result = PhotoImportResult(
        [PhotoOutcome(problem.entry_name, False, problem.message) for problem in archive.problems]
    )
    people = {
        profile.id_number: profile
        for profile in PersonProfile.objects.filter(
            company=company, id_number__in=[photo.id_number for photo in archive.photos]
        ).select_related("user")
    }
    for photo in archive.photos:
        profile = people.get(photo.id_number)
        if profile is None:
            result.outcomes.append(PhotoOutcome(photo.entry_name, False, "本单位没有该身份证号的人员"))
            continue
        if profile.name != photo.person_name:
            result.outcomes.append(
                PhotoOutcome(
                    photo.entry_name, False, f"姓名与身份证号不符：该身份证号登记的姓名是 {profile.name}"
                )
            )
            continue
        document_upload(
            owner=profile.user,
            key=spec.key,
            spec=spec,
            data=photo.data,
            filename=photo.entry_name,
            review_required=rules.identity.photo_review_by_staff,
            actor=actor,
            checked=photo.checked,
        )
        result.outcomes.append(PhotoOutcome(photo.entry_name, True, "已上传"))
    audit_record(
        actor=actor,
        action="roster.photos",
        target=company,
        data={"stored": result.stored, "refused": len(result.outcomes) - result.stored},
    )
    return result
