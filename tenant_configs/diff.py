"""What changed between two versions of an association's rules (their JSON data), for the audit log.

Key paths use the loader's notation, with one addition: an item of a list of tables that has an identity
field is addressed by it, `programs[code=sichuan_2022].price.fee_fen`, so that inserting a program does not
make every later program look changed. Lists of plain values (`billing.channels`) are compared whole: one
change showing the old and the new list says more than a change per index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["IDENTITY_KEYS", "RulesChange", "rules_diff"]

IDENTITY_KEYS = ("key", "code", "kind", "value")
"""Fields that identify an item of a list of tables, tried in this order."""


@dataclass(frozen=True)
class RulesChange:
    """`old` is None for an added setting, `new` is None for a removed one."""

    key_path: str
    old: Any
    new: Any


def rules_diff(old: dict[str, Any], new: dict[str, Any]) -> list[RulesChange]:
    """Changes from `old` to `new`, in a stable order: old's keys first, in order, then keys only in new."""
    changes: list[RulesChange] = []
    _diff_tables(old, new, "", changes)
    return changes


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _diff(old: Any, new: Any, path: str, changes: list[RulesChange]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        _diff_tables(old, new, path, changes)
    elif _is_table_list(old) and _is_table_list(new):
        _diff_table_lists(old, new, path, changes)
    elif not _same(old, new):
        changes.append(RulesChange(path, old, new))


def _same(old: Any, new: Any) -> bool:
    # 1 == 1.0 == True in Python, but in a rules file they are different settings.
    return type(old) is type(new) and old == new


def _diff_tables(old: dict[str, Any], new: dict[str, Any], path: str, changes: list[RulesChange]) -> None:
    for key, old_value in old.items():
        if key in new:
            _diff(old_value, new[key], _join(path, key), changes)
        else:
            changes.append(RulesChange(_join(path, key), old_value, None))
    for key, new_value in new.items():
        if key not in old:
            changes.append(RulesChange(_join(path, key), None, new_value))


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def _identity_key(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> str | None:
    """The first identity field present in every item of both lists and unique within each list."""
    for name in IDENTITY_KEYS:
        usable = True
        for items in (old, new):
            values = [item.get(name) for item in items]
            if any(not isinstance(value, (str, int)) or value == "" for value in values):
                usable = False
            elif len(set(values)) != len(values):
                usable = False
        if usable and (old or new):
            return name
    return None


def _diff_table_lists(
    old: list[dict[str, Any]], new: list[dict[str, Any]], path: str, changes: list[RulesChange]
) -> None:
    name = _identity_key(old, new)
    if name is None:
        for index in range(max(len(old), len(new))):
            item_path = f"{path}[{index}]"
            if index >= len(new):
                changes.append(RulesChange(item_path, old[index], None))
            elif index >= len(old):
                changes.append(RulesChange(item_path, None, new[index]))
            else:
                _diff(old[index], new[index], item_path, changes)
        return

    old_by_id = {item[name]: item for item in old}
    new_by_id = {item[name]: item for item in new}
    # Order matters in some lists (wizard steps, review chain of tables): report a reordering of the items
    # present in both versions as one change holding the identities in their old and new order.
    kept_old_order = [item[name] for item in old if item[name] in new_by_id]
    kept_new_order = [item[name] for item in new if item[name] in old_by_id]
    if kept_old_order != kept_new_order:
        changes.append(RulesChange(path, kept_old_order, kept_new_order))
    for identity, old_item in old_by_id.items():
        item_path = f"{path}[{name}={identity}]"
        if identity in new_by_id:
            _diff(old_item, new_by_id[identity], item_path, changes)
        else:
            changes.append(RulesChange(item_path, old_item, None))
    for identity, new_item in new_by_id.items():
        if identity not in old_by_id:
            changes.append(RulesChange(f"{path}[{name}={identity}]", None, new_item))
