from django import forms

from tenants.models import Association, AssociationStatus


class OnboardForm(forms.Form):
    """Onboard from an uploaded rules file, or by cloning another association's current rules."""

    rules_file = forms.FileField(label="规则文件（TOML）", required=False)
    clone_from = forms.ModelChoiceField(
        label="或复制以下协会的规则",
        queryset=Association.objects.none(),
        required=False,
        to_field_name="slug",
        empty_label="（不复制）",
    )
    slug = forms.SlugField(
        label="协会标识（子域名）", max_length=31, required=False, help_text="复制规则时必填"
    )
    name = forms.CharField(label="协会名称", max_length=100, required=False)
    short_name = forms.CharField(label="简称", max_length=40, required=False)
    province = forms.CharField(label="省份", max_length=20, required=False)
    hostname = forms.CharField(
        label="域名", max_length=253, required=False, help_text="留空则为 标识.平台域名"
    )
    admin_name = forms.CharField(label="首位管理员姓名", max_length=100, required=False)
    admin_email = forms.EmailField(label="首位管理员邮箱", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clone_from"].queryset = Association.objects.exclude(schema_name="public").exclude(
            status=AssociationStatus.TEMPLATE
        )

    def clean(self):
        data = super().clean()
        has_file = bool(data.get("rules_file"))
        has_clone = data.get("clone_from") is not None
        if has_file == has_clone:
            raise forms.ValidationError("请上传规则文件，或选择一个要复制规则的协会（二选一）。")
        if has_clone and not data.get("slug"):
            self.add_error("slug", "复制规则时必须填写新协会的标识。")
        if has_clone and not data.get("name"):
            self.add_error("name", "复制规则时必须填写新协会的名称。")
        return data


class SuspendForm(forms.Form):
    reason = forms.CharField(label="暂停原因", max_length=200, required=False)


class DomainForm(forms.Form):
    hostname = forms.CharField(label="新域名", max_length=253)
    primary = forms.BooleanField(label="设为主域名", required=False)
