"""The staff editor's pure parts: one section replaced as TOML, the whole validated, the diff; field help."""

import pytest

from tenant_configs.editing import rules_sections, section_apply, section_field_help, section_to_toml
from tenant_configs.loader import RulesFileError, load_rules_file
from tests.conftest import CONFIGS


@pytest.fixture(scope="module")
def sichuan():
    return load_rules_file(CONFIGS / "sichuan.toml")


def test_every_section_round_trips_through_its_own_toml(sichuan):
    for section, _label in rules_sections():
        edit = section_apply(
            current=sichuan, section=section, toml_text=section_to_toml(sichuan, section), source="t"
        )
        assert edit.rules == sichuan
        assert edit.changes == []


def test_a_changed_value_is_applied_and_reported(sichuan):
    text = section_to_toml(sichuan, "billing").replace(
        "online_payment_deadline_hours = 2", "online_payment_deadline_hours = 6"
    )

    edit = section_apply(current=sichuan, section="billing", toml_text=text, source="t")

    assert edit.rules.billing.online_payment_deadline_hours == 6
    assert [(c.key_path, c.old, c.new) for c in edit.changes] == [
        ("billing.online_payment_deadline_hours", 2, 6)
    ]


@pytest.mark.parametrize(
    ("section", "text", "key_path"),
    [
        ("billing", '[billing]\npayer = "everyone"\n', "billing.payer"),
        ("billing", '[branding]\nsite_title = "x"\n', "branding"),
        ("billing", "[billing\n", "billing"),
        ("association", '[association]\nslug = "henan"\n', "association.slug"),
        ("nosuch", "", "nosuch"),
    ],
)
def test_bad_section_text_is_refused_with_its_key_path(sichuan, section, text, key_path):
    with pytest.raises(RulesFileError) as error:
        section_apply(current=sichuan, section=section, toml_text=text, source="表单")

    assert error.value.problems[0].key_path.startswith(key_path)


def test_field_help_lists_every_key_with_its_allowed_values():
    rows = {row.key_path: row for row in section_field_help("billing")}

    assert rows["billing.payer"].allowed == "company / student / company_or_student / none"
    assert rows["billing.payer"].description
    assert "billing.offline_transfer.deadline_hours" in rows
    assert any(
        path.startswith("programs[].documents[]")
        for path in (r.key_path for r in section_field_help("programs"))
    )
