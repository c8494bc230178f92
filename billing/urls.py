"""缴费、订单与财务 pages (the gateways' notify endpoints are in billing/urls_pay.py)."""

from django.urls import path

from billing import views, views_merchant, views_refund

app_name = "billing"
urlpatterns = [
    path("pay/", views.pay, name="pay"),
    path("pay/submit/", views.pay_submit, name="pay-submit"),
    path("pay/invoice-types/", views.pay_invoice_types, name="pay-invoice-types"),
    path("orders/", views.orders, name="orders"),
    path("orders/<int:order_id>/", views.order_detail, name="order"),
    path("orders/<int:order_id>/pay/", views.order_pay, name="order-pay"),
    path("orders/<int:order_id>/proof/", views.order_proof, name="order-proof"),
    path("orders/<int:order_id>/cancel/", views.order_cancel_view, name="order-cancel"),
    path("orders/<int:order_id>/refund/", views_refund.order_refund, name="order-refund"),
    path("finance/transfers/", views.finance_transfers, name="finance-transfers"),
    path(
        "finance/transfers/<int:payment_id>/proof/",
        views.finance_transfer_proof,
        name="finance-transfer-proof",
    ),
    path(
        "finance/transfers/<int:payment_id>/decide/",
        views.finance_transfer_decide,
        name="finance-transfer-decide",
    ),
    path("finance/invoices/", views.finance_invoices, name="finance-invoices"),
    path(
        "finance/invoices/<int:invoice_id>/issue/", views.finance_invoice_issue, name="finance-invoice-issue"
    ),
    path(
        "finance/invoices/<int:invoice_id>/issue-electronic/",
        views.finance_invoice_issue_electronic,
        name="finance-invoice-issue-electronic",
    ),
    path("finance/refunds/", views.finance_refunds, name="finance-refunds"),
    path(
        "finance/refunds/<int:refund_id>/decide/", views.finance_refund_decide, name="finance-refund-decide"
    ),
    path("finance/merchant/", views_merchant.finance_merchant, name="finance-merchant"),
    path(
        "finance/merchant/<str:channel>/", views_merchant.finance_merchant_edit, name="finance-merchant-edit"
    ),
    path("finance/report/", views.finance_report, name="finance-report"),
    path("finance/reconciliation/", views.finance_reconciliation, name="finance-reconciliation"),
    path("finance/report.xlsx", views.finance_report_export, name="finance-report-export"),
]
