"""The person's own pages that were missing (个人会员：历史动态、修改密码)."""

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import SetPasswordForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse_lazy

from shared.accounts.selectors_history import history_for_person


@login_required
def history(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/history.html", {"entries": history_for_person(person=request.user)})


class PasswordChangeView(auth_views.PasswordChangeView):
    """修改密码. An account that never had a password (SMS or WeChat sign-up) sets one without the old."""

    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("me")

    def get_form_class(self):
        if not self.request.user.has_usable_password():
            return SetPasswordForm
        return super().get_form_class()

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, "密码已修改。")
        return response
