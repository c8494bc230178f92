"""Membership engine (DESIGN §2, §4 gansu): affiliations, association membership, fees, renewals. Built in a later issue."""
