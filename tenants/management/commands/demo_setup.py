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
        self.stdout.write("")
        self.stdout.write(
            f"operator console  http://{settings.PLATFORM_DOMAIN}:{port}/   login operator / {DEMO_PASSWORD}"
        )
        for slug in DEMO_TENANTS:
            tenant = Association.objects.get(slug=slug)
            domain = tenant.get_primary_domain()
            self.stdout.write(
                f"{tenant.name:<24} http://{domain.domain}:{port}/   staff console login admin / {DEMO_PASSWORD}"
            )
