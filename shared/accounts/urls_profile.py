"""The person's own profile form, and the invoice titles and mailing addresses of a person or a
company operator. Included at the root of an association's site (shared/urls_tenant.py)."""

from django.urls import path

from shared.accounts import views_profile

urlpatterns = [
    path("me/profile/edit/", views_profile.profile_edit, name="profile-edit"),
    path("me/invoice-titles/", views_profile.invoice_titles, name="invoice-titles"),
    path(
        "me/invoice-titles/<int:title_id>/edit/", views_profile.invoice_title_edit, name="invoice-title-edit"
    ),
    path(
        "me/invoice-titles/<int:title_id>/delete/",
        views_profile.invoice_title_delete,
        name="invoice-title-delete",
    ),
    path("me/addresses/", views_profile.addresses, name="addresses"),
    path("me/addresses/<int:address_id>/edit/", views_profile.address_edit, name="address-edit"),
    path("me/addresses/<int:address_id>/delete/", views_profile.address_delete, name="address-delete"),
    path(
        "people/<int:profile_id>/practice-certificates/",
        views_profile.practice_certificates,
        name="practice-certificates",
    ),
]
