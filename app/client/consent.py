"""``python -m app.client consent create|list|revoke``: the subject's consent tokens (§5).

``create`` builds the token on this machine and signs it on the subject's card: header
``{"alg": ES256|RS256 (from the card key), "typ": "JWT", "kid": <hex SHA-256 of the card
certificate DER>}``, claims ``aud`` (the institution's client id), ``sub`` (``subject_ref`` of
the logged-in session), ``purpose``, ``scope``, ``iat``, ``exp``, a random URL-safe ``jti`` and
``max_uses``; it registers the token (``POST /api/v1/self/consents``) and only then prints it
on stdout, with a one-line summary on stderr.

Guarantees: the card PIN is asked without echo, used once for the one signature and never
printed, logged or stored; the token is printed only after the service accepted it, and
nothing else is ever printed on stdout by ``create``; every refusal is one line naming why.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from typing import Any, TextIO

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.client import render
from app.client.common import Service, Stop, refused
from hsm.card import CardError, CardToken

MAX_DAYS = 90
CATEGORIES = ("A", "B", "C", "D")
CONSENTS = "/api/v1/self/consents"
REFUSALS = {
    "malformed": "The service found the token malformed.",
    "unknown_card": "The card is not one of your active enrolled cards.",
    "forged_signature": "The signature does not verify under your enrolled card certificate.",
    "wrong_subject": "The token names someone other than you.",
    "unknown_institution": "No active institution has that client id.",
    "wrong_purpose": "That purpose is not one of the allowed purposes.",
    "too_long": "The token is valid for longer than the policy allows.",
    "replayed": "A different token with this id is registered already.",
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def algorithm_for(certificate_der: bytes) -> str:
    """ES256 for an EC P-256 card key, RS256 for RSA; `Stop` for anything else."""
    try:
        key = x509.load_der_x509_certificate(certificate_der).public_key()
    except ValueError:
        raise Stop(2, "The certificate on the card is not readable.") from None
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    if isinstance(key, rsa.RSAPublicKey):
        return "RS256"
    raise Stop(2, "The card key can sign neither ES256 nor RS256 tokens.")


def signing_input(header: dict[str, Any], claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))

    return f"{part(header)}.{part(claims)}"


def scope_of(text: str) -> list[str]:
    scope = [item.strip().upper() for item in text.split(",") if item.strip()]
    if not scope or len(set(scope)) != len(scope) or not set(scope) <= set(CATEGORIES):
        raise Stop(1, "--scope must list distinct categories among A, B, C, D (e.g. A,B,D).")
    return sorted(scope)


def create(args: argparse.Namespace, ask: Callable[[str], str], out: TextIO) -> None:
    if not 1 <= args.days <= MAX_DAYS:
        raise Stop(1, f"--days must be between 1 and {MAX_DAYS}.")
    if args.max_uses < 1:
        raise Stop(1, "--max-uses must be at least 1.")
    scope = scope_of(args.scope)
    service = Service()
    subject_ref = service.facts.get("subject_ref")
    if not isinstance(subject_ref, str) or not subject_ref:
        raise Stop(1, "Only a subject logged in with password and card can give consent.")
    card = CardToken(args.module, args.token_label)
    try:
        if not card.present():
            raise Stop(2, f"No card labelled {args.token_label!r} is present.")
        certificate = card.certificate()
    except CardError as exc:
        raise Stop(2, str(exc)) from None
    header = {
        "alg": algorithm_for(certificate),
        "typ": "JWT",
        "kid": hashlib.sha256(certificate).hexdigest(),
    }
    now = int(time.time())
    claims: dict[str, Any] = {
        "aud": args.institution,
        "sub": subject_ref,
        "purpose": args.purpose,
        "scope": scope,
        "iat": now,
        "exp": now + args.days * 86400,
        "jti": secrets.token_hex(24),  # never starts with "-" (an option to argparse)
        "max_uses": args.max_uses,
    }
    to_sign = signing_input(header, claims)
    pin = ask(f"PIN for card {args.token_label}: ")
    try:
        signature = card.sign(pin, to_sign.encode("ascii"))
    except CardError as exc:
        raise Stop(2, str(exc)) from None
    finally:
        del pin
    token = f"{to_sign}.{b64url(signature)}"
    reply = service.post(CONSENTS, {"token": token})
    if reply.status not in (200, 201):
        raise refused(reply, REFUSALS)
    out.write(token + "\n")
    args.err.write(
        f"Consent {claims['jti']} for {args.institution}: purpose {args.purpose}, "
        f"scope {','.join(scope)}, up to {args.max_uses} use(s), valid {args.days} day(s). "
        f"Revoke with: python -m app.client consent revoke {claims['jti']}\n"
    )


def listing(args: argparse.Namespace, ask: Callable[[str], str], out: TextIO) -> None:
    reply = Service().get(CONSENTS)
    if reply.status != 200:
        raise refused(reply)
    if args.json:
        out.write(json.dumps(reply.body, ensure_ascii=False, indent=2) + "\n")
        return
    items = reply.body.get("consents")
    out.write(render.consents(items if isinstance(items, list) else []))


def revoke(args: argparse.Namespace, ask: Callable[[str], str], out: TextIO) -> None:
    jti = args.jti.strip()
    if not jti or len(jti) > 128 or not all(c.isalnum() or c in "-_" for c in jti):
        raise Stop(1, "That is not a consent id.")
    reply = Service().post(f"{CONSENTS}/{jti}/revoke")
    if reply.status != 200:
        raise refused(reply)
    item = reply.body.get("consent")
    if args.json:
        out.write(json.dumps(reply.body, ensure_ascii=False, indent=2) + "\n")
    elif isinstance(item, dict):
        out.write(f"Revoked: {render.consent(item)}\n")
    else:
        out.write(
            f"Revoked: {jti}  (never registered: any institution presenting a token you "
            "signed with this id is refused)\n"
        )


def add_commands(commands: Any, card_options: Callable[[argparse.ArgumentParser], None]) -> None:
    consent = commands.add_parser("consent", help="consent tokens for institutions")
    verbs = consent.add_subparsers(dest="verb", required=True)
    make = verbs.add_parser("create", help="sign a consent token on your card and register it")
    make.add_argument("--institution", required=True, help="the institution's client id")
    make.add_argument("--purpose", required=True, help="one of the allowed purposes")
    make.add_argument("--days", required=True, type=int, help=f"validity, 1 to {MAX_DAYS}")
    make.add_argument("--scope", default=",".join(CATEGORIES), help="categories, e.g. A,B,D")
    make.add_argument("--max-uses", type=int, default=1, help="how many queries (default 1)")
    card_options(make)
    make.set_defaults(run=create)
    show = verbs.add_parser("list", help="your consents, their uses and status")
    show.add_argument("--json", action="store_true", help="print the raw JSON")
    show.set_defaults(run=listing)
    end = verbs.add_parser("revoke", help="revoke a consent at once")
    end.add_argument("jti")
    end.add_argument("--json", action="store_true", help="print the raw JSON")
    end.set_defaults(run=revoke)
