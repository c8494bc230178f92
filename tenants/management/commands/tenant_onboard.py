from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from tenant_configs.loader import RulesFileError, load_rules_file
from tenants.services import TenantError, tenant_onboard


class Command(BaseCommand):
    help = "Onboard an association from its rules file: schema, domain, rules v1, first admin invitation."

    def add_arguments(self, parser):
        parser.add_argument("rules_file", type=Path)
        parser.add_argument("--domain", help="host name (default: <slug>.<PLATFORM_DOMAIN>)")
        parser.add_argument("--admin-name", default="")
        parser.add_argument("--admin-email", default="")
        parser.add_argument("--port", default="", help="port to print in the invitation URL (development)")

    def handle(self, *args, **options):
        try:
            rules = load_rules_file(options["rules_file"])
        except RulesFileError as error:
            raise CommandError(f"rules file refused:\n{error}") from error
        except OSError as error:
            raise CommandError(f"cannot read {options['rules_file']}: {error}") from error
        try:
            result = tenant_onboard(
                rules=rules,
                hostname=options.get("domain"),
                admin_name=options["admin_name"],
                admin_email=options["admin_email"],
            )
        except TenantError as error:
            raise CommandError(f"{error.code}: {error.message}") from error
        host = result.domain.domain + (f":{options['port']}" if options["port"] else "")
        self.stdout.write(f"onboarded {result.tenant.slug} ({result.tenant.name}) at http://{host}/")
        self.stdout.write(f"rules version {result.rules_version}")
        self.stdout.write(f"first admin invitation: http://{host}/invite/{result.invitation.token}/")
