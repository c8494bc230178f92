"""Payment providers: one small class per channel, built per tenant from its merchant settings.

Providers talk to the outside world and translate; they never change domain state. Everything they
learn reaches the order through `billing.services.payment_apply_result`.
"""
