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
    # Normalised 18-character resident ID (persons); unique per association when present.
    id_number = models.CharField("身份证号", max_length=18, blank=True)
    wechat_openid = models.CharField("微信 openid", max_length=64, blank=True)
    # The company a company-operator account acts for.
    company = models.ForeignKey(
        "accounts.Company", null=True, blank=True, on_delete=models.PROTECT, related_name="operators"
    )
    # The training institution (rules' organizations.institutions code) an institution account acts for.
    institution_code = models.CharField("培训机构", max_length=41, blank=True)
    phone_verified_at = models.DateTimeField("手机验证时间", null=True, blank=True)
    real_name_verified_at = models.DateTimeField("实名认证时间", null=True, blank=True)
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
    # For company operators: the company the new account will act for (activated on acceptance).
    company = models.ForeignKey(
        "accounts.Company", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
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


class CompanyStatus(models.TextChoices):
    ACTIVE = "active", "正常"
    # Issued by the association (gansu) and not yet activated through its invitation link.
    INVITED = "invited", "待激活"
    DISABLED = "disabled", "已停用"


class Company(models.Model):
    name = models.CharField("单位名称", max_length=120)
    uscc = models.CharField("统一社会信用代码", max_length=18, blank=True)
    legal_representative = models.CharField("法定代表人", max_length=50, blank=True)
    contact_name = models.CharField("联系人", max_length=50, blank=True)
    contact_phone = models.CharField("联系电话", max_length=20, blank=True)
    address = models.CharField("地址", max_length=200, blank=True)
    unit_codes = ArrayField(
        models.CharField(max_length=41), default=list, blank=True, verbose_name="所属分会/地区"
    )
    status = models.CharField(
        "状态", max_length=20, choices=CompanyStatus.choices, default=CompanyStatus.ACTIVE
    )
    created_at = models.DateTimeField("创建时间", default=timezone.now)

    class Meta:
        verbose_name = "企业"
        verbose_name_plural = "企业"
        constraints = [
            models.UniqueConstraint(
                fields=["uscc"], condition=~models.Q(uscc=""), name="accounts_company_uscc_unique"
            ),
            models.UniqueConstraint(fields=["name"], name="accounts_company_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class Gender(models.TextChoices):
    MALE = "male", "男"
    FEMALE = "female", "女"


class PersonProfile(models.Model):
    """A person's record (个人资料). Field names are the rules' ProfileField keys, so locks apply by name."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="profile")
    name = models.CharField("姓名", max_length=50)
    gender = models.CharField("性别", max_length=10, choices=Gender.choices, blank=True)
    id_type = models.CharField("证件类型", max_length=20, default="居民身份证")
    id_number = models.CharField("身份证号", max_length=18)
    phone = models.CharField("手机号", max_length=20, blank=True)
    email = models.EmailField("电子邮箱", blank=True)
    address = models.CharField("通讯地址", max_length=200, blank=True)
    company = models.ForeignKey(
        Company,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="people",
        verbose_name="所属单位",
    )
    company_name = models.CharField("单位名称（自填）", max_length=120, blank=True)
    birth_date = models.DateField("出生日期", null=True, blank=True)
    education = models.CharField("学历", max_length=20, blank=True)
    ethnicity = models.CharField("民族", max_length=20, blank=True)
    political_status = models.CharField("政治面貌", max_length=20, blank=True)
    work_start_date = models.DateField("参加工作时间", null=True, blank=True)
    professional_title = models.CharField("职称", max_length=50, blank=True)
    specialty = models.CharField("从事专业", max_length=50, blank=True)
    position = models.CharField("职务", max_length=50, blank=True)
    academician_or_master = models.CharField("院士/大师", max_length=10, blank=True)
    postcode = models.CharField("邮编", max_length=6, blank=True)
    remark = models.CharField("备注", max_length=200, blank=True)
    qq = models.CharField("QQ", max_length=15, blank=True)
    submitted_at = models.DateTimeField("资料提交时间", null=True, blank=True)
    first_enrolled_at = models.DateTimeField("首次报名时间", null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "个人资料"
        verbose_name_plural = "个人资料"
        constraints = [
            models.UniqueConstraint(fields=["id_number"], name="accounts_profile_id_number_unique")
        ]

    def __str__(self) -> str:
        return self.name


class PracticeCertificate(models.Model):
    """执业资格证书 on a person's full personnel profile (shanghai)."""

    profile = models.ForeignKey(PersonProfile, on_delete=models.CASCADE, related_name="practice_certificates")
    kind = models.CharField("证书类型", max_length=50)
    number = models.CharField("证书编号", max_length=50)

    class Meta:
        verbose_name = "执业资格证书"
        verbose_name_plural = "执业资格证书"

    def __str__(self) -> str:
        return f"{self.kind} {self.number}"


class MailingAddress(models.Model):
    """Saved logistics address (物流信息) of a person or a company."""

    owner = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE, related_name="addresses")
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.CASCADE, related_name="addresses"
    )
    recipient = models.CharField("收件人", max_length=50)
    phone = models.CharField("联系电话", max_length=20)
    province_city = models.CharField("省市区", max_length=100)
    street = models.CharField("详细地址", max_length=200)
    postcode = models.CharField("邮编", max_length=6, blank=True)
    is_default = models.BooleanField("默认", default=False)

    class Meta:
        verbose_name = "邮寄地址"
        verbose_name_plural = "邮寄地址"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(owner__isnull=False) ^ models.Q(company__isnull=False),
                name="accounts_address_one_owner",
            )
        ]

    def __str__(self) -> str:
        return f"{self.recipient} {self.province_city}{self.street}"


class InvoiceTitle(models.Model):
    """Saved invoice header (发票抬头) of a person or a company."""

    owner = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.CASCADE, related_name="invoice_titles"
    )
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.CASCADE, related_name="invoice_titles"
    )
    title = models.CharField("发票抬头", max_length=120)
    tax_number = models.CharField("税号", max_length=20, blank=True)
    address_phone = models.CharField("地址、电话", max_length=200, blank=True)
    bank_account = models.CharField("开户行及账号", max_length=200, blank=True)
    email = models.EmailField("接收邮箱", blank=True)
    mailing_address = models.CharField("邮寄地址", max_length=200, blank=True)
    is_default = models.BooleanField("默认", default=False)

    class Meta:
        verbose_name = "发票抬头"
        verbose_name_plural = "发票抬头"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(owner__isnull=False) ^ models.Q(company__isnull=False),
                name="accounts_invoice_title_one_owner",
            )
        ]

    def __str__(self) -> str:
        return self.title
