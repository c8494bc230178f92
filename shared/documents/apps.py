from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "shared.documents"
    label = "documents"
    verbose_name = "资料"
