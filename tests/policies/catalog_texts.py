"""Catalog texts and helpers shared by the catalog tests: a minimal valid head, record types
to vary, and `refused` (loads a text and returns the validator's message, which must name the
file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.catalog import CatalogError, load_catalog

SHIPPED = Path(__file__).resolve().parents[2] / "policies" / "data" / "catalog.toml"

HEAD = """
schema = 1
title = "Test catalog"
title_zh = "测试目录"

[retention.negative_5y]
kind = "after_end"
years = 5

[retention.life_of_report]
kind = "life_of_report"
"""

LOAN = """
[[record_type]]
code = "B.loan"
category = "B"
title = "Loan"
title_zh = "贷款"
disclosure = "restricted"
retention = "life_of_report"

[[record_type.field]]
name = "lender"
type = "string"
title = "Lender"

[[record_type.field]]
name = "{name}"
type = "{type}"
title = "{title}"
{extra}
"""

OVERDUE = """
[[record_type]]
code = "B.overdue"
category = "B"
title = "Overdue"
title_zh = "逾期"
disclosure = "restricted"
negative = true
retention = "negative_5y"
requires_notice = true

[[record_type.field]]
name = "days"
type = "integer"
title = "Days overdue"
"""


def loan(name: str = "rate", type: str = "integer", title: str = "Rate", extra: str = "") -> str:
    return LOAN.format(name=name, type=type, title=title, extra=extra)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.toml"
    path.write_text(text, encoding="utf-8")
    return path


def refused(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    return message
