"""Staff open the rules' programs and add sessions (期次/班次); bad input changes nothing."""

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from registration.models import Program, TrainingSession
from tests.conftest import host_client, staff_client
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db

SESSION = {
    "code": "2022-01",
    "name": "第一期",
    "unit_code": "jianli",
    "capacity": "200",
    "opens_at": "2026-12-01T09:00",
    "closes_at": "2026-12-20T17:00",
    "location": "成都",
    "fee_yuan": "",
}


@pytest.fixture
def academic(tenant_a):
    with schema_context("sichuan"):
        StaffFactory(username="jiaowu", staff_roles=["academic"])
    return staff_client("sichuan.localhost", "jiaowu")


def _program(client) -> Program:
    client.post("/console/programs/", {"code": "jianli_2022"})
    with schema_context("sichuan"):
        return Program.objects.get(code="jianli_2022")


def test_academic_staff_open_a_program_and_add_a_session_priced_by_the_rules(academic):
    from tenant_configs.selectors import rules_current

    program = _program(academic)
    response = academic.post(f"/console/programs/{program.pk}/", SESSION)

    assert response.status_code == 302
    with schema_context("sichuan"):
        price = rules_current().program("jianli_2022").price
        session = TrainingSession.objects.get(program=program)
        assert (session.code, session.capacity, session.unit_code) == ("2022-01", 200, "jianli")
        assert (session.fee_fen, session.materials_fee_fen) == (price.fee_fen, price.materials_fee_fen)
        assert timezone.localtime(session.closes_at).isoformat() == "2026-12-20T17:00:00+08:00"
    assert "第一期" in academic.get(f"/console/programs/{program.pk}/").content.decode()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"closes_at": "2026-11-30T09:00"}, "报名结束时间必须晚于开始时间"),
        ({"unit_code": "nosuch"}, "nosuch"),
        ({"capacity": "-1"}, "0"),
        ({"fee_yuan": "12.345"}, "最多两位小数"),
        ({"code": ""}, "必填项"),
    ],
)
def test_bad_session_input_is_refused_and_nothing_is_created(academic, changes, message):
    program = _program(academic)

    response = academic.post(f"/console/programs/{program.pk}/", {**SESSION, **changes})

    assert response.status_code == 200 and message in response.content.decode()
    with schema_context("sichuan"):
        assert not TrainingSession.objects.exists()


def test_a_session_code_is_unique_within_a_program(academic):
    program = _program(academic)
    academic.post(f"/console/programs/{program.pk}/", SESSION)

    again = academic.post(f"/console/programs/{program.pk}/", SESSION)

    assert "该项目已有这个班次编号" in again.content.decode()
    with schema_context("sichuan"):
        assert TrainingSession.objects.count() == 1


def test_only_programs_of_the_rules_can_be_opened_and_only_by_academic_staff(academic, tenant_b):
    academic.post("/console/programs/", {"code": "invented"})
    finance = staff_client("sichuan.localhost", "finance")
    program = _program(academic)

    assert finance.get("/console/programs/").status_code == 403
    assert host_client("sichuanb.localhost").get(f"/console/programs/{program.pk}/").status_code == 302
    assert staff_client("sichuanb.localhost").get(f"/console/programs/{program.pk}/").status_code == 404
    with schema_context("sichuan"):
        assert list(Program.objects.values_list("code", flat=True)) == ["jianli_2022"]
