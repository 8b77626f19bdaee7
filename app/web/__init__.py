"""Thin blueprints per audience, behind a gate that denies every view not declared public."""

from __future__ import annotations

from flask import Flask

from app.web import (
    archive,
    auth_card,
    auth_staff,
    billing,
    bodies,
    browser,
    card_pages,
    catalog,
    consent_pages,
    consents,
    errors,
    gate,
    government,
    grades,
    health,
    home,
    identity,
    inbox,
    institution_reports,
    intake,
    locale,
    notices,
    oauth,
    objection_pages,
    objections,
    openapi,
    order_pages,
    own_credentials,
    pages,
    public_lists,
    queries,
    registry,
    repair_pages,
    repairs,
    report_pages,
    report_verification,
    review_cases,
    review_lists,
    review_log,
    search_pages,
    security_events,
    self_service,
    session_api,
    staff_pages,
    statement_pages,
    statements,
    statistics,
    step_up,
)


def register_web(app: Flask) -> None:
    bodies.init_app(app)
    locale.init_app(app)
    app.context_processor(pages.subject_nav)
    identity.init_app(app)
    gate.init_app(app)
    errors.init_app(app)
    queries.init_app(app)
    security_events.init_app(app)
    for blueprint in (home.bp, health.bp, catalog.bp, session_api.bp, auth_card.bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(oauth.bp)
    app.register_blueprint(auth_staff.bp)
    app.register_blueprint(step_up.bp)
    app.register_blueprint(browser.bp)
    app.register_blueprint(own_credentials.bp)
    app.register_blueprint(consents.bp)
    app.register_blueprint(institution_reports.bp)
    app.register_blueprint(government.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(archive.bp)
    app.register_blueprint(billing.bp)
    app.register_blueprint(self_service.bp)
    app.register_blueprint(public_lists.bp)
    app.register_blueprint(registry.bp)
    app.register_blueprint(card_pages.bp)
    app.register_blueprint(intake.bp)
    app.register_blueprint(notices.bp)
    app.register_blueprint(review_lists.bp)
    app.register_blueprint(review_log.bp)
    app.register_blueprint(review_cases.bp)
    app.register_blueprint(staff_pages.bp)
    app.register_blueprint(statistics.bp)
    app.register_blueprint(report_verification.bp)
    app.register_blueprint(objections.bp)
    app.register_blueprint(statements.bp)
    app.register_blueprint(objection_pages.bp)
    app.register_blueprint(statement_pages.bp)
    app.register_blueprint(repairs.bp)
    app.register_blueprint(repair_pages.bp)
    app.register_blueprint(inbox.bp)
    app.register_blueprint(grades.bp)
    app.register_blueprint(report_pages.bp)
    app.register_blueprint(search_pages.bp)
    app.register_blueprint(order_pages.bp)
    app.register_blueprint(consent_pages.bp)
