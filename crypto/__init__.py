"""Envelope encryption, field AAD, blind indexes. Knows keys only through `crypto.keys`."""
