"""Set up the demo platform used by `make run`: idempotent, a second run reuses everything."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from shared.accounts.models import StaffRole, User, UserKind
from shared.accounts.services import user_create
from tenant_configs.loader import RulesFileError, load_rules_file
from tenants.models import Association
from tenants.services import platform_bootstrap, tenant_onboard

DEMO_TENANTS = ["sichuan", "miniapp", "henan", "gansu", "shanghai"]
DEMO_PASSWORD = "Demo-2026"
DEMO_COMPANY_USCC = {"sichuan": "91510100MA6C8QXK2F", "gansu": "", "shanghai": "91310000MA1FL0NQ5U"}
DEMO_LOGINS = {
    "sichuan": [("company", "13900000001"), ("person", "13800000001 (or SMS login)")],
    "gansu": [("company", "甘肃示范监理有限公司"), ("person", "620102198001011116")],
    "shanghai": [("company", "91310000MA1FL0NQ5U"), ("person", "310101199001011111")],
}


class Command(BaseCommand):
    help = "Bootstrap the platform, onboard the five demo associations and create demo logins."

    def add_arguments(self, parser):
        parser.add_argument("--port", default="8000")

    def handle(self, *args, **options):
        platform_bootstrap()
        port = options["port"]
        with schema_context("public"):
            if not User.objects.filter(username="operator").exists():
                user_create(
                    username="operator", password=DEMO_PASSWORD, kind=UserKind.OPERATOR, name="平台运营"
                )
        configs = Path(settings.BASE_DIR) / "tenant_configs"
        for slug in DEMO_TENANTS:
            tenant = Association.objects.filter(slug=slug).first()
            if tenant is None:
                try:
                    rules = load_rules_file(configs / f"{slug}.toml")
                except RulesFileError as error:
                    raise CommandError(str(error)) from error
                tenant = tenant_onboard(rules=rules).tenant
                self.stdout.write(f"onboarded {slug}")
            with schema_context(tenant.schema_name):
                if not User.objects.filter(username="admin").exists():
                    user_create(
                        username="admin",
                        password=DEMO_PASSWORD,
                        kind=UserKind.STAFF,
                        name=f"{tenant.short_name or tenant.name}管理员",
                        staff_roles=[StaffRole.ADMIN],
                    )
            with schema_context(tenant.schema_name):
                self._demo_people(slug)
                self._demo_sessions()
        self.stdout.write("")
        self.stdout.write(
            f"operator console  http://{settings.PLATFORM_DOMAIN}:{port}/   login operator / {DEMO_PASSWORD}"
        )
        for slug in DEMO_TENANTS:
            tenant = Association.objects.get(slug=slug)
            domain = tenant.get_primary_domain()
            self.stdout.write(f"{tenant.name:<24} http://{domain.domain}:{port}/")
            self.stdout.write(f"    staff console  admin / {DEMO_PASSWORD}")
            for label, login in DEMO_LOGINS.get(slug, []):
                self.stdout.write(f"    {label:<14} {login} / {DEMO_PASSWORD}")

    def _demo_sessions(self) -> None:
        """Open every program of the rules with one class open for enrolment now (henan: one per training
        institution of the first city), through the same services as the staff console."""
        from datetime import timedelta

        from django.utils import timezone

        from registration.models import TrainingSession
        from registration.services import SessionInput, program_create, session_create
        from tenant_configs.selectors import rules_current

        if TrainingSession.objects.exists():
            return
        rules = rules_current()
        admin = User.objects.get(username="admin")
        now = timezone.now()
        for program_rules in rules.programs:
            program = program_create(rules=rules, code=program_rules.code, actor=admin)
            units = [
                u
                for u in rules.organizations.units
                if not program_rules.unit_codes or u.code in program_rules.unit_codes
            ]
            unit = units[0].code if units else ""
            institutions = [i for i in rules.organizations.institutions if i.city_code == unit] or [None]
            for number, institution in enumerate(institutions, start=1):
                session_create(
                    rules=rules,
                    program=program,
                    actor=admin,
                    data=SessionInput(
                        code=f"{now:%Y}-{number:02d}",
                        name=f"{now:%Y}年第{number}期" + (f"（{institution.name}）" if institution else ""),
                        capacity=100,
                        opens_at=now - timedelta(days=1),
                        closes_at=now + timedelta(days=30),
                        unit_code=unit,
                        institution_code=institution.code if institution else "",
                        location=units[0].name if units else "",
                    ),
                )

    def _demo_people(self, slug: str) -> None:
        """A demo company and one of its people, created through the same services as real sign-ups."""
        from membership.services import join_request_approve, join_request_create
        from shared.accounts.identity import (
            CompanyRegistration,
            PersonRegistration,
            company_issue,
            company_register,
            person_register,
        )
        from shared.accounts.models import Company
        from shared.accounts.services import invitation_accept
        from tenant_configs.schema import CompanyAccountCreation
        from tenant_configs.selectors import rules_current

        if slug not in DEMO_LOGINS or Company.objects.exists():
            return
        rules = rules_current().model_copy(
            update={
                "identity": rules_current().identity.model_copy(update={"registration_requires_sms": False})
            }
        )
        name = {
            "sichuan": "四川示范监理有限公司",
            "gansu": "甘肃示范监理有限公司",
            "shanghai": "上海示范勘察设计有限公司",
        }[slug]
        if rules.identity.company_account_creation == CompanyAccountCreation.SELF_REGISTRATION:
            operator = company_register(
                rules=rules,
                registration=CompanyRegistration(
                    name=name,
                    uscc=DEMO_COMPANY_USCC[slug],
                    contact_name="示范经办人",
                    phone={"sichuan": "13900000001", "shanghai": "13900000003"}[slug],
                    password=DEMO_PASSWORD,
                ),
            )
            company = operator.company
        else:
            staff = User.objects.get(username="admin")
            company, issued = company_issue(rules=rules, name=name, actor=staff)
            operator = invitation_accept(token=issued.token, username="gsdemo", password=DEMO_PASSWORD)
        person_id = {
            "sichuan": "510104198503121232",
            "gansu": "620102198001011116",
            "shanghai": "310101199001011111",
        }[slug]
        person = person_register(
            rules=rules,
            registration=PersonRegistration(
                name={"sichuan": "张伟", "gansu": "马丽", "shanghai": "王芳"}[slug],
                id_number=person_id,
                phone={"sichuan": "13800000001", "gansu": "13800000002", "shanghai": "13800000003"}[slug],
                password=DEMO_PASSWORD,
            ),
        )
        request = join_request_create(person=person, company=company)
        join_request_approve(request_id=request.pk, company=company, actor=operator)
