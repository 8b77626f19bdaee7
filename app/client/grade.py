"""``python -m app.client grade``: the subject's credit grade (A–E) and why — the grade that
counts, every factor that moved its score and by how many points, the records each counted,
and any better grade a recent violation held back. An A or an E counts only once a second
registrar approves it: until then the previous grade, or "pending", is shown.

Exit codes: 0 shown; 1 refused or unreachable (one line: the reason).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from app.client.common import Service, refused
from app.client.render import obj


def grade_text(view: Mapping[str, Any]) -> str:
    """The grade as lines for a terminal (Chinese titles first)."""
    status = view.get("status")
    if status == "ungraded":
        return "You have not been graded yet.\n"
    if status == "pending":
        return "Pending: your grade waits for a second registrar to approve it.\n"
    lines = [
        f"Grade {view.get('grade')} {view.get('title_zh', '')} ({view.get('title', '')}): "
        f"score {view.get('score')} / 100"
    ]
    if view.get("awaiting_approval"):
        lines.append("A new grade waits for a second registrar; this one counts until then.")
    explanation = obj(view.get("explanation"))
    lines.append(f"  {explanation.get('base')}  starting score")
    factors = explanation.get("factors")
    for factor in factors if isinstance(factors, list) else []:
        item = obj(factor)
        records = item.get("records")
        counted = ", ".join(str(r) for r in records) if isinstance(records, list) else ""
        lines.append(f"  {item.get('points'):+d}  {item.get('title_zh')} ({counted})")
    held = explanation.get("held_back")
    for hold in held if isinstance(held, list) else []:
        item = obj(hold)
        lines.append(
            f"  not {item.get('grade')}: a violation in the last {item.get('clean_years')} "
            f"year(s) ({', '.join(str(r) for r in item.get('records') or [])})"
        )
    return "\n".join(lines) + "\n"


def show_grade(args: argparse.Namespace, ask: Callable[[str], str], out: TextIO) -> None:
    reply = Service().get("/api/v1/self/grade")
    if reply.status != 200:
        raise refused(reply)
    if args.json:
        out.write(json.dumps(reply.body, ensure_ascii=False, indent=2) + "\n")
        return
    out.write(grade_text(obj(reply.body.get("grade"))))


def add_commands(commands: Any) -> None:
    shown = commands.add_parser("grade", help="your credit grade (A-E) and why")
    shown.add_argument("--json", action="store_true", help="print the raw JSON")
    shown.set_defaults(run=show_grade)
