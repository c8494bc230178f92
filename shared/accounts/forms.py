from django import forms
from django.contrib.auth.forms import AuthenticationForm

from shared.accounts.identity import login_refusal


class RulesAuthenticationForm(AuthenticationForm):
    """Django's login form, plus the association's own reasons to refuse (e.g. company approval pending)."""

    username = forms.CharField(label="账号", max_length=64)

    def __init__(self, request=None, *args, rules=None, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.rules = rules

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if self.rules is not None:
            refusal = login_refusal(rules=self.rules, user=user)
            if refusal:
                raise forms.ValidationError(refusal, code="login_refused")


class PasswordConfirmationForm(forms.Form):
    """A form whose `password` must be typed twice (`password_again`)."""

    def clean(self):
        data = super().clean()
        if data.get("password") and data.get("password") != data.get("password_again"):
            self.add_error("password_again", "两次输入的密码不一致")
        return data


class PersonRegistrationForm(PasswordConfirmationForm):
    name = forms.CharField(label="姓名", max_length=50)
    id_number = forms.CharField(label="身份证号", max_length=30)
    phone = forms.CharField(label="手机号", max_length=20)
    sms_code = forms.CharField(label="短信验证码", max_length=6, required=False)
    password = forms.CharField(label="密码", widget=forms.PasswordInput)
    password_again = forms.CharField(label="再次输入密码", widget=forms.PasswordInput)


class CompanyRegistrationForm(PasswordConfirmationForm):
    name = forms.CharField(label="单位名称", max_length=120)
    uscc = forms.CharField(label="统一社会信用代码", max_length=30)
    contact_name = forms.CharField(label="联系人（法人或经办人）", max_length=50)
    phone = forms.CharField(label="手机号", max_length=20)
    sms_code = forms.CharField(label="短信验证码", max_length=6, required=False)
    password = forms.CharField(label="密码", widget=forms.PasswordInput)
    password_again = forms.CharField(label="再次输入密码", widget=forms.PasswordInput)


class SmsLoginForm(forms.Form):
    phone = forms.CharField(label="手机号", max_length=20)
    sms_code = forms.CharField(label="短信验证码", max_length=6)


class RejectForm(forms.Form):
    reason = forms.CharField(label="拒绝原因", max_length=200)


class PasswordResetForm(PasswordConfirmationForm):
    phone = forms.CharField(label="手机号", max_length=20)
    sms_code = forms.CharField(label="短信验证码", max_length=6)
    password = forms.CharField(label="新密码", widget=forms.PasswordInput)
    password_again = forms.CharField(label="再次输入新密码", widget=forms.PasswordInput)


class RealNameForm(forms.Form):
    name = forms.CharField(label="真实姓名", max_length=50)
    id_number = forms.CharField(label="身份证号", max_length=30)


class IssueCompanyForm(forms.Form):
    name = forms.CharField(label="单位名称", max_length=120)
    uscc = forms.CharField(label="统一社会信用代码（可选）", max_length=30, required=False)
    contact_name = forms.CharField(label="联系人", max_length=50, required=False)


class InviteStaffForm(forms.Form):
    name = forms.CharField(label="姓名", max_length=100)
    kind = forms.ChoiceField(
        label="账户类型", choices=[("staff", "协会工作人员"), ("institution", "培训机构")]
    )
    roles = forms.MultipleChoiceField(
        label="角色（协会工作人员）",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=[("reviewer", "审核"), ("finance", "财务"), ("academic", "教务"), ("admin", "管理员")],
    )
