from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    """`{{ values|get_item:column.key }}`: look a key up in a dict from a template."""
    return mapping.get(key, "") if hasattr(mapping, "get") else ""


@register.filter
def yuan(fen):
    """Integer fen as yuan with two decimals (12345 → "123.45"); money is never a float."""
    from shared.money import format_yuan

    return format_yuan(fen) if isinstance(fen, int) else ""
