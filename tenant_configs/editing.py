"""Editing one section of the rules as TOML text: pure, no database."""

import tomllib
from dataclasses import dataclass

import tomli_w

from tenant_configs.diff import RulesChange, rules_diff
from tenant_configs.loader import RulesFileError, RulesProblem, load_rules_data, rules_to_data
from tenant_configs.schema import Rules

SECTION_LABELS = {
    "association": "协会信息",
    "branding": "站点外观",
    "identity": "账户与登录",
    "organizations": "组织机构",
    "programs": "培训项目",
    "applications": "报名状态",
    "billing": "缴费与发票",
    "membership": "会员",
    "learning": "在线学习",
    "certificates": "证书与考试",
}


def rules_sections() -> list[tuple[str, str]]:
    return [(name, SECTION_LABELS.get(name, name)) for name in Rules.model_fields]


def section_to_toml(rules: Rules, section: str) -> str:
    data = rules_to_data(rules)
    value = data[section]
    # A list section (programs) is written as an array of tables under its own name.
    return tomli_w.dumps({section: value})


@dataclass(frozen=True)
class SectionEdit:
    rules: Rules
    changes: list[RulesChange]


def section_apply(*, current: Rules, section: str, toml_text: str, source: str) -> SectionEdit:
    """Replace `section` of `current` with the TOML text and validate the whole result.

    Raises RulesFileError (with the same problem format as `tenant_config check`) when the text is
    not TOML, holds another section, or makes the rules invalid.
    """
    if section not in Rules.model_fields:
        raise RulesFileError([RulesProblem(source, section, "a known section", section)])
    try:
        parsed = tomllib.loads(toml_text)
    except tomllib.TOMLDecodeError as error:
        raise RulesFileError([RulesProblem(source, section, "valid TOML", str(error))]) from error
    others = sorted(set(parsed) - {section})
    if others:
        raise RulesFileError(
            [RulesProblem(source, key, f"only the [{section}] section in this form", key) for key in others]
        )
    data = rules_to_data(current)
    data[section] = parsed.get(section, {} if isinstance(data[section], dict) else [])
    rules = load_rules_data(data, source=source)
    if rules.association.slug != current.association.slug:
        raise RulesFileError(
            [
                RulesProblem(
                    source, "association.slug", repr(current.association.slug), repr(rules.association.slug)
                )
            ]
        )
    return SectionEdit(rules=rules, changes=rules_diff(rules_to_data(current), rules_to_data(rules)))
