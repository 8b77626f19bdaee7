"""Browser hardening: the headers every answer carries, the logout that clears the browser's
copy of the site, and the proxy's plain-http server that redirects only browser pages."""

from __future__ import annotations

from flask import Flask

from tests.logins import logged_in, make_account
from tests.nginx_conf import servers

CARD = frozenset({"password", "card"})
REQUIRED_CSP = (
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
    "default-src 'self'",
)


def test_every_answer_carries_the_csp_and_hsts(app: Flask) -> None:
    client = app.test_client()
    for path in ("/login/card", "/api/v1/catalog", "/healthz", "/api/v1/no-such-thing"):
        response = client.get(path)
        directives = [
            part.strip() for part in response.headers["Content-Security-Policy"].split(";")
        ]
        for wanted in REQUIRED_CSP:
            assert wanted in directives, (path, wanted)
        hsts = response.headers["Strict-Transport-Security"]
        assert "includeSubDomains" in hsts, path
        assert "max-age=63072000" in hsts, path


def test_logging_out_tells_the_browser_to_clear_the_site(app: Flask) -> None:
    account = make_account(app, "clear.site")
    client, csrf = logged_in(app, account, CARD)
    response = client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200
    assert response.headers["Clear-Site-Data"] == '"cache", "cookies", "storage"'
    assert client.get("/api/v1/auth/session").status_code == 401


def test_the_browser_logout_clears_the_site_too(app: Flask) -> None:
    account = make_account(app, "clear.page")
    client, csrf = logged_in(app, account, CARD)
    response = client.post("/account/logout", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert "cookies" in response.headers["Clear-Site-Data"]


def test_the_proxy_sends_hsts_with_subdomains_on_every_tls_server() -> None:
    tls = [server for server in servers() if any("ssl" in args for args in server.values("listen"))]
    assert tls
    for server in tls:
        [hsts] = [
            args for args in server.values("add_header") if args[0] == "Strict-Transport-Security"
        ]
        assert "includeSubDomains" in hsts[1], server.values("server_name")


def test_plain_http_redirects_browser_pages_and_refuses_the_api_without_a_redirect() -> None:
    [plain] = [server for server in servers() if ("80",) in server.values("listen")]
    assert not plain.values("return"), "the whole server must not redirect"
    by_path = {location.args[-1]: location for location in plain.blocks("location")}
    [api_answer] = by_path["/api/"].values("return")
    assert api_answer[0] == "403"
    [page_answer] = by_path["/"].values("return")
    assert page_answer[0] == "301"
    assert page_answer[1].startswith("https://")


def test_every_page_of_a_logged_in_user_offers_logout(app: Flask) -> None:
    account = make_account(app, "logout.everywhere")
    client, csrf = logged_in(app, account, CARD)
    for path in ("/account", "/account/sessions", "/account/password"):
        page = client.get(path).get_data(as_text=True)
        assert 'action="/account/logout"' in page, path
        assert csrf in page, path
    assert "logout-everywhere" not in app.test_client().get("/login/card").get_data(as_text=True)
