"""System checks: development stand-ins must not reach production unnoticed (`manage.py check --deploy`)."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def development_providers_in_production(app_configs, **kwargs):
    if settings.DEBUG:
        return []
    warnings = []
    if getattr(settings, "SMS_BACKEND", "").endswith(("ConsoleSmsBackend", "LocmemSmsBackend")):
        warnings.append(
            Warning(
                "SMS_BACKEND is a development backend: verification codes are logged, not sent.",
                hint="Configure a real SMS provider backend.",
                id="xiehui.W001",
            )
        )
    if getattr(settings, "REALNAME_PROVIDER", "local") == "local":
        warnings.append(
            Warning(
                "REALNAME_PROVIDER=local accepts every well-formed ID number as verified.",
                hint="Set REALNAME_PROVIDER=http with REALNAME_BASE_URL and REALNAME_APP_CODE.",
                id="xiehui.W002",
            )
        )
    if getattr(settings, "PAYMENT_SIMULATOR", False):
        warnings.append(
            Warning(
                "PAYMENT_SIMULATOR is on: associations without merchant keys can mark orders paid "
                "with the built-in payment simulator.",
                hint="Unset PAYMENT_SIMULATOR (and GATEWAY_SIMULATOR_ENABLED) in production.",
                id="xiehui.W003",
            )
        )
    return warnings
