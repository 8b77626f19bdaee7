"""Compliance review of the query log (ARCHITECTURE §10): the officers' search, entry pages,
the explanation of every disclosure, and the check of a consent's signature."""
