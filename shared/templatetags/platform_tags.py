from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    """`{{ values|get_item:column.key }}`: look a key up in a dict from a template."""
    return mapping.get(key, "") if hasattr(mapping, "get") else ""
