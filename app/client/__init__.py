"""`python -m app.client`: the command-line client of CreditGate (card login, whoami, logout).

It talks to the service over HTTP(S) only and signs login challenges on the user's card through
`hsm.card`; the card PIN and the password are asked without echo and never leave this process
except the password, once, in the login request body.
"""
