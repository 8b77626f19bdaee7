"""Human-readable text for what the service answers: reports, query records, public-list
results, orders and consents.

Values are shown exactly as the service released them (masked values stay masked, and the
mask kind is named); fields the service did not release are not shown. Nothing here reads
or prints a cookie, a CSRF token, a PIN or a consent token.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

SECTIONS = (
    ("identity", "Identity"),
    ("financial", "Financial transactions"),
    ("social", "Social credit"),
    ("special", "Special records"),
    ("objections", "Objection marks"),
    ("statements", "Subject statements"),
    ("query_records", "Query records"),
)


def yuan(fen: object) -> str:
    if isinstance(fen, bool) or not isinstance(fen, int):
        return "?"
    return f"{fen // 100}.{fen % 100:02d} yuan"


def obj(value: object) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_text(v)}" for k, v in value.items())
    return str(value)


def record(item: Mapping[str, Any], indent: str = "  ") -> list[str]:
    title = _text(item.get("title") or item.get("type"))
    if item.get("title_zh"):
        title += f" ({item['title_zh']})"
    when = _text(item.get("occurred_on"))
    if item.get("ended_on"):
        when += f" to {item['ended_on']}"
    lines = [f"{indent}- {title}  [{when}]"]
    if item.get("display_until"):
        lines.append(f"{indent}    shown until {item['display_until']}")
    masked, fields = obj(item.get("masked")), obj(item.get("fields"))
    for name, value in fields.items():
        note = f"  (masked: {masked[name]})" if name in masked else ""
        lines.append(f"{indent}    {name}: {_text(value)}{note}")
    if item.get("objection"):
        lines.append(f"{indent}    ! {objection_mark(obj(item['objection']))}")
    if item.get("statement"):
        lines.append(f"{indent}    statement: {_text(obj(item['statement']).get('text'))}")
    return lines


def objection_mark(mark: Mapping[str, Any]) -> str:
    """An objection mark in words: under objection (stage, due day) or its outcome."""
    if mark.get("under_objection"):
        text = f"UNDER OBJECTION since {_text(mark.get('filed_on'))} ({_text(mark.get('stage'))})"
        if mark.get("due_on"):
            text += f", answer due {mark['due_on']}"
        return text + (" - OVERDUE" if mark.get("overdue") else "")
    return f"objection answered {_text(mark.get('resolved_on'))}: {_text(mark.get('outcome'))}"


def note(key: str, item: Mapping[str, Any]) -> str:
    """One line of the objections or statements section."""
    where = f"{_text(item.get('record_type'))} {_text(item.get('record_id'))}"
    if key == "objections":
        return f"  - {where}: {objection_mark(item)}"
    return f"  - {where}: {_text(item.get('text'))}"


def query_record(item: Mapping[str, Any]) -> str:
    purpose = item.get("purpose")
    tail = f"  purpose {purpose}" if purpose else ""
    if item.get("legal_basis"):
        tail += f"  legal basis {_text(item.get('legal_basis'))}"
    who, what = _text(item.get("requester")), _text(item.get("action"))
    return f"  {_text(item.get('at'))}  {who}  {what}{tail}"


def report(body: Mapping[str, Any]) -> str:
    meta, subject = obj(body.get("report")), obj(body.get("subject"))
    sections = obj(body.get("sections"))
    lines = [
        f"Credit report {_text(meta.get('id'))} ({_text(meta.get('kind'))})",
        f"  as of {_text(meta.get('as_of'))}, generated {_text(meta.get('generated_at'))}",
    ]
    if meta.get("purpose"):
        lines.append(f"  purpose {meta['purpose']}")
    lines.append(f"  fee {yuan(meta.get('fee_fen', 0))}")
    for name in ("name", "id_number"):
        if name in subject:
            lines.append(f"  {name.replace('_', ' ')}: {_text(subject[name])}")
    if "grade" in body:  # the own report: the grade that counts (`grade` shows every factor)
        grade = obj(body.get("grade"))
        lines.append(
            f"  credit grade: {grade['grade']} {_text(grade.get('title_zh'))}, "
            f"score {_text(grade.get('score'))} (python -m app.client grade: why)"
            if grade
            else "  credit grade: none counts yet"
        )
    for key, heading in SECTIONS:
        if key not in sections:
            continue
        items = sections[key] if isinstance(sections[key], list) else []
        lines.append("")
        lines.append(f"{heading} ({len(items)})")
        if not items:
            lines.append("  (none)")
        for item in items:
            if not isinstance(item, dict):
                continue
            if key == "query_records":
                lines.append(query_record(item))
            elif key in ("objections", "statements"):
                lines.append(note(key, item))
            else:
                lines.extend(record(item))
    return "\n".join(lines) + "\n"


def query_records(items: Iterable[Any]) -> str:
    rows = [query_record(item) for item in items if isinstance(item, dict)]
    if not rows:
        return "Nobody has looked at your report in the last 2 years.\n"
    return "Who looked at your report (newest first):\n" + "\n".join(rows) + "\n"


def search_results(body: Mapping[str, Any]) -> str:
    found = body.get("results")
    results = found if isinstance(found, list) else []
    if not results:
        return f"No public-list entries found (as of {_text(body.get('as_of'))}).\n"
    lines = [f"{len(results)} listed subject(s) (as of {_text(body.get('as_of'))}):"]
    for entry in results:
        if not isinstance(entry, dict):
            continue
        who = obj(entry.get("subject"))
        lines.append("")
        lines.append(f"{_text(who.get('name'))}  ID {_text(who.get('id_number'))}")
        for item in entry.get("records") or []:
            if isinstance(item, dict):
                lines.extend(record(item))
    return "\n".join(lines) + "\n"


def order(item: Mapping[str, Any]) -> str:
    line = f"{_text(item.get('id'))}  {_text(item.get('kind'))}  {_text(item.get('status'))}"
    line += f"  {yuan(item.get('fee_fen'))}  created {_text(item.get('created_at'))}"
    if item.get("available_until"):
        line += f"  download until {item['available_until']}"
    return line


def orders(items: Iterable[Any]) -> str:
    rows = [order(item) for item in items if isinstance(item, dict)]
    if not rows:
        return "You have no orders.\n"
    return "\n".join(rows) + "\n"


def consent(item: Mapping[str, Any]) -> str:
    return (
        f"{_text(item.get('jti'))}  {_text(item.get('status'))}"
        f"  for {_text(item.get('institution'))}"
        f"  purpose {_text(item.get('purpose'))}  scope {_text(item.get('scope'))}"
        f"  used {_text(item.get('uses'))}/{_text(item.get('max_uses'))}"
        f"  expires {_text(item.get('expires_at'))}"
    )


def consents(items: Iterable[Any]) -> str:
    rows = [consent(item) for item in items if isinstance(item, dict)]
    if not rows:
        return "You have no consents.\n"
    return "\n".join(rows) + "\n"


def how_to_pay(order_id: str, fee_fen: object, then: str) -> str:
    return (
        f"Payment required: order {order_id}, fee {yuan(fee_fen)}.\n"
        "Pay it at a service counter (a cashier confirms the order) or through the payment "
        f"provider, quoting the order id; once paid, run: {then}"
    )
