"""The report document (what `ReportService.document` returns for the self and archive kinds)
laid out as a PDF in the PBOC credit report's order.

Order: title and report header, 一 信息概要 (summary: how many entries each section holds),
二 身份信息, 三 金融信贷信息, 四 社会公共信息, 五 特别记录, 六 异议标注, 七 本人声明, and, in the
self report only, 八 查询记录; every page's footer carries the report id, the verification
reference and the verification address.

Guarantees:
- the PDF shows exactly what the document holds: the subject block and each record's released
  fields as released (masked values as masked, a withheld field absent), titles and labels
  from the catalog and the policy's purposes; nothing else about the subject is read or added;
- the document metadata (title, author) names no person; the creation date is `issued_at`;
- rendering reads and writes nothing and may run outside any unit of work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from app.services.reports.pdf.flow import MARGIN, Flow, draw
from app.services.reports.pdf.fonts import report_font
from policies.catalog import Catalog

KIND_TITLES = {"self": "个人信用报告（本人版）", "archive": "个人信用报告（档案查询版）"}
KIND_TITLES_EN = {"self": "Personal credit report (own copy)", "archive": "Archive credit report"}
RECORD_SECTIONS = (
    ("identity", "身份信息", "Identity"),
    ("financial", "金融信贷信息", "Financial credit"),
    ("social", "社会公共信息", "Social credit"),
    ("special", "特别记录", "Special records"),
)
NUMERALS = "一二三四五六七八九十"
MASK_NOTES = {
    "redact": "不予显示",
    "first6_last4": "部分遮蔽",
    "last4": "部分遮蔽",
    "year_only": "仅显示年份",
    "hash": "散列代替",
}
REQUESTERS = {"you": "本人", "individual": "个人"}
ACTIONS = {
    "self:report:read": "本人查询信用报告",
    "self:query_log:read": "本人查询查询记录",
    "public:list:search": "公开名单查询",
    "archive:order:create": "档案查询下单",
    "archive:report:read": "档案查询报告",
    "institution:report:query": "机构查询信用报告",
    "government:report:query": "政府部门依法查询",
}
SUBJECT_LABELS = {"name": "姓名 Name", "id_number": "证件号码 ID number"}
CITY_TIME = ZoneInfo("Asia/Shanghai")


def city_time(moment: datetime) -> str:
    """A moment as printed: Beijing time to the second."""
    return moment.astimezone(CITY_TIME).strftime("%Y-%m-%d %H:%M:%S") + "（北京时间）"


def _value(value: Any, field_type: str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if field_type == "money_fen" and isinstance(value, int):
        return f"{value / 100:,.2f} 元"
    return str(value)


class ReportLayout:
    """Lays a report document out (see the module docstring)."""

    def __init__(self, catalog: Catalog, purposes: Mapping[str, str]) -> None:
        self.catalog = catalog
        self.purposes = purposes  # purpose code -> Chinese title

    def render(
        self,
        document: Mapping[str, Any],
        *,
        reference: str,
        verify_url: str,
        issued_at: datetime,
    ) -> bytes:
        header = document["report"]
        kind = header["kind"]
        if kind not in KIND_TITLES:
            raise ValueError("only the self and archive reports are issued as PDF")
        sections = document["sections"]
        flow = Flow(report_font())
        self._title(flow, header, reference, issued_at)
        numbers = iter(NUMERALS)
        self._summary(flow, next(numbers), kind, sections)
        for key, zh, en in RECORD_SECTIONS:
            flow.heading(f"{next(numbers)}、{zh}  {en}")
            if key == "identity":
                subject = document.get("subject") or {}
                pairs = [(SUBJECT_LABELS.get(k, k), _value(v, None)) for k, v in subject.items()]
                if pairs:
                    flow.rows(pairs)
                    flow.gap(4)
            self._records(flow, sections.get(key) or [])
        flow.heading(f"{next(numbers)}、异议标注  Objection marks")
        self._notes(flow, sections.get("objections") or [])
        flow.heading(f"{next(numbers)}、本人声明  Statements")
        self._notes(flow, sections.get("statements") or [])
        if kind == "self":
            flow.heading(f"{next(numbers)}、查询记录  Query records")
            self._query_records(flow, sections.get("query_records") or [])
        flow.gap(10)
        flow.paragraph("— 报告结束 End of report —", 9.0, grey=True)
        flow.paragraph(
            "本报告由 CreditGate 以平台报告签章密钥进行电子签名（PAdES）。核验纸质件："
            f"访问 {verify_url}，输入页脚的核验码与报告编号，或上传本 PDF 文件；"
            "核验只回答“有效”或“无效”及签发时间，不显示报告内容。",
            8.0,
            grey=True,
        )
        report_id = str(header["id"])
        return draw(
            flow,
            title=KIND_TITLES[kind],
            creation_date=issued_at.strftime("D:%Y%m%d%H%M%S+00'00'"),
            footer=lambda n, total: (
                f"报告编号 Report id: {report_id}    核验码 Reference: {reference}",
                f"核验 Verify: {verify_url}    第 {n} 页 / 共 {total} 页",
            ),
        )

    # ------------------------------------------------------------------------------ parts

    def _title(
        self, flow: Flow, header: Mapping[str, Any], reference: str, issued_at: datetime
    ) -> None:
        kind = header["kind"]
        flow.gap(6)
        flow.text(MARGIN, flow.y, 20.0, KIND_TITLES[kind])
        flow.gap(16)
        flow.text(MARGIN, flow.y, 10.0, KIND_TITLES_EN[kind], grey=True)
        flow.gap(12)
        fee = int(header.get("fee_fen") or 0)
        flow.rows(
            [
                ("报告编号 Report id", str(header["id"])),
                ("核验码 Reference", reference),
                ("报告时间 Issued", city_time(issued_at)),
                ("信息截止日 As of", str(header["as_of"])),
                ("目录版本 Catalog", str(header["catalog_version"])[:16]),
                ("收费 Fee", f"{fee / 100:.2f} 元" if fee else "免费 Free"),
            ],
            indent=0.0,
        )
        flow.gap(2)
        flow.paragraph(
            "本报告已由 CreditGate 报告签章证书电子签名（PAdES），可在 PDF 阅读器的签名面板查看"
            "签名与证书；纸质件请凭页脚的核验码与报告编号核验。 This report is digitally signed; "
            "a paper copy is checked with the reference and report id at the foot of each page.",
            8.0,
            grey=True,
        )
        flow.gap(6)

    def _summary(
        self, flow: Flow, numeral: str, kind: str, sections: Mapping[str, Sequence[Any]]
    ) -> None:
        flow.heading(f"{numeral}、信息概要  Summary")
        counts = [(f"{zh} {en}", len(sections.get(key) or [])) for key, zh, en in RECORD_SECTIONS]
        counts.append(("异议标注 Objection marks", len(sections.get("objections") or [])))
        counts.append(("本人声明 Statements", len(sections.get("statements") or [])))
        if kind == "self":
            counts.append(("查询记录 Query records", len(sections.get("query_records") or [])))
        flow.table(
            ["信息类别 Section", "条数 Entries"],
            [3, 1],
            [[label, str(n)] for label, n in counts],
            size=9.0,
        )
        flow.gap(4)

    def _records(self, flow: Flow, records: Sequence[Mapping[str, Any]]) -> None:
        if not records:
            flow.paragraph("无记录 No records", indent=12.0, grey=True)
            return
        for number, record in enumerate(records, start=1):
            record_type = self.catalog.record_types.get(str(record["type"]))
            title = f"{number}. {record.get('title_zh') or ''} {record.get('title') or ''}"
            flow.room(40)
            flow.paragraph(title.strip(), 10.0)
            dates = [("发生日期 Occurred", str(record["occurred_on"]))]
            if record.get("ended_on"):
                dates.append(("结束日期 Ended", str(record["ended_on"])))
            if record.get("display_until"):
                dates.append(("展示截止 Shown until", str(record["display_until"])))
            dates.append(("记录编号 Record id", str(record["id"])))
            masked: Mapping[str, str] = record.get("masked") or {}
            pairs = []
            for name, value in (record.get("fields") or {}).items():
                spec = (
                    record_type.field(name)
                    if record_type is not None and record_type.has_field(name)
                    else None
                )
                label = (spec.title_zh or spec.title) if spec is not None else name
                shown = _value(value, spec.type if spec is not None else None)
                if spec is not None and spec.type == "money_fen" and isinstance(value, int):
                    label = label.replace("(分)", "").replace("（分）", "")  # shown in yuan
                if name in masked:
                    shown += f"（{MASK_NOTES.get(masked[name], '已遮蔽')}）"
                pairs.append((label, shown))
            pairs += _marks(record)
            flow.rows(dates + pairs)
            flow.gap(5)

    def _notes(self, flow: Flow, notes: Sequence[Any]) -> None:
        if not notes:
            flow.paragraph("无 None", indent=12.0, grey=True)
            return
        for number, note in enumerate(notes, start=1):
            text = note.get("text") if isinstance(note, Mapping) else None
            if isinstance(note, Mapping) and text is None and "status" in note:
                text = f"{note.get('record_type')} {note.get('record_id')}: {_objection(note)}"
            flow.paragraph(f"{number}. {text if text is not None else note}", indent=12.0)

    def _query_records(self, flow: Flow, entries: Sequence[Mapping[str, Any]]) -> None:
        if not entries:
            flow.paragraph("无 None", indent=12.0, grey=True)
            return
        body = []
        for entry in entries:
            at = str(entry.get("at") or "")
            try:
                shown_at = city_time(datetime.fromisoformat(at))
            except ValueError:
                shown_at = at
            requester = str(entry.get("requester") or "")
            action = str(entry.get("action") or "")
            purpose = entry.get("purpose")
            body.append(
                [
                    shown_at.replace("（北京时间）", ""),
                    REQUESTERS.get(requester, requester),
                    ACTIONS.get(action, action),
                    ("—" if not purpose else self.purposes.get(str(purpose), str(purpose)))
                    + (f"（依据 {entry['legal_basis']}）" if entry.get("legal_basis") else ""),
                ]
            )
        flow.table(["查询时间（北京时间）", "查询者", "查询事项", "用途"], [3, 3, 3, 2], body)


def _objection(mark: Mapping[str, Any]) -> str:
    """An objection mark in words (dates, stage, outcome; never what anyone wrote)."""
    if mark.get("under_objection"):
        line = f"异议中 Under objection since {mark.get('filed_on')}"
        if mark.get("due_on"):
            line += f"，答复期限 answer due {mark.get('due_on')}"
        return line
    outcome = OUTCOMES.get(str(mark.get("outcome")), str(mark.get("outcome")))
    return f"异议已处理 Objection answered {mark.get('resolved_on')}: {outcome}"


def _marks(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The rows a record's marks add under it."""
    rows: list[tuple[str, str]] = []
    mark = record.get("objection")
    if isinstance(mark, Mapping):
        rows.append(("异议 Objection", _objection(mark)))
    statement = record.get("statement")
    if isinstance(statement, Mapping):
        rows.append(("本人声明 Statement", str(statement.get("text") or "")))
    return rows


OUTCOMES = {"corrected": "已更正 corrected", "deleted": "已删除 deleted", "upheld": "维持 upheld"}
