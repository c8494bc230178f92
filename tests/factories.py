"""factory_boy factories. They create rows in whatever schema the connection is on: wrap them in
`schema_context(...)` (or use the tenant fixtures) so the tenant is always explicit in a test."""

import factory

from shared.accounts.models import StaffRole, User, UserKind

PASSWORD = "Test-pass-2026"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda number: f"user{number:04d}")
    name = factory.Faker("name", locale="zh_CN")
    kind = UserKind.PERSON
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save_password(self, create, extracted, **kwargs):
        if create:
            self.save(update_fields=["password"])


class StaffFactory(UserFactory):
    kind = UserKind.STAFF
    staff_roles = factory.LazyFunction(lambda: [StaffRole.REVIEWER])
    is_staff = True
