"""Logins and who is asking: passwords, cards, TOTP, sessions, the attempt log and its throttle."""
