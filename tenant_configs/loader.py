"""Reading and writing rules files, and turning every kind of mistake into one readable line.

A problem line reads `{file}: {key_path}: expected {expected}, found {found}`, for example
`sichuan.toml: billing.invoice_cap.cap_fen: expected an integer, found 10000.5`. Staff editing the rules in
the console and operators onboarding a province see the same lines.
"""

from __future__ import annotations

import re
import tomllib
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import BaseModel, ValidationError

from tenant_configs.schema import NOTHING, Rules, RulesContradiction, format_key_path, show_value

__all__ = [
    "RulesFileError",
    "RulesProblem",
    "load_rules_data",
    "load_rules_file",
    "load_rules_text",
    "rules_to_data",
    "rules_to_toml",
]


@dataclass(frozen=True)
class RulesProblem:
    file: str
    key_path: str
    expected: str
    found: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key_path}: expected {self.expected}, found {self.found}"


class RulesFileError(ValueError):
    """A rules file was refused; `problems` lists every mistake found (not just the first)."""

    def __init__(self, problems: Sequence[RulesProblem]):
        self.problems: tuple[RulesProblem, ...] = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)


# ---------------------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------------------


def load_rules_file(path: str | Path, *, require_identity: bool = False) -> Rules:
    """Load and validate one rules file; the problems name the file as it was given."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        problem = RulesProblem(source, "(file)", "a readable UTF-8 TOML file", _describe_os_error(error))
        raise RulesFileError([problem]) from error
    return load_rules_text(text, source=source, require_identity=require_identity)


def load_rules_text(text: str, *, source: str = "<text>", require_identity: bool = False) -> Rules:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RulesFileError([_syntax_problem(source, text, error)]) from error
    return load_rules_data(data, source=source, require_identity=require_identity)


def load_rules_data(data: dict[str, Any], *, source: str, require_identity: bool = False) -> Rules:
    """Validate already-parsed rules (a TOML document or a stored JSON payload).

    `require_identity=True` is for onboarding: the association must then have a slug and a name.
    """
    if not isinstance(data, dict):
        raise RulesFileError([RulesProblem(source, "(file)", "a table of rules", show_value(data))])
    try:
        rules = Rules.model_validate(data)
    except ValidationError as error:
        raise RulesFileError(_problems_from_validation(source, error)) from None
    if require_identity:
        missing = [name for name in ("slug", "name") if getattr(rules.association, name) == ""]
        if missing:
            raise RulesFileError(
                [RulesProblem(source, f"association.{name}", "a value", NOTHING) for name in missing]
            )
    return rules


def _describe_os_error(error: OSError | UnicodeDecodeError) -> str:
    if isinstance(error, FileNotFoundError):
        return "no such file"
    if isinstance(error, UnicodeDecodeError):
        return f"bytes that are not UTF-8 at offset {error.start}"
    return error.strerror or type(error).__name__


_TOML_POSITION = re.compile(
    r"^(?P<message>.*?) \(at (?:line (?P<line>\d+), column (?P<column>\d+)|end of document)\)$"
)


def _syntax_problem(source: str, text: str, error: tomllib.TOMLDecodeError) -> RulesProblem:
    # Python 3.11's tomllib only puts the position into the message ("... (at line 3, column 7)").
    message = str(error)
    match = _TOML_POSITION.match(message)
    if match is None:
        return RulesProblem(source, "(file)", "valid TOML", message)
    reason = match["message"]
    expected = f"valid TOML ({reason[:1].lower()}{reason[1:]})"
    lines = text.split("\n")
    if match["line"] is None:
        return RulesProblem(
            source, f"line {len(lines)}, column {len(lines[-1]) + 1}", expected, "end of document"
        )
    line_number, column = int(match["line"]), int(match["column"])
    rest = lines[line_number - 1][column - 1 :].strip() if line_number <= len(lines) else ""
    found = show_value(rest, limit=40) if rest else "end of line"
    return RulesProblem(source, f"line {line_number}, column {column}", expected, found)


# What a pydantic error type means, in words a rules author understands.
_EXPECTED_BY_TYPE: dict[str, str] = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "float_type": "a number",
    "float_parsing": "a number",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "missing": "a value",
}


def _problems_from_validation(source: str, error: ValidationError) -> list[RulesProblem]:
    problems: list[RulesProblem] = []
    for item in error.errors(include_url=False):
        location = tuple(item["loc"])
        context = item.get("ctx") or {}
        cause = context.get("error")
        if isinstance(cause, RulesContradiction):
            for contradiction in cause.contradictions:
                problems.append(
                    RulesProblem(
                        source,
                        format_key_path(location + contradiction.path),
                        contradiction.expected,
                        contradiction.found,
                    )
                )
            continue
        expected, found = _describe_error(item, location)
        problems.append(RulesProblem(source, format_key_path(location), expected, found))
    return problems


def _describe_error(item: Any, location: tuple[str | int, ...]) -> tuple[str, str]:
    error_type: str = item["type"]
    context: dict[str, Any] = item.get("ctx") or {}
    found = show_value(item["input"])
    if error_type == "extra_forbidden":
        allowed = _allowed_keys(location[:-1])
        return f"no such key (allowed: {', '.join(allowed)})", str(location[-1])
    if error_type == "missing":
        return "a value", NOTHING
    if error_type in _EXPECTED_BY_TYPE:
        return _EXPECTED_BY_TYPE[error_type], found
    if error_type in ("enum", "literal_error"):
        return f"one of {context['expected']}", found
    if error_type == "string_pattern_mismatch":
        return f"text matching {context['pattern']}", found
    if error_type in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        symbol = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}
        bound = next(iter(context.values()))
        return f"a number {symbol[error_type]} {bound}", found
    if error_type == "too_short":
        return f"at least {context['min_length']} items", found
    if error_type == "too_long":
        return f"at most {context['max_length']} items", found
    if error_type == "value_error":
        return str(context.get("error", item["msg"])), found
    return item["msg"][:1].lower() + item["msg"][1:], found


def _allowed_keys(location: tuple[str | int, ...]) -> list[str]:
    """The keys of the table at `location`, found by walking the schema's field annotations."""
    annotation: Any = Rules
    for part in location:
        model = model_class_of(annotation)
        if isinstance(part, str):
            if model is None or part not in model.model_fields:
                return []
            annotation = model.model_fields[part].annotation
        else:
            annotation = item_type_of(annotation)
    model = model_class_of(annotation)
    return list(model.model_fields) if model is not None else []


def model_class_of(annotation: Any) -> type[BaseModel] | None:
    for candidate in _union_members(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def item_type_of(annotation: Any) -> Any:
    for candidate in _union_members(annotation):
        arguments = typing.get_args(candidate)
        if typing.get_origin(candidate) in (tuple, list) and arguments:
            return arguments[0]
    return None


def _union_members(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


# ---------------------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------------------


def rules_to_data(rules: Rules) -> dict[str, Any]:
    """JSON-serialisable form, as stored in a published rules version; `load_rules_data` reads it back.

    Unset optional tables (a missing photo spec, a field without `shown_if`) are left out rather than
    written as null, so the data is also valid TOML data (TOML has no null) and loads back to equal rules.
    """
    return rules.model_dump(mode="json", exclude_none=True)


def rules_to_toml(rules: Rules) -> str:
    """The normalised rules file: every setting spelled out, in schema order."""
    return tomli_w.dumps(rules_to_data(rules))
