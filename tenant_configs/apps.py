from django.apps import AppConfig


class TenantConfigsConfig(AppConfig):
    name = "tenant_configs"
    verbose_name = "协会规则"
