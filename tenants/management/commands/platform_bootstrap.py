from django.core.management.base import BaseCommand

from tenants.services import platform_bootstrap


class Command(BaseCommand):
    help = "Create the public tenant (the platform's own host) and the tenant template schema. Idempotent."

    def handle(self, *args, **options):
        public = platform_bootstrap()
        self.stdout.write(f"platform ready: {', '.join(d.domain for d in public.domains.all())}")
