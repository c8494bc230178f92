"""Billing engine (DESIGN §2, §6): orders, splitting, payment providers, refunds, invoices. Built in a later issue."""
