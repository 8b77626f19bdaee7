"""The public catalog: what types exist and how they are disclosed, nothing about anyone."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from app.container import container


def test_the_catalog_lists_every_type_under_its_version(app: Flask, client: FlaskClient) -> None:
    body = client.get("/api/v1/catalog").get_json()
    catalog = container(app).catalog
    assert body["version"] == catalog.version
    assert len(body["record_types"]) == len(catalog.record_types) >= 20
    assert {rt["category"] for rt in body["record_types"]} == {"A", "B", "C", "D"}


def test_one_catalog_entry_and_an_unknown_one(client: FlaskClient) -> None:
    body = client.get("/api/v1/catalog/D.dishonest_debtor").get_json()
    assert body["record_type"]["disclosure"] == "public"
    assert body["record_type"]["negative"] is True
    missing = client.get("/api/v1/catalog/Z.nothing")
    assert missing.status_code == 404


def test_the_home_page_names_the_catalog(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    assert "信用信息目录" in page
    assert "D.dishonest_debtor" in page
