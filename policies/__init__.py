"""Pure decision logic and reviewed data: identifiers, the credit information catalog, retention.

Nothing in this package imports Flask, SQLAlchemy, `app`, `crypto` or `hsm`; every function is
deterministic given its arguments (the current date is always a parameter where it matters).
"""
