"""Template context shared by every page: the tenant and its branding from the published rules."""

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject
from django_tenants.utils import get_public_schema_name


def _branding(tenant) -> dict:
    from tenant_configs.selectors import RulesNotPublished, rules_current

    try:
        rules = rules_current()
    except RulesNotPublished:
        return {"site_title": tenant.name, "primary_color": "#1f5fa8", "footer_text": "", "home_notice": ""}
    branding = rules.branding
    return {
        "site_title": branding.site_title or rules.association.name or tenant.name,
        "primary_color": branding.primary_color or "#1f5fa8",
        "logo_text": branding.logo_text or tenant.short_name,
        "footer_text": branding.footer_text,
        "home_notice": branding.home_notice,
        "contact_phone": rules.association.contact_phone,
        "membership_enabled": rules.membership.enabled,
        "learning_enabled": rules.learning.enabled,
    }


def platform(request: HttpRequest) -> dict:
    tenant = getattr(request, "tenant", None)
    is_public = tenant is None or tenant.schema_name == get_public_schema_name()
    if is_public:
        branding = {"site_title": "协会培训报名与会员平台 · 运营控制台", "primary_color": "#2d3a4a"}
        return {"tenant": None, "is_public_site": True, "branding": branding}
    return {
        "tenant": tenant,
        "is_public_site": False,
        "branding": SimpleLazyObject(lambda: _branding(tenant)),
    }
