"""Institutions as OAuth clients: registration, `private_key_jwt`, access tokens, bearer."""
