"""Pages of notices (通知公告) and the personal inbox (站内信), and the staff console's notice pages.

Views validate input, call one service and render. Notices named by an id in the URL come through the
audience-scoped selector, so a notice outside the reader's audience is a 404 like a missing one.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from shared.notices import selectors, services
from shared.notices.models import TITLE_MAX_LENGTH, Message, Notice, NoticeAudience
from shared.permissions import staff_required

# --- readers ---------------------------------------------------------------------------------------------


@login_required
def notice_list(request: HttpRequest) -> HttpResponse:
    notices = list(selectors.notices_for_user(request.user)[:200])
    return render(request, "notices/list.html", {"notices": notices})


@login_required
def notice_detail(request: HttpRequest, notice_id: int) -> HttpResponse:
    try:
        notice = selectors.notice_get_for_user(notice_id=notice_id, user=request.user)
    except Notice.DoesNotExist as error:
        raise Http404 from error
    services.notice_mark_read(notice=notice, user=request.user)
    return render(request, "notices/detail.html", {"notice": notice})


@login_required
def message_inbox(request: HttpRequest) -> HttpResponse:
    inbox = list(selectors.messages_for_recipient(recipient=request.user)[:200])
    return render(request, "notices/inbox.html", {"inbox": inbox})


@login_required
def message_detail(request: HttpRequest, message_id: int) -> HttpResponse:
    try:
        message = selectors.message_get_for_recipient(message_id=message_id, recipient=request.user)
    except Message.DoesNotExist as error:
        raise Http404 from error
    message = services.message_mark_read(message=message)
    return render(request, "notices/message.html", {"message": message})


# --- console ---------------------------------------------------------------------------------------------


class NoticeForm(forms.Form):
    title = forms.CharField(label="标题", max_length=TITLE_MAX_LENGTH)
    body = forms.CharField(
        label="正文", widget=forms.Textarea(attrs={"rows": 12}), help_text="纯文本，空一行为新段落"
    )
    audience = forms.ChoiceField(
        label="发布范围", choices=NoticeAudience.choices, widget=forms.RadioSelect, initial=NoticeAudience.ALL
    )
    pinned = forms.BooleanField(label="置顶", required=False)

    def notice_input(self) -> services.NoticeInput:
        data = self.cleaned_data
        return services.NoticeInput(
            title=data["title"], body=data["body"], audience=data["audience"], pinned=data["pinned"]
        )


def _console_notice(notice_id: int) -> Notice:
    try:
        return selectors.notice_get_for_console(notice_id=notice_id)
    except Notice.DoesNotExist as error:
        raise Http404 from error


@staff_required()
def console_notices(request: HttpRequest) -> HttpResponse:
    notices = list(selectors.notices_for_console()[:200])
    counts = selectors.notice_read_counts(notices)
    rows = [{"notice": notice, "count": counts.get(notice.pk)} for notice in notices]
    return render(request, "notices/console_list.html", {"console_section": "notices", "rows": rows})


def _edit(request: HttpRequest, notice: Notice | None) -> HttpResponse:
    initial = (
        {"title": notice.title, "body": notice.body, "audience": notice.audience, "pinned": notice.pinned}
        if notice
        else None
    )
    form = NoticeForm(request.POST or None, initial=initial)
    original = notice
    if request.method == "POST" and form.is_valid():
        try:
            # Save and publish together or not at all.
            with transaction.atomic():
                if notice is None:
                    notice = services.notice_create(actor=request.user, data=form.notice_input())
                else:
                    notice = services.notice_update(
                        actor=request.user, notice=notice, data=form.notice_input()
                    )
                if request.POST.get("action") == "publish":
                    notice = services.notice_publish(actor=request.user, notice=notice)
        except services.NoticeError as error:
            notice = original
            form.add_error(None, error.message)
        else:
            messages.success(request, "通知已发布。" if notice.status == "published" else "已保存。")
            return redirect("notices:console-list")
    return render(
        request, "notices/console_edit.html", {"console_section": "notices", "form": form, "notice": notice}
    )


@staff_required()
def console_notice_create(request: HttpRequest) -> HttpResponse:
    return _edit(request, None)


@staff_required()
def console_notice_edit(request: HttpRequest, notice_id: int) -> HttpResponse:
    return _edit(request, _console_notice(notice_id))


@staff_required()
@require_POST
def console_notice_publish(request: HttpRequest, notice_id: int) -> HttpResponse:
    try:
        notice = services.notice_publish(actor=request.user, notice=_console_notice(notice_id))
    except services.NoticeError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"已发布：{notice.title}")
    return redirect("notices:console-list")


@staff_required()
@require_POST
def console_notice_withdraw(request: HttpRequest, notice_id: int) -> HttpResponse:
    try:
        notice = services.notice_withdraw(actor=request.user, notice=_console_notice(notice_id))
    except services.NoticeError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"已撤回：{notice.title}")
    return redirect("notices:console-list")
