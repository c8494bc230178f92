"""Who may see which surface. Views use these decorators; selectors still check ownership."""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse


def _guard(check: Callable[[object], bool]):
    def decorator(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not check(request.user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def staff_required(*roles: str):
    """Association staff; with roles, staff holding at least one of them (admins hold all)."""

    def check(user) -> bool:
        if not user.is_association_staff:
            return False
        return not roles or "admin" in user.staff_roles or any(role in user.staff_roles for role in roles)

    return _guard(check)


operator_required = _guard(lambda user: user.is_platform_operator)


person_required = _guard(lambda user: user.is_active and user.kind == "person")
company_required = _guard(
    lambda user: user.is_active and user.kind == "company" and user.company_id is not None
)
