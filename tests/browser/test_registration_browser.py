"""The application parts of the seed flows (DESIGN §4) in a real browser on each tenant's subdomain:
sichuan (person applies, company rejects with a reason, person corrects, company approves), henan (the
wizard, resumed after leaving, printed, confirmed by the institution), shanghai (a company enrols its
people; one enrolment per person per course), miniapp (the mini-program's API, staff review in the
browser), gansu (company-only, members-only trainings refuse non-members)."""

import pytest
from django.db import connection
from django_tenants.utils import schema_context
from playwright.sync_api import expect

from tests.browser.registration_helpers import (
    cleanup,
    logged_in,
    make_company,
    make_person,
    make_session,
    upload_photo,
)
from tests.unit.test_document_checks import photo_jpeg

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _file(name: str, data: bytes | None = None) -> dict:
    return {"name": name, "mimeType": "image/jpeg", "buffer": data or photo_jpeg()}


def test_sichuan_person_applies_company_rejects_person_resubmits_company_approves(
    browser, browser_context_args, live_url
):
    from registration.models import Application

    connection.set_schema_to_public()
    company, operator = make_company("sichuan", "成都浏览器监理")
    person = make_person("sichuan", name="赵敏", company=company, education="bachelor")
    session = make_session("sichuan", "jianli_2022", unit_code="jianli", name="浏览器第一期")
    try:
        student = logged_in(browser, browser_context_args, live_url, "sichuan.localhost", person)
        student.goto(live_url("sichuan.localhost", "/training/"))
        student.locator(f"tr[data-session='{session.code}'] >> a:text-is('报名')").click()
        expect(student.locator("h1")).to_contain_text("2022年四川省工程监理人员职业培训")
        expect(student.locator("#id_education")).to_have_value("本科")  # from the profile, read-only
        student.fill("#id_major", "土木工程")
        student.set_input_files("#id_doc_id_card", files=[_file("身份证.jpg")])
        student.set_input_files("#id_doc_diploma", files=[_file("毕业证.jpg")])
        student.check("input[name=with_materials][value=yes]")
        student.click("#submit-application")
        # The pledge was not accepted: refused with its own message, nothing written.
        expect(student.locator(".pledge .error")).to_have_text("请阅读并同意《个人承诺书》")
        with schema_context("sichuan"):
            assert not Application.objects.filter(person=person).exists()
        student.fill("#id_major", "土木工程")
        student.check("input[name=with_materials][value=yes]")
        student.check("#pledge_personal_pledge")
        student.click("#submit-application")
        expect(student.locator("#application-status")).to_have_text("待企业审核")

        company_page = logged_in(browser, browser_context_args, live_url, "sichuan.localhost", operator)
        company_page.goto(live_url("sichuan.localhost", "/review/"))
        company_page.locator(".application-row", has_text="赵敏").locator("text=详情").click()
        company_page.fill("#reject-reason", "毕业证书照片不清晰，请重新上传")
        company_page.click("button:has-text('不通过')")
        expect(company_page.locator(".messages")).to_contain_text("赵敏")
        expect(company_page.locator(".messages")).to_contain_text("审核不通过")

        student.reload()
        expect(student.locator("#rejection-reason")).to_have_text("毕业证书照片不清晰，请重新上传")
        student.click("#resubmit-link")
        student.set_input_files("#id_doc_diploma", files=[_file("清晰毕业证.jpg")])
        student.check("#pledge_personal_pledge")
        student.click("#submit-application")
        expect(student.locator("#application-status")).to_have_text("待企业审核")

        company_page.goto(live_url("sichuan.localhost", "/review/"))
        company_page.locator(".application-row", has_text="赵敏").locator("text=详情").click()
        company_page.click("#decide button:has-text('通过') >> nth=0")
        student.reload()
        expect(student.locator("#application-status")).to_have_text("审核通过")
        expect(student.locator("#application-events")).to_contain_text("毕业证书照片不清晰")
        with schema_context("sichuan"):
            application = Application.objects.get(person=person)
            assert (application.status, application.fee_fen) == ("approved", 92000)
            assert list(application.events.values_list("action", flat=True)) == [
                "submit",
                "reject",
                "resubmit",
                "approve",
            ]
    finally:
        cleanup("sichuan", users=[person, operator], sessions=[session], companies=[company])


HENAN_FIRST_STEPS = [("notice", "#pledge_notice"), ("status", None), ("city", None)]


def test_henan_wizard_resumes_after_leaving_prints_and_the_institution_confirms(
    browser, browser_context_args, live_url
):
    from registration.models import Application
    from shared.accounts.models import User, UserKind

    connection.set_schema_to_public()
    person = make_person("henan", name="王芳", birth="19950505")
    upload_photo("henan", person, photo_jpeg())
    session = make_session("henan", "new_certificate", institution_code="zz_jianshe", unit_code="zhengzhou")
    with schema_context("henan"):
        institution = User.objects.create_user(
            f"jg{session.code}",
            None,
            kind=UserKind.INSTITUTION,
            name="郑州市建设职业培训中心",
            institution_code="zz_jianshe",
        )
    try:
        page = logged_in(browser, browser_context_args, live_url, "henan.localhost", person)
        page.goto(live_url("henan.localhost", "/training/"))
        page.click("#wizard-new_certificate")
        expect(page.locator("#step-title")).to_contain_text("告知承诺书")
        page.click("#wizard-next")
        expect(page.locator(".pledge .error")).to_contain_text("请阅读并同意")
        page.check("#pledge_notice")
        page.click("#wizard-next")
        expect(page.locator("#step-title")).to_contain_text("选择本人就业状态")
        page.select_option("#id_employment_status", "employed")
        page.click("#wizard-next")
        page.select_option("#id_city", "zhengzhou")
        page.click("#wizard-next")
        expect(page.locator("#step-title")).to_contain_text("选择培训机构")

        # Leave and come back later: the draft resumes at the step after the last one saved.
        page.goto(live_url("henan.localhost", "/"))
        page.goto(live_url("henan.localhost", "/training/"))
        expect(page.locator("#wizard-new_certificate")).to_have_text("继续填写（已保存草稿）")
        page.click("#wizard-new_certificate")
        expect(page.locator("#step-title")).to_contain_text("选择培训机构")
        # Only the chosen city's institutions are offered.
        options = page.locator("#id_institution option").all_inner_texts()
        assert "郑州市建设职业培训中心" in options and all("开封" not in option for option in options)
        page.select_option("#id_institution", "zz_jianshe")
        page.fill("#id_employer", "郑州建工集团")
        page.select_option("#id_education", "college")
        page.click("#wizard-next")
        page.select_option("#id_major_post", "standards")
        page.click("#wizard-next")
        page.fill("#id_resume", "2018—2026 郑州建工集团 施工员")
        page.click("#wizard-next")
        page.check("#pledge_personal_pledge")
        page.click("#wizard-next")
        for key in ("id_front", "id_back", "diploma"):
            page.set_input_files(f"#id_doc_{key}", files=[_file(f"{key}.jpg")])
            page.click("#wizard-next")
        expect(page.locator("#step-title")).to_contain_text("提交并打印表格")
        expect(page.locator("table.summary")).to_contain_text("标准员")
        page.click("#wizard-submit")
        expect(page.locator("#application-status")).to_have_text("待机构确认")
        printed = page.evaluate(
            """async (url) => {
                const response = await fetch(url);
                const head = new Uint8Array(await response.arrayBuffer()).slice(0, 4);
                return [response.status, response.headers.get("content-type"), String.fromCharCode(...head)];
            }""",
            page.locator("#print-form").get_attribute("href"),
        )
        assert printed == [200, "application/pdf", "%PDF"]
        expect(page.locator("#withdraw")).to_be_visible()

        confirmer = logged_in(browser, browser_context_args, live_url, "henan.localhost", institution)
        confirmer.goto(live_url("henan.localhost", "/review/"))
        confirmer.locator(".application-row", has_text="王芳").locator("text=详情").click()
        expect(confirmer.locator("#documents")).to_contain_text("身份证正面扫描件")
        confirmer.click("#decide button:has-text('通过') >> nth=0")

        page.reload()
        expect(page.locator("#application-status")).to_have_text("机构已确认")
        # Confirmed by the institution: it can no longer be deleted.
        expect(page.locator("#withdraw")).to_have_count(0)
        with schema_context("henan"):
            application = Application.objects.get(person=person)
            assert application.status == "association_review"
    finally:
        cleanup("henan", users=[person, institution], sessions=[session])


def test_shanghai_company_enrols_its_people_once_per_course(browser, browser_context_args, live_url):
    from registration.models import Application

    connection.set_schema_to_public()
    company, operator = make_company("shanghai", "上海浏览器设计院")
    ready = make_person("shanghai", name="李雷", company=company, birth="19880808")
    no_photo = make_person("shanghai", name="韩梅梅", company=company, birth="19890909")
    self_enrolled = make_person("shanghai", name="林涛", company=company, birth="19870707")
    for person in (ready, self_enrolled):
        upload_photo("shanghai", person, photo_jpeg())
    session = make_session("shanghai", "zhuanxiang", name="专项培训浏览器班")
    try:
        student = logged_in(browser, browser_context_args, live_url, "shanghai.localhost", self_enrolled)
        student.goto(live_url("shanghai.localhost", "/training/"))
        row = student.locator(f"tr[data-session='{session.code}']")
        expect(row.locator(".my-status")).to_have_text("待申请")
        row.locator("a:text-is('报名')").click()
        student.fill("#id_shipping_address", "上海市徐汇区漕溪北路 1 号")
        student.click("#submit-application")
        expect(student.locator("#application-status")).to_have_text("通过")
        student.goto(live_url("shanghai.localhost", "/training/"))
        expect(student.locator(f"tr[data-session='{session.code}'] .my-status")).to_have_text("通过")

        page = logged_in(browser, browser_context_args, live_url, "shanghai.localhost", operator)
        page.goto(live_url("shanghai.localhost", "/training/"))
        page.locator(f"tr[data-session='{session.code}'] >> text=单位报名").click()
        expect(page.locator("#enrol-people")).to_contain_text("林涛")
        expect(page.locator(f"#person-{self_enrolled.pk}")).to_have_count(0)  # already enrolled: not offered
        page.check(f"#person-{ready.pk}")
        page.check(f"#person-{no_photo.pk}")
        page.click("#enrol-submit")
        expect(page.locator("#enrol-refusals")).to_contain_text("请填写物流信息")
        page.fill("#id_shipping_address", "上海市黄浦区南京东路 100 号")
        page.check(f"#person-{ready.pk}")
        page.check(f"#person-{no_photo.pk}")
        page.click("#enrol-submit")
        expect(page.locator(".messages")).to_contain_text("已报名 1 人")
        expect(page.locator("#enrol-refusals")).to_contain_text("韩梅梅：报名前须先上传1寸证件照")
        with schema_context("shanghai"):
            rows = dict(Application.objects.filter(session=session).values_list("person__name", "channel"))
            assert rows == {"李雷": "company", "林涛": "self"}
    finally:
        cleanup(
            "shanghai",
            users=[ready, no_photo, self_enrolled, operator],
            sessions=[session],
            companies=[company],
        )


def test_gansu_trainings_are_company_enrolled_and_for_members_only(browser, browser_context_args, live_url):
    from registration.models import Application

    connection.set_schema_to_public()
    company, operator = make_company("gansu", "兰州浏览器监理")
    person = make_person("gansu", name="马超", company=company, birth="19860606")
    session = make_session("gansu", "jianli_yewu", name="监理业务培训浏览器班")
    try:
        student = logged_in(browser, browser_context_args, live_url, "gansu.localhost", person)
        student.goto(live_url("gansu.localhost", "/training/"))
        row = student.locator(f"tr[data-session='{session.code}']")
        expect(row).to_contain_text("0.00")  # members train free
        expect(row.locator("a:text-is('报名')")).to_have_count(0)  # company_only: no self-enrolment link
        refused = student.goto(live_url("gansu.localhost", f"/training/sessions/{session.pk}/apply/"))
        assert refused.status == 403
        expect(student.locator("#refusal")).to_have_text(
            "「监理业务培训」只能由所在单位统一报名，个人不能自行报名"
        )

        page = logged_in(browser, browser_context_args, live_url, "gansu.localhost", operator)
        page.goto(live_url("gansu.localhost", f"/training/sessions/{session.pk}/enrol/"))
        page.check(f"#person-{person.pk}")
        page.click("#enrol-submit")
        expect(page.locator("#enrol-refusals")).to_contain_text("马超：「监理业务培训」仅限会员报名")
        with schema_context("gansu"):
            assert not Application.objects.filter(session=session).exists()
    finally:
        cleanup("gansu", users=[person, operator], sessions=[session], companies=[company])


MINIAPP_ANSWERS = {
    "region": "east",
    "education": "bachelor",
    "work_years": "one_year_or_more",
    "major": "交通土建",
    "subjects": ["theory", "quality_safety"],
    "exam_type": "normal",
    "industry": "highway",
    "employer": "某公路监理有限公司",
    "certificate_address": "兰州市城关区天水南路 1 号",
    "materials_address_choice": "same",
    "need_invoice": "no",
}


def test_miniapp_student_applies_through_the_api_staff_reject_then_approve_in_the_browser(
    browser, browser_context_args, live_url
):
    """The mini-program is the student's client (its REST API, WeChat login faked at WeChat's HTTP
    boundary); association staff review in the browser. Rejected → reason seen → documents re-uploaded
    and resubmitted → approved → 待支付."""
    import responses
    from django.test import override_settings
    from responses import matchers

    from registration.models import Application
    from shared.accounts.models import User
    from tests.conftest import host_client

    connection.set_schema_to_public()
    session = make_session("miniapp", "jianli_yewu", name="2026年第一期（东部）", unit_code="east")
    appid, secret, openid = "wx_miniprogram_appid", "mp_secret_0123456789", f"oMini{session.code}"
    client = host_client("miniapp.localhost")
    student = None
    try:
        with (
            override_settings(WECHAT_MINIPROGRAM_APPID=appid, WECHAT_MINIPROGRAM_SECRET=secret),
            responses.RequestsMock() as wechat,
        ):
            wechat.add(
                responses.GET,
                "https://api.weixin.qq.com/sns/jscode2session",
                json={"openid": openid, "session_key": "tiihtNczf5v6AKRyjwEUhQ=="},
                match=[
                    matchers.query_param_matcher(
                        {
                            "appid": appid,
                            "secret": secret,
                            "js_code": "code-1",
                            "grant_type": "authorization_code",
                        }
                    )
                ],
            )
            ticket = client.post(
                "/api/v1/auth/wechat/", {"code": "code-1"}, content_type="application/json"
            ).json()["wechat_ticket"]
        from tests.ids import valid_id_number

        registered = client.post(
            "/api/v1/auth/wechat/register/",
            {
                "wechat_ticket": ticket,
                "name": "陈静",
                "id_number": valid_id_number("620102", "19920202", session.code[-3:]),
                "phone": f"1370{session.code[1:]}",
            },
            content_type="application/json",
        )
        assert registered.status_code == 201, registered.content
        token = registered.json()["token"]
        with schema_context("miniapp"):
            student = User.objects.get(wechat_openid=openid)
        auth = {"HTTP_AUTHORIZATION": f"Token {token}"}

        listed = client.get("/api/v1/sessions/?program=jianli_yewu", **auth).json()
        listed = listed["results"] if isinstance(listed, dict) else listed
        assert session.pk in [item["id"] for item in listed]
        body = {"answers": MINIAPP_ANSWERS, "pledges": {}, "with_materials": None}
        refused = client.post(
            f"/api/v1/sessions/{session.pk}/apply/",
            body,
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="a1",
            **auth,
        )
        assert refused.status_code == 422
        assert {problem["code"] for problem in refused.json()["problems"]} == {"document_required"}
        wrong_size = client.post(
            "/api/v1/programs/jianli_yewu/documents/photo/", {"file": _upload("p.jpg", photo_jpeg())}, **auth
        )
        assert wrong_size.status_code == 422 and "658×926" in wrong_size.json()["message"]
        for key, data in (
            ("photo", photo_jpeg((658, 926))),
            ("education_proof", photo_jpeg()),
            ("work_proof", photo_jpeg()),
        ):
            uploaded = client.post(
                f"/api/v1/programs/jianli_yewu/documents/{key}/",
                {"file": _upload(f"{key}.jpg", data)},
                **auth,
            )
            assert uploaded.status_code == 201, uploaded.content
        applied = client.post(
            f"/api/v1/sessions/{session.pk}/apply/",
            body,
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="a2",
            **auth,
        )
        assert applied.status_code == 201, applied.content
        assert applied.json()["status_label"] == "审核中"
        application_id = applied.json()["id"]

        with schema_context("miniapp"):
            admin = User.objects.get(username="admin")
        staff = logged_in(browser, browser_context_args, live_url, "miniapp.localhost", admin)
        staff.goto(live_url("miniapp.localhost", "/review/"))
        staff.locator(".application-row", has_text="陈静").locator("text=详情").click()
        expect(staff.locator("#documents")).to_contain_text("一寸白底免冠电子版证件照")
        staff.fill("#reject-reason", "工作证明未加盖单位公章")
        staff.click("button:has-text('不通过')")
        expect(staff.locator(".messages")).to_contain_text("陈静")

        seen = client.get(f"/api/v1/applications/{application_id}/", **auth).json()
        assert (seen["status_label"], seen["rejection_reason"], seen["resubmit_allowed"]) == (
            "审核未通过",
            "工作证明未加盖单位公章",
            True,
        )
        client.post(
            "/api/v1/programs/jianli_yewu/documents/work_proof/",
            {"file": _upload("stamped.jpg", photo_jpeg())},
            **auth,
        )
        again = client.post(
            f"/api/v1/applications/{application_id}/resubmit/", body, content_type="application/json", **auth
        )
        assert again.status_code == 200 and again.json()["status_label"] == "审核中"

        staff.goto(live_url("miniapp.localhost", "/review/"))
        staff.locator(".application-row", has_text="陈静").locator("text=详情").click()
        staff.click("#decide button:has-text('通过') >> nth=0")
        mine = client.get("/api/v1/applications/", **auth).json()
        rows = mine["results"] if isinstance(mine, dict) else mine
        assert [(row["id"], row["status_label"]) for row in rows] == [(application_id, "待支付")]
        with schema_context("miniapp"):
            assert Application.objects.get(pk=application_id).fee_fen == 98000
    finally:
        cleanup("miniapp", users=[student] if student else [], sessions=[session])


def _upload(name: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="image/jpeg")
