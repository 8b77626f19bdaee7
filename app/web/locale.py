"""The pages' language: Chinese first, English on request (Flask-Babel).

Guarantees:
- the locale is `zh` or `en`, chosen in this order: a `?lang=zh|en` switch on any page (which
  also sets the `cg_lang` cookie, one year, HttpOnly, SameSite=Lax), the `cg_lang` cookie, the
  browser's `Accept-Language`, and otherwise Chinese; anything else sent is ignored;
- every page names its language in `<html lang>` (`zh-CN` or `en`) and offers a link to the
  other language that keeps the reader on the same page;
- the catalogs are built from the reviewed `.po` files (`app.i18n`); the API speaks JSON and
  is not translated.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from flask import Flask, Response, current_app, request
from flask_babel import Babel, get_locale
from werkzeug.exceptions import HTTPException

from app.i18n import TRANSLATIONS, compile_catalogs

log = logging.getLogger("creditgate.web")
LOCALES = ("zh", "en")
DEFAULT = "zh"
COOKIE = "cg_lang"
SWITCH = "lang"
HTML_LANG = {"zh": "zh-CN", "en": "en"}
NAMES = {"zh": "中文", "en": "English"}
ONE_YEAR = 365 * 24 * 3600


def select_locale() -> str:
    asked = request.args.get(SWITCH)
    if asked in LOCALES:
        return asked
    kept = request.cookies.get(COOKIE)
    if kept in LOCALES:
        return kept
    for tag, _quality in request.accept_languages:  # best first
        primary = tag.split("-", 1)[0].split("_", 1)[0].lower()
        if primary in LOCALES:
            return primary
    return DEFAULT


def current() -> str:
    """The locale of this request: `zh` or `en`."""
    locale = get_locale()
    chosen = "" if locale is None else locale.language
    return chosen if chosen in LOCALES else DEFAULT


def switch_url(to: str) -> str:
    """This page in the language `to`: a GET of the same path when it has one (the answer of a
    form post has none: then the account page), never repeating a post."""
    path = request.path
    if request.method != "GET":
        try:
            current_app.url_map.bind("localhost").match(path, "GET")
        except HTTPException:
            path = "/account"
    kept = {k: v for k, v in request.args.items() if k in ("cursor", "limit")}
    return f"{path}?{urlencode({**kept, SWITCH: to})}"


def init_app(app: Flask) -> None:
    try:
        compile_catalogs()  # normally done by `make setup`/`make test`; a no-op when current
    except OSError as exc:  # a read-only tree: the build step must have made them
        log.warning("could not build the page translations: %s", type(exc).__name__)
    app.config["BABEL_DEFAULT_LOCALE"] = DEFAULT
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    Babel(app, locale_selector=select_locale)

    @app.context_processor
    def language() -> dict[str, object]:
        here = current()
        other = "en" if here == "zh" else "zh"
        return {
            "page_lang": HTML_LANG[here],
            "other_lang": HTML_LANG[other],
            "other_lang_name": NAMES[other],
            "other_lang_url": switch_url(other),
        }

    @app.after_request
    def remember(response: Response) -> Response:
        asked = request.args.get(SWITCH)
        if asked in LOCALES and not request.path.startswith("/api/"):
            response.set_cookie(
                COOKIE,
                asked,
                max_age=ONE_YEAR,
                httponly=True,
                samesite="Lax",
                secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
            )
        return response
