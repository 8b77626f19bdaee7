"""Use cases: the one layer that combines policies, crypto, models (and later the query log)."""
