"""Login accounts. Each schema has its own: operators in public, an association's people in its schema."""

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone


class UserKind(models.TextChoices):
    PERSON = "person", "个人"
    COMPANY = "company", "企业"
    STAFF = "staff", "协会工作人员"
    INSTITUTION = "institution", "培训机构"
    OPERATOR = "operator", "平台运营"


class StaffRole(models.TextChoices):
    REVIEWER = "reviewer", "审核"
    FINANCE = "finance", "财务"
    ACADEMIC = "academic", "教务"
    ADMIN = "admin", "管理员"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, username: str, password: str | None = None, **fields: object) -> "User":
        if not username:
            raise ValueError("username is required")
        user = self.model(username=username, **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, username: str, password: str | None = None, **fields: object) -> "User":
        fields.setdefault("kind", UserKind.OPERATOR)
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(username, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    # What the person types to log in: a phone number, ID number, USCC or name, per the tenant's rules.
    username = models.CharField("登录名", max_length=64, unique=True)
    name = models.CharField("姓名/名称", max_length=100, blank=True)
    phone = models.CharField("手机号", max_length=20, blank=True)
    email = models.EmailField("电子邮箱", blank=True)
    kind = models.CharField("类型", max_length=20, choices=UserKind.choices, default=UserKind.PERSON)
    staff_roles = ArrayField(
        models.CharField(max_length=20, choices=StaffRole.choices),
        default=list,
        blank=True,
        verbose_name="角色",
    )
    is_active = models.BooleanField("启用", default=True)
    is_staff = models.BooleanField("可进入管理后台", default=False)
    date_joined = models.DateTimeField("注册时间", default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "username"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = "用户"
        verbose_name_plural = "用户"
        constraints = [
            models.UniqueConstraint(
                fields=["phone"], condition=~models.Q(phone=""), name="accounts_user_phone_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.username

    def has_staff_role(self, role: str) -> bool:
        return self.is_active and self.kind == UserKind.STAFF and role in self.staff_roles

    @property
    def is_association_staff(self) -> bool:
        return self.is_active and self.kind == UserKind.STAFF

    @property
    def is_platform_operator(self) -> bool:
        return self.is_active and self.kind == UserKind.OPERATOR


class Invitation(models.Model):
    """A one-time link that lets someone set their own password (no shared initial passwords).

    Only the SHA-256 of the token is stored; the token itself is shown once, to whoever created it.
    """

    token_sha256 = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=20, choices=UserKind.choices)
    staff_roles = ArrayField(
        models.CharField(max_length=20, choices=StaffRole.choices), default=list, blank=True
    )
    name = models.CharField("姓名/名称", max_length=100, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=20, blank=True)
    created_by_label = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "邀请"
        verbose_name_plural = "邀请"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.name}"

    def is_usable(self, now=None) -> bool:
        return self.accepted_at is None and (now or timezone.now()) < self.expires_at
