"""rules_diff: the old → new changes recorded in the audit log when a rules version is published."""

from pathlib import Path
from typing import Any

import pytest

from tenant_configs.diff import RulesChange, rules_diff
from tenant_configs.loader import load_rules_file, load_rules_text, rules_to_data

RULES_DIR = Path(__file__).resolve().parents[2] / "tenant_configs"


@pytest.mark.parametrize(
    ("old", "new", "changes"),
    [
        pytest.param({}, {}, [], id="both-empty"),
        pytest.param({"a": {"b": 1}}, {"a": {"b": 1}}, [], id="equal"),
        pytest.param(
            {"billing": {"payer": "company"}},
            {"billing": {"payer": "student"}},
            [RulesChange("billing.payer", "company", "student")],
            id="scalar-changed",
        ),
        pytest.param(
            {"billing": {"payer": "company"}},
            {"billing": {"payer": "company", "receipt_email_required": True}},
            [RulesChange("billing.receipt_email_required", None, True)],
            id="key-added",
        ),
        pytest.param(
            {"billing": {"payer": "company", "split": {"separate_materials": True}}},
            {"billing": {"payer": "company"}},
            [RulesChange("billing.split", {"separate_materials": True}, None)],
            id="table-removed",
        ),
        pytest.param(
            {"x": 1},
            {"x": True},
            [RulesChange("x", 1, True)],
            id="one-and-true-differ",
        ),
        pytest.param(
            {"x": 1},
            {"x": 1.0},
            [RulesChange("x", 1, 1.0)],
            id="integer-and-float-differ",
        ),
        pytest.param(
            {"x": {"a": 1}},
            {"x": "flat"},
            [RulesChange("x", {"a": 1}, "flat")],
            id="table-replaced-by-value",
        ),
        pytest.param(
            {"billing": {"channels": ["wechat_native", "alipay_qr"]}},
            {"billing": {"channels": ["wechat_native", "alipay_qr", "offline_transfer"]}},
            [
                RulesChange(
                    "billing.channels",
                    ["wechat_native", "alipay_qr"],
                    ["wechat_native", "alipay_qr", "offline_transfer"],
                )
            ],
            id="list-of-values-compared-whole",
        ),
        pytest.param(
            {"sizes": [[295, 413]]},
            {"sizes": [[295, 413], [658, 926]]},
            [RulesChange("sizes", [[295, 413]], [[295, 413], [658, 926]])],
            id="list-of-lists-compared-whole",
        ),
        pytest.param(
            {
                "programs": [
                    {"code": "a", "price": {"fee_fen": 100}},
                    {"code": "b", "price": {"fee_fen": 200}},
                ]
            },
            {
                "programs": [
                    {"code": "a", "price": {"fee_fen": 100}},
                    {"code": "b", "price": {"fee_fen": 250}},
                ]
            },
            [RulesChange("programs[code=b].price.fee_fen", 200, 250)],
            id="table-item-matched-by-code",
        ),
        pytest.param(
            {"programs": [{"code": "a", "name": "甲"}, {"code": "b", "name": "乙"}]},
            {
                "programs": [
                    {"code": "new", "name": "新"},
                    {"code": "a", "name": "甲"},
                    {"code": "b", "name": "乙"},
                ]
            },
            [RulesChange("programs[code=new]", None, {"code": "new", "name": "新"})],
            id="insert-at-front-is-one-addition",
        ),
        pytest.param(
            {"programs": [{"code": "a", "name": "甲"}, {"code": "b", "name": "乙"}]},
            {"programs": [{"code": "b", "name": "乙"}]},
            [RulesChange("programs[code=a]", {"code": "a", "name": "甲"}, None)],
            id="removal",
        ),
        pytest.param(
            {"steps": [{"key": "notice", "title": "告知书"}, {"key": "status", "title": "状态"}]},
            {"steps": [{"key": "status", "title": "就业状态"}, {"key": "notice", "title": "告知书"}]},
            [
                RulesChange("steps", ["notice", "status"], ["status", "notice"]),
                RulesChange("steps[key=status].title", "状态", "就业状态"),
            ],
            id="reorder-reported-with-identities-then-changes",
        ),
        pytest.param(
            {"kinds": [{"code": "m", "kind": "membership"}, {"code": "t", "kind": "training"}]},
            {"kinds": [{"code": "m", "kind": "membership"}, {"code": "t", "kind": "qualification"}]},
            [RulesChange("kinds[code=t].kind", "training", "qualification")],
            id="code-preferred-over-kind",
        ),
        pytest.param(
            {"kinds": [{"kind": "test_card", "title": "测试证"}]},
            {"kinds": [{"kind": "test_card", "title": "测试证（机考）"}]},
            [RulesChange("kinds[kind=test_card].title", "测试证", "测试证（机考）")],
            id="matched-by-kind-without-code",
        ),
        pytest.param(
            {"choices": [{"value": "normal", "label": "正常考试"}]},
            {"choices": [{"value": "normal", "label": "正常考试"}, {"value": "retake", "label": "补考"}]},
            [RulesChange("choices[value=retake]", None, {"value": "retake", "label": "补考"})],
            id="choices-matched-by-value",
        ),
        pytest.param(
            {"rows": [{"a": 1}, {"a": 2}]},
            {"rows": [{"a": 1}, {"a": 3}, {"a": 4}]},
            [RulesChange("rows[1].a", 2, 3), RulesChange("rows[2]", None, {"a": 4})],
            id="tables-without-identity-matched-by-index",
        ),
        pytest.param(
            {"rows": [{"code": "x"}, {"code": "x"}]},
            {"rows": [{"code": "x"}, {"code": "y"}]},
            [RulesChange("rows[1].code", "x", "y")],
            id="duplicate-identities-fall-back-to-index",
        ),
        pytest.param(
            {"rows": []},
            {"rows": [{"code": "x"}]},
            [RulesChange("rows[code=x]", None, {"code": "x"})],
            id="first-item-of-empty-list",
        ),
    ],
)
def test_rules_diff(old: dict[str, Any], new: dict[str, Any], changes: list[RulesChange]) -> None:
    assert rules_diff(old, new) == changes


def test_first_publication_lists_every_section_as_added() -> None:
    payload = rules_to_data(load_rules_file(RULES_DIR / "gansu.toml"))

    changes = rules_diff({}, payload)

    assert [change.key_path for change in changes] == list(payload)
    assert all(change.old is None for change in changes)
    assert changes[0].new == payload["association"]


def test_diff_of_two_real_rules_versions() -> None:
    old_rules = load_rules_file(RULES_DIR / "sichuan.toml")
    text = (RULES_DIR / "sichuan.toml").read_text(encoding="utf-8")
    edited = text.replace("deadline_hours = 24", "deadline_hours = 48").replace(
        'channels = ["wechat_native", "alipay_qr", "offline_transfer"]',
        'channels = ["wechat_native", "offline_transfer"]',
    )
    edited = edited.replace("fee_fen = 80000", "fee_fen = 90000")
    new_rules = load_rules_text(edited)

    changes = rules_diff(rules_to_data(old_rules), rules_to_data(new_rules))

    assert changes == [
        RulesChange("programs[code=jianli_2022].price.fee_fen", 80000, 90000),
        RulesChange(
            "billing.channels",
            ["wechat_native", "alipay_qr", "offline_transfer"],
            ["wechat_native", "offline_transfer"],
        ),
        RulesChange("billing.offline_transfer.deadline_hours", 24, 48),
    ]


def test_diff_is_pure_and_repeatable() -> None:
    old = {"programs": [{"code": "a", "fields": [{"key": "x", "label": "甲"}]}]}
    new = {"programs": [{"code": "a", "fields": [{"key": "x", "label": "乙"}]}]}
    old_copy = {"programs": [{"code": "a", "fields": [{"key": "x", "label": "甲"}]}]}

    first = rules_diff(old, new)
    second = rules_diff(old, new)

    assert first == second == [RulesChange("programs[code=a].fields[key=x].label", "甲", "乙")]
    assert old == old_copy
