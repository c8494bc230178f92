"""Editing one section of the rules as TOML text: pure, no database."""

import tomllib
import typing
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

import tomli_w
from pydantic import BaseModel

from tenant_configs.diff import RulesChange, rules_diff
from tenant_configs.loader import (
    RulesFileError,
    RulesProblem,
    item_type_of,
    load_rules_data,
    model_class_of,
    rules_to_data,
)
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


@dataclass(frozen=True)
class FieldHelp:
    key_path: str
    description: str
    allowed: str
    default: str


def _allowed_values(annotation: Any) -> str:
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, Enum):
            return " / ".join(str(member.value) for member in candidate)
        if typing.get_origin(candidate) is Literal:
            return " / ".join(str(value) for value in typing.get_args(candidate))
    return ""


def section_field_help(section: str) -> list[FieldHelp]:
    """Every key of a section with its description, allowed values and default, from the schema itself."""
    rows: list[FieldHelp] = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            path = f"{prefix}.{name}"
            nested = model_class_of(field.annotation)
            item = item_type_of(field.annotation)
            item_model = model_class_of(item) if item is not None else None
            if nested is not None:
                walk(nested, path)
            elif item_model is not None:
                rows.append(FieldHelp(f"{path}[]", field.description or "", "", "[]"))
                walk(item_model, f"{path}[]")
            else:
                default = field.get_default(call_default_factory=True)
                allowed = _allowed_values(item if item is not None else field.annotation)
                rows.append(FieldHelp(path, field.description or "", allowed, _show_default(default)))

    annotation = Rules.model_fields[section].annotation
    model = model_class_of(annotation) or model_class_of(item_type_of(annotation))
    if model is not None:
        walk(model, section + ("[]" if item_type_of(annotation) is not None else ""))
    return rows


def _show_default(value: Any) -> str:
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_show_default(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
