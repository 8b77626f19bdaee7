"""Subjects' signed authorizations for institutions: the token, and consents as kept."""
