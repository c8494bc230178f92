"""Shared set-up for the registration browser tests: committed people, sessions and a logged-in browser
context per account (the live server runs on another connection, so nothing here is rolled back; every
name is random and `cleanup` removes it all)."""

import random
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from tests.ids import valid_id_number


def serial() -> str:
    return f"{random.randint(100, 999):03d}"


def make_session(schema: str, program: str, **extra):
    from registration.services import SessionInput, program_create, session_create
    from shared.accounts.models import User
    from tenant_configs.selectors import rules_current

    with schema_context(schema):
        rules = rules_current()
        admin = User.objects.get(username="admin")
        opened = program_create(rules=rules, code=program, actor=admin)
        code = f"B{random.randint(10**6, 10**7 - 1)}"
        return session_create(
            rules=rules,
            program=opened,
            actor=admin,
            data=SessionInput(
                code=code,
                name=extra.pop("name", f"浏览器测试{code}期"),
                capacity=extra.pop("capacity", 50),
                opens_at=timezone.now() - timedelta(days=1),
                closes_at=timezone.now() + timedelta(days=10),
                **extra,
            ),
        )


def make_person(
    schema: str, *, name: str, company=None, verified: bool = True, birth: str = "19900101", **profile
):
    from shared.accounts.models import PersonProfile, User, UserKind

    with schema_context(schema):
        id_number = valid_id_number("410102", birth, serial())
        user = User.objects.create_user(
            f"b{random.randint(10**8, 10**9 - 1)}",
            None,
            kind=UserKind.PERSON,
            name=name,
            id_number=id_number,
            real_name_verified_at=timezone.now() if verified else None,
        )
        PersonProfile.objects.create(user=user, name=name, id_number=id_number, company=company, **profile)
        return user


def make_company(schema: str, name: str):
    from shared.accounts.models import Company, User, UserKind

    with schema_context(schema):
        company = Company.objects.create(name=f"{name}{random.randint(1000, 9999)}")
        operator = User.objects.create_user(
            f"c{random.randint(10**8, 10**9 - 1)}",
            None,
            kind=UserKind.COMPANY,
            name="经办人",
            company=company,
        )
        return company, operator


def upload_photo(schema: str, user, data: bytes) -> None:
    from shared.documents.services import document_upload
    from tenant_configs.selectors import rules_current

    with schema_context(schema):
        document_upload(
            owner=user,
            key=rules_current().identity.profile_photo.key,
            spec=rules_current().identity.profile_photo,
            data=data,
            filename="photo.jpg",
            review_required=False,
        )


def logged_in(browser, context_args: dict, live_url, host: str, user):
    """A new browser context whose session cookie belongs to `user` on `host` (login itself is covered by
    the identity browser tests)."""
    client = Client(HTTP_HOST=host)
    with schema_context(host.split(".")[0]):
        client.force_login(user)
    context = browser.new_context(**context_args)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_url(host, "/")}])
    return context.new_page()


def cleanup(schema: str, *, users=(), sessions=(), companies=()) -> None:
    from registration.models import Application, TrainingSession
    from shared.accounts.models import Company, PersonProfile, User
    from shared.documents.models import Document
    from shared.models import AuditEntry

    connection.set_schema_to_public()
    with schema_context(schema):
        user_ids = [user.pk for user in users]
        applications = Application.objects.filter(
            Q(person_id__in=user_ids) | Q(session__in=[session.pk for session in sessions])
        )
        AuditEntry.objects.filter(
            object_type="registration.application",
            object_id__in=[str(pk) for pk in applications.values_list("pk", flat=True)],
        ).delete()
        applications.delete()
        Document.objects.filter(owner_id__in=user_ids).update(superseded_by=None)
        Document.objects.filter(owner_id__in=user_ids).delete()
        TrainingSession.objects.filter(pk__in=[session.pk for session in sessions]).delete()
        PersonProfile.objects.filter(user_id__in=user_ids).delete()
        User.objects.filter(pk__in=user_ids).delete()
        for company in Company.objects.filter(pk__in=[company.pk for company in companies]):
            company.operators.all().delete()
            company.delete()
