from django.apps import AppConfig


class SharedConfig(AppConfig):
    name = "shared"
    verbose_name = "平台公共"

    def ready(self) -> None:
        from shared import checks  # noqa: F401  (registers the deploy checks)
