from django.urls import path

from billing import api

urlpatterns = [
    path("orders/", api.OrderListApi.as_view(), name="api-orders"),
    path("orders/<int:order_id>/", api.OrderDetailApi.as_view(), name="api-order"),
    path("orders/<int:order_id>/pay/", api.OrderPayApi.as_view(), name="api-order-pay"),
    path("orders/<int:order_id>/cancel/", api.OrderCancelApi.as_view(), name="api-order-cancel"),
    path("orders/<int:order_id>/refund/", api.OrderRefundApi.as_view(), name="api-order-refund"),
]
