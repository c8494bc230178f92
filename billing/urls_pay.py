"""Gateway-facing URLs on the tenant's host: notify endpoints and the payment simulator."""

from django.urls import path

from billing import views_notify

app_name = "pay"

urlpatterns = [
    path("notify/<slug:channel>/", views_notify.notify, name="notify"),
    path("simulator/<str:out_trade_no>/", views_notify.simulator, name="simulator"),
]
