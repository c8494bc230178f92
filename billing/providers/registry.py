"""Which provider serves a channel in the current tenant: built from the tenant's merchant settings, the
offline-transfer provider from its rules, or — where a tenant has no merchant keys and settings allow it
(never in production) — the built-in gateway simulator."""

from django.conf import settings

from billing.merchant_settings import (
    AlipaySettings,
    StripeSettings,
    WechatV2Settings,
    WechatV3Settings,
    merchant_settings_load,
)
from billing.providers.base import PaymentProvider
from tenant_configs.schema import PaymentChannel
from tenant_configs.selectors import rules_current


def provider_for(channel: str) -> PaymentProvider | None:
    """The provider for `channel` in the tenant on the current connection, or None when the channel is not
    offered by the tenant's rules, or is online with neither merchant keys nor the simulator."""
    rules = rules_current()
    if channel not in rules.billing.channels:
        return None
    if channel == PaymentChannel.OFFLINE_TRANSFER:
        from billing.providers.offline import OfflineTransferProvider

        return OfflineTransferProvider(rules=rules.billing.offline_transfer)
    merchant = merchant_settings_load(channel)
    if merchant is None:
        if settings.PAYMENT_SIMULATOR:
            from billing.providers.simulator import SimulatorProvider

            return SimulatorProvider(channel=channel)
        return None
    # Imported lazily: the Alipay SDK alone takes about a second to import.
    if isinstance(merchant, WechatV2Settings):
        from billing.providers.wechat_v2 import WechatV2Provider

        return WechatV2Provider(channel=channel, merchant=merchant)
    if isinstance(merchant, WechatV3Settings):
        from billing.providers.wechat_v3 import WechatV3Provider

        return WechatV3Provider(channel=channel, merchant=merchant)
    if isinstance(merchant, AlipaySettings):
        from billing.providers.alipay import AlipayProvider

        return AlipayProvider(channel=channel, merchant=merchant)
    if isinstance(merchant, StripeSettings):
        from billing.providers.stripe_checkout import StripeCheckoutProvider

        return StripeCheckoutProvider(channel=channel, merchant=merchant)
    return None
