"""Excel import and export helpers (templates a person fills in, and parsers that check what comes back)."""
