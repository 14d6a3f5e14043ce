"""住民票の写し — the certified copy of a resident record, as HTML and as PDF.

The input is a plain value object (:class:`ResidentRecordCopy`); nothing here
touches the web layer or the database. Both renderers share one "view" built
by :func:`_build_view`, which is also the single place that decides whether the
住民票コード and the 個人番号 (My Number) are printed: they are printed only when
``includes_number`` is true (the requester specially asked for them, 住民基本台帳法
第12条第5項); otherwise the columns read ``（省略）`` even if the fields are set.

Names are printed exactly as registered: they are never normalised (NFKC would
turn 髙 into 高 and change a person's legal name). The HTML is escaped by
Jinja2's autoescaping. The PDF embeds a subset of IPAex Gothic
(:func:`myna.fonts.japanese_font_path`); characters IPAex lacks, such as 𠮷
(U+20BB7), are drawn with a system fallback font when one is installed
(:func:`myna.fonts.cjk_fallback_font`), see :func:`unsupported_pdf_characters`.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import jinja2
from fpdf import FPDF
from fpdf.enums import Align, MethodReturnValue, WrapMode

from myna.clock import JST
from myna.fonts import FontFace, cjk_fallback_font, japanese_font_path
from myna.wareki import to_wareki  # re-exported: the registry's documents print it

__all__ = [
    "CERTIFICATION",
    "CERTIFICATION_REMOVED",
    "OMITTED",
    "CopyEntry",
    "ResidentRecordCopy",
    "render_html",
    "render_pdf",
    "to_wareki",
    "unsupported_pdf_characters",
]

#: Printed in the 住民票コード / 個人番号 columns when the number was not requested.
OMITTED = "（省略）"
#: The certification sentence (認証文) of a 住民票の写し.
CERTIFICATION = "この写しは、住民票の原本と相違ないことを証明する。"
#: The certification sentence of a 住民票の除票の写し.
CERTIFICATION_REMOVED = "この写しは、住民票の除票の原本と相違ないことを証明する。"

_NOT_APPLICABLE = "―"


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class CopyEntry:
    """One person on the copy."""

    name: str  # kanji, exactly as registered (never normalised)
    furigana: str
    birth_date: datetime.date
    sex: str  # '男' / '女'
    relationship: str  # 続柄, e.g. '世帯主', '妻', '子'
    became_resident_on: datetime.date  # 住民となった年月日
    address_since: datetime.date  # 住所を定めた年月日
    previous_address: str | None  # 前住所
    resident_code: str | None  # 住民票コード — None unless specially requested
    individual_number: str | None  # 個人番号 — None unless specially requested
    removed: str | None = None  # e.g. '令和6年5月1日 転出' for a 除票 entry
    nationality: str | None = None  # foreign residents
    residence_status: str | None = None  # 在留資格
    period_of_stay_until: datetime.date | None = None


@dataclass(frozen=True)
class ResidentRecordCopy:
    """A 住民票の写し (or 住民票の除票の写し) of one household, ready to print."""

    municipality_code: str
    municipality_name: str
    prefecture: str
    household_number: str
    head_of_household: str
    address: str
    entries: tuple[CopyEntry, ...]
    issued_at: datetime.datetime
    issued_by: str  # e.g. '国立市長'
    certificate_number: str  # serial of this copy
    includes_number: bool  # True when the number was specially requested
    is_removed_record: bool = False  # 除票の写し
    #: Household members left off (支援措置, no approval): for the staff screen, never printed.
    withheld: int = 0


def copy_to_json(copy: ResidentRecordCopy) -> dict[str, Any]:
    """The copy as JSON-ready data, so an issued copy can be shown again exactly."""
    def plain(value: Any) -> Any:
        if isinstance(value, datetime.date | datetime.datetime):
            return value.isoformat()
        return value

    data = {k: plain(v) for k, v in vars(copy).items() if k != "entries"}
    data["entries"] = [{k: plain(v) for k, v in vars(e).items()} for e in copy.entries]
    return data


def copy_from_json(data: dict[str, Any]) -> ResidentRecordCopy:
    """Inverse of :func:`copy_to_json`."""
    dates = {"birth_date", "became_resident_on", "address_since", "period_of_stay_until"}

    def entry(raw: dict[str, Any]) -> CopyEntry:
        values: dict[str, Any] = {
            k: (datetime.date.fromisoformat(v) if k in dates and v else v) for k, v in raw.items()
        }
        return CopyEntry(**values)

    fields = {k: v for k, v in data.items() if k != "entries"}
    fields["issued_at"] = datetime.datetime.fromisoformat(fields["issued_at"])
    return ResidentRecordCopy(**fields, entries=tuple(entry(e) for e in data["entries"]))


# ------------------------------------------------------------------------ view


@dataclass(frozen=True)
class _DateText:
    wareki: str  # 令和元年5月1日
    seireki: str  # （2019年）


@dataclass(frozen=True)
class _EntryView:
    name: str
    furigana: str
    birth: _DateText
    sex: str
    relationship: str
    became_resident: _DateText
    address_since: _DateText
    previous_address: str
    resident_code: str
    individual_number: str
    notes: tuple[str, ...]
    removed: bool


@dataclass(frozen=True)
class _DocumentView:
    title: str
    is_removed_record: bool
    locality: str
    municipality_code: str
    certificate_number: str
    address: str
    head_of_household: str
    household_number: str
    entries: tuple[_EntryView, ...]
    number_notice: str
    certification: str
    issued_date: str
    issued_timestamp: str
    issued_by: str
    seal_text: str

    def texts(self) -> Iterable[str]:
        """Every string that ends up on the page (for font coverage checks)."""
        yield from (
            self.title, self.locality, self.municipality_code, self.certificate_number,
            self.address, self.head_of_household, self.household_number, self.number_notice,
            self.certification, self.issued_date, self.issued_timestamp, self.issued_by,
            self.seal_text, "".join(_PDF_LABELS),
        )  # fmt: skip
        for e in self.entries:
            yield from (
                e.name, e.furigana, e.sex, e.relationship, e.previous_address, e.resident_code,
                e.individual_number, *e.notes,
            )  # fmt: skip
            for dt in (e.birth, e.became_resident, e.address_since):
                yield dt.wareki + dt.seireki


def _date_text(d: datetime.date) -> _DateText:
    return _DateText(to_wareki(d), f"（{d.year}年）")


def _issued_at_jst(issued_at: datetime.datetime) -> datetime.datetime:
    """Naive times are taken as Japan time; aware ones are converted to it."""
    if issued_at.tzinfo is None:
        return issued_at.replace(tzinfo=JST)
    return issued_at.astimezone(JST)


def _number(value: str | None, includes_number: bool) -> str:
    if not includes_number:
        return OMITTED
    return value if value else _NOT_APPLICABLE


def _entry_view(entry: CopyEntry, includes_number: bool) -> _EntryView:
    notes: list[str] = []
    if entry.nationality:
        notes.append(f"国籍・地域　{entry.nationality}")
    if entry.residence_status:
        notes.append(f"在留資格　{entry.residence_status}")
    if entry.period_of_stay_until is not None:
        until = entry.period_of_stay_until
        notes.append(f"在留期間等の満了の日　{to_wareki(until)}（{until.year}年）")
    if entry.removed:
        notes.append(f"消除　{entry.removed}")
    return _EntryView(
        name=entry.name,
        furigana=entry.furigana,
        birth=_date_text(entry.birth_date),
        sex=entry.sex,
        relationship=entry.relationship,
        became_resident=_date_text(entry.became_resident_on),
        address_since=_date_text(entry.address_since),
        previous_address=entry.previous_address or _NOT_APPLICABLE,
        resident_code=_number(entry.resident_code, includes_number),
        individual_number=_number(entry.individual_number, includes_number),
        notes=tuple(notes),
        removed=entry.removed is not None,
    )


def _build_view(copy: ResidentRecordCopy) -> _DocumentView:
    issued = _issued_at_jst(copy.issued_at)
    if copy.includes_number:
        notice = (
            "※ 請求により、住民票コード及び個人番号を記載しています。取扱いに注意してください。"
        )
    else:
        notice = "※ 住民票コード及び個人番号の記載を省略しています。"
    day = to_wareki(issued.date())
    return _DocumentView(
        title="住民票の除票の写し" if copy.is_removed_record else "住民票の写し",
        is_removed_record=copy.is_removed_record,
        locality=f"{copy.prefecture}{copy.municipality_name}",
        municipality_code=copy.municipality_code,
        certificate_number=copy.certificate_number,
        address=copy.address,
        head_of_household=copy.head_of_household,
        household_number=copy.household_number,
        entries=tuple(_entry_view(e, copy.includes_number) for e in copy.entries),
        number_notice=notice,
        certification=CERTIFICATION_REMOVED if copy.is_removed_record else CERTIFICATION,
        issued_date=day,
        issued_timestamp=f"{day} {issued:%H時%M分}（{issued:%Y-%m-%d %H:%M} JST）",
        issued_by=copy.issued_by,
        seal_text=f"{copy.issued_by}之印",
    )


# ------------------------------------------------------------------------ HTML

_TEMPLATE_DIR = Path(__file__).with_name("templates")
_TEMPLATE_NAME = "resident_copy.html"


@lru_cache(maxsize=1)
def _jinja_env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(copy: ResidentRecordCopy) -> str:
    """Render the copy as a standalone HTML5 page (``lang="ja"``) with a print stylesheet."""
    return _jinja_env().get_template(_TEMPLATE_NAME).render(doc=_build_view(copy))


# ------------------------------------------------------------------------- PDF

_PT = 25.4 / 72  # mm per point
_LEADING = 1.25  # line height / font size
_PAGE_W, _PAGE_H = 210.0, 297.0
_MARGIN = 12.0
_CONTENT_W = _PAGE_W - 2 * _MARGIN  # 186 mm
_FOOTER_H = 7.0
_BOTTOM = _PAGE_H - _MARGIN - _FOOTER_H
_PAD_X, _PAD_Y = 1.2, 0.8
# 氏名, 生年月日, 性別, 続柄, 住民となった年月日, 住所を定めた年月日 (mm; sums to _CONTENT_W)
_COLS = (46.0, 34.0, 12.0, 18.0, 38.0, 38.0)
_HEAD_FILL = (236, 236, 236)
_BLACK = (0, 0, 0)
_GREY = (70, 70, 70)
_RED = (200, 0, 0)
_RULE = 0.2
_PERSON_RULE = 0.45
_FONT = "IPAexGothic"
_FALLBACK = "CJKFallback"
_PDF_LABELS = (
    "ふりがな氏名生年月日性別続柄住民となった年月日住所を定めた年月日前住所住民票コード個人番号",
    "住所世帯主世帯番号団体コード証明書番号第号除票（続き）発行日時/0123456789",
)


@dataclass(frozen=True)
class _Run:
    """Lines of text in one size and colour inside a cell."""

    lines: tuple[str, ...]
    size: float
    color: tuple[int, int, int] = _BLACK

    @property
    def height(self) -> float:
        return len(self.lines) * self.size * _PT * _LEADING


@dataclass(frozen=True)
class _Cell:
    runs: tuple[_Run, ...]
    align: Align = Align.C
    top: bool = False  # align to the top instead of the middle

    @property
    def height(self) -> float:
        return sum(r.height for r in self.runs) + 2 * _PAD_Y


@lru_cache(maxsize=8)
def _codepoints(face: FontFace) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    font = TTFont(str(face.path), fontNumber=face.index, lazy=True)
    try:
        return frozenset(int(cp) for cp in font.getBestCmap())
    finally:
        font.close()


def _needs_glyph(ch: str) -> bool:
    return not ch.isspace() and ch.isprintable()


def _missing(text: str, fonts: Sequence[FontFace]) -> frozenset[str]:
    covered = [_codepoints(f) for f in fonts]
    return frozenset(
        ch for ch in text if _needs_glyph(ch) and not any(ord(ch) in c for c in covered)
    )


def unsupported_pdf_characters(text: str) -> frozenset[str]:
    """Characters of *text* that no available font can draw in the PDF.

    IPAex Gothic is always used; the system fallback font only when installed.
    Such characters come out as empty boxes (and fpdf2 logs a warning), so a
    clerk should be told before issuing the copy.

    >>> sorted(unsupported_pdf_characters("住民票の写し 髙橋 渡邊"))
    []
    """
    fonts = [FontFace(japanese_font_path())]
    fallback = cjk_fallback_font()
    if fallback is not None:
        fonts.append(fallback)
    return _missing(text, fonts)


class _ResidentCopyPDF(FPDF):
    def __init__(self, view: _DocumentView, issued_at: datetime.datetime) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.view = view
        self.set_margins(_MARGIN, _MARGIN, _MARGIN)
        self.set_auto_page_break(False)
        self.c_margin = 0
        primary = FontFace(japanese_font_path())
        self.add_font(_FONT, fname=str(primary.path))
        fallback = cjk_fallback_font()
        all_text = "".join(view.texts())
        if fallback is not None and _missing(all_text, [primary]):
            self.add_font(
                _FALLBACK, fname=str(fallback.path), collection_font_number=fallback.index
            )
            self.set_fallback_fonts([_FALLBACK], exact_match=False)
        self.set_font(_FONT, size=9)
        self.set_draw_color(*_BLACK)
        self.set_line_width(_RULE)
        self.set_creation_date(issued_at)
        self.set_title(f"{view.title}（{view.locality}）")
        self.set_subject(view.title)
        self.set_author(view.issued_by)
        self.set_creator("myna")
        self.set_lang("ja-JP")
        self.alias_nb_pages()

    # -- primitives ----------------------------------------------------------------

    def _wrap(self, text: str, width: float, size: float, mode: WrapMode) -> tuple[str, ...]:
        if not text:
            return ("",)
        self.set_font_size(size)
        lines = self.multi_cell(
            width,
            size * _PT * _LEADING,
            text,
            dry_run=True,
            output=MethodReturnValue.LINES,
            wrapmode=mode,
        )
        return tuple(cast(list[str], lines)) or ("",)

    def _run(
        self,
        text: str,
        width: float,
        size: float,
        color: tuple[int, int, int] = _BLACK,
        mode: WrapMode = WrapMode.CHAR,
    ) -> _Run:
        return _Run(self._wrap(text, width - 2 * _PAD_X, size, mode), size, color)

    def _draw_cell(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        cell: _Cell | None,
        fill: tuple[int, int, int] | None = None,
    ) -> None:
        self.set_line_width(_RULE)
        if fill is not None:
            self.set_fill_color(*fill)
        self.rect(x, y, w, h, style="DF" if fill is not None else "D")
        if cell is None:
            return
        cy = y + _PAD_Y if cell.top else y + (h - sum(r.height for r in cell.runs)) / 2
        for run in cell.runs:
            self.set_font_size(run.size)
            self.set_text_color(*run.color)
            line_h = run.size * _PT * _LEADING
            for line in run.lines:
                self.set_xy(x + _PAD_X, cy)
                self.cell(w - 2 * _PAD_X, line_h, line, align=cell.align)
                cy += line_h
        self.set_text_color(*_BLACK)

    def _label(self, text: str, width: float, size: float = 7.5) -> _Cell:
        return _Cell((self._run(text, width, size),))

    # -- page furniture ------------------------------------------------------------

    def footer(self) -> None:
        self.set_font(_FONT, size=7.5)
        self.set_text_color(*_GREY)
        y = _PAGE_H - _MARGIN - 4
        self.set_xy(_MARGIN, y)
        self.cell(_CONTENT_W / 3, 4, f"発行日時 {self.view.issued_timestamp}", align=Align.L)
        self.set_xy(_MARGIN + _CONTENT_W / 3, y)
        self.cell(_CONTENT_W / 3, 4, f"{self.page_no()} / {{nb}}", align=Align.C)
        self.set_xy(_MARGIN + 2 * _CONTENT_W / 3, y)
        self.cell(
            _CONTENT_W / 3, 4, f"証明書番号 第{self.view.certificate_number}号", align=Align.R
        )
        self.set_text_color(*_BLACK)

    def _page_heading(self, continued: bool) -> None:
        v = self.view
        self.add_page()
        self.set_font(_FONT, size=8)
        self.set_text_color(*_GREY)
        self.set_xy(_MARGIN, _MARGIN)
        self.cell(_CONTENT_W / 2, 4, f"{v.locality}（団体コード {v.municipality_code}）")
        self.set_xy(_MARGIN + _CONTENT_W / 2, _MARGIN)
        self.cell(_CONTENT_W / 2, 4, f"証明書番号 第{v.certificate_number}号", align=Align.R)
        self.set_text_color(*_BLACK)

        title = f"{v.title}（続き）" if continued else v.title
        size = 14.0 if continued else 20.0
        title_y = _MARGIN + 7
        title_h = size * _PT * 1.4
        self.set_font_size(size)
        title_w = self.get_string_width(title)
        title_x = _MARGIN + (_CONTENT_W - title_w) / 2
        with self.local_context(text_mode="FILL_STROKE", line_width=size / 100):
            self.set_xy(title_x, title_y)
            self.cell(title_w, title_h, title)
        if v.is_removed_record:
            # A red 除票 mark to the left of the title.
            self.set_font_size(size * 0.7)
            mark_w = self.get_string_width("除票") + 3
            mark_h = size * 0.7 * _PT * 1.5
            mark_x = title_x - mark_w - 4
            mark_y = title_y + (title_h - mark_h) / 2
            self.set_draw_color(*_RED)
            self.set_text_color(*_RED)
            self.set_line_width(0.6)
            self.rect(mark_x, mark_y, mark_w, mark_h)
            self.set_xy(mark_x, mark_y)
            self.cell(mark_w, mark_h, "除票", align=Align.C)
            self.set_draw_color(*_BLACK)
            self.set_text_color(*_BLACK)
        self.set_y(title_y + title_h + 3)

    def _household_box(self) -> None:
        v = self.view
        label_w = 22.0
        value_w = _CONTENT_W - label_w
        half_w = (_CONTENT_W - 2 * label_w) / 2
        address = _Cell((self._run(v.address, value_w, 10),), align=Align.L)
        y = self.get_y()
        h = max(7.0, address.height)
        self._draw_cell(_MARGIN, y, label_w, h, self._label("住所", label_w, 8), _HEAD_FILL)
        self._draw_cell(_MARGIN + label_w, y, value_w, h, address)
        y += h
        head = _Cell((self._run(v.head_of_household, half_w, 10, mode=WrapMode.WORD),), Align.L)
        number = _Cell((self._run(v.household_number, half_w, 10),), align=Align.L)
        h = max(7.0, head.height, number.height)
        x = _MARGIN
        self._draw_cell(x, y, label_w, h, self._label("世帯主", label_w, 8), _HEAD_FILL)
        self._draw_cell(x + label_w, y, half_w, h, head)
        x += label_w + half_w
        self._draw_cell(x, y, label_w, h, self._label("世帯番号", label_w, 8), _HEAD_FILL)
        self._draw_cell(x + label_w, y, half_w, h, number)
        self.set_y(y + h + 3)

    def _table_heading(self) -> None:
        y = self.get_y()
        row_h = 6.0
        xs = [_MARGIN + sum(_COLS[:i]) for i in range(len(_COLS))]
        name_head = _Cell((_Run(("ふりがな",), 6.5, _GREY), _Run(("氏名",), 8)))
        self._draw_cell(xs[0], y, _COLS[0], 2 * row_h, name_head, _HEAD_FILL)
        top = ("生年月日", "性別", "続柄", "住民となった年月日", "住所を定めた年月日")
        for i, text in enumerate(top, start=1):
            self._draw_cell(xs[i], y, _COLS[i], row_h, self._label(text, _COLS[i]), _HEAD_FILL)
        y += row_h
        prev_w = sum(_COLS[1:4])
        self._draw_cell(xs[1], y, prev_w, row_h, self._label("前住所", prev_w), _HEAD_FILL)
        self._draw_cell(
            xs[4], y, _COLS[4], row_h, self._label("住民票コード", _COLS[4]), _HEAD_FILL
        )
        self._draw_cell(xs[5], y, _COLS[5], row_h, self._label("個人番号", _COLS[5]), _HEAD_FILL)
        self.set_line_width(_PERSON_RULE)
        self.line(_MARGIN, y + row_h, _MARGIN + _CONTENT_W, y + row_h)
        self.set_line_width(_RULE)
        self.set_y(y + row_h)

    # -- one person ----------------------------------------------------------------

    def _entry_layout(self, e: _EntryView) -> tuple[list[float], dict[str, _Cell]]:
        """Cells of one person and the heights of its sub-rows."""

        def date_cell(d: _DateText, w: float) -> _Cell:
            return _Cell((self._run(d.wareki, w, 8.5), self._run(d.seireki, w, 7, _GREY)))

        name_runs = [
            self._run(e.furigana, _COLS[0], 7, _GREY),
            self._run(e.name, _COLS[0], 12, mode=WrapMode.WORD),
        ]
        if e.removed:
            name_runs.append(self._run("【消除】", _COLS[0], 7.5, _RED))
        prev_w = sum(_COLS[1:4])
        cells = {
            "name": _Cell(tuple(name_runs), align=Align.L, top=True),
            "birth": date_cell(e.birth, _COLS[1]),
            "sex": _Cell((self._run(e.sex, _COLS[2], 9),)),
            "relationship": _Cell((self._run(e.relationship, _COLS[3], 9),)),
            "became": date_cell(e.became_resident, _COLS[4]),
            "since": date_cell(e.address_since, _COLS[5]),
            "previous": _Cell((self._run(e.previous_address, prev_w, 8),), align=Align.L),
            "code": _Cell((self._run(e.resident_code, _COLS[4], 8.5),)),
            "number": _Cell((self._run(e.individual_number, _COLS[5], 8.5),)),
        }
        row1 = max(8.5, *(cells[k].height for k in ("birth", "sex", "relationship", "became")))
        row2 = max(5.5, *(cells[k].height for k in ("previous", "code", "number")))
        heights = [row1, row2]
        if e.notes:
            notes_w = _CONTENT_W - _COLS[0]
            cells["notes"] = _Cell((self._run("　".join(e.notes), notes_w, 8),), align=Align.L)
            heights.append(max(5.5, cells["notes"].height))
        shortfall = cells["name"].height - sum(heights)
        if shortfall > 0:
            heights[1] += shortfall
        return heights, cells

    def _entry(self, e: _EntryView, keep_with: float = 0.0) -> None:
        """Draw one person; *keep_with* mm must fit below it on the same page."""
        heights, cells = self._entry_layout(e)
        if self.get_y() + sum(heights) + keep_with > _BOTTOM:
            self._page_heading(continued=True)
            self._table_heading()
        xs = [_MARGIN + sum(_COLS[:i]) for i in range(len(_COLS))]
        y = self.get_y()
        self._draw_cell(xs[0], y, _COLS[0], sum(heights), cells["name"])
        for i, key in enumerate(("birth", "sex", "relationship", "became", "since"), start=1):
            self._draw_cell(xs[i], y, _COLS[i], heights[0], cells[key])
        y += heights[0]
        self._draw_cell(xs[1], y, sum(_COLS[1:4]), heights[1], cells["previous"])
        self._draw_cell(xs[4], y, _COLS[4], heights[1], cells["code"])
        self._draw_cell(xs[5], y, _COLS[5], heights[1], cells["number"])
        y += heights[1]
        if "notes" in cells:
            self._draw_cell(xs[1], y, _CONTENT_W - _COLS[0], heights[2], cells["notes"])
            y += heights[2]
        self.set_line_width(_PERSON_RULE)
        self.line(_MARGIN, y, _MARGIN + _CONTENT_W, y)
        self.set_line_width(_RULE)
        self.set_y(y)

    # -- certification -------------------------------------------------------------

    _SEAL = 18.0
    _CERT_LINE = 10.5 * _PT * 1.6

    def _certification_height(self) -> float:
        notice = self._run(self.view.number_notice, _CONTENT_W, 8, _GREY)
        return 1.5 + notice.height + 4 + 2 * self._CERT_LINE + 3 + self._SEAL

    def _certification(self) -> None:
        v = self.view
        notice = self._run(v.number_notice, _CONTENT_W, 8, _GREY)
        seal = self._SEAL
        if self.get_y() + self._certification_height() > _BOTTOM:
            self._page_heading(continued=True)
        y = self.get_y() + 1.5
        self._draw_text_lines(notice, _MARGIN, y)
        y += notice.height + 4
        self.set_font_size(10.5)
        line_h = self._CERT_LINE
        for text in (v.certification, v.issued_date):
            self.set_xy(_MARGIN + 6, y)
            self.cell(_CONTENT_W - 6, line_h, text)
            y += line_h
        y += 3
        # Issuer and the 公印 (official seal).
        seal_x = _MARGIN + _CONTENT_W - seal
        self.set_font_size(14)
        issuer_w = self.get_string_width(v.issued_by)
        self.set_xy(seal_x - issuer_w - 6, y + (seal - 8) / 2)
        self.cell(issuer_w, 8, v.issued_by)
        self._seal(seal_x, y, seal)
        self.set_y(y + seal)

    def _draw_text_lines(self, run: _Run, x: float, y: float) -> None:
        self.set_font_size(run.size)
        self.set_text_color(*run.color)
        line_h = run.size * _PT * _LEADING
        for line in run.lines:
            self.set_xy(x, y)
            self.cell(_CONTENT_W, line_h, line)
            y += line_h
        self.set_text_color(*_BLACK)

    def _seal(self, x: float, y: float, size: float) -> None:
        """The 公印: a red square with the text in vertical columns, read right to left."""
        text = self.view.seal_text
        per_column = max(1, math.ceil(math.sqrt(len(text))))
        columns = [text[i : i + per_column] for i in range(0, len(text), per_column)]
        self.set_draw_color(*_RED)
        self.set_text_color(*_RED)
        self.set_line_width(0.8)
        self.rect(x, y, size, size)
        self.set_line_width(0.25)
        self.rect(x + 1.2, y + 1.2, size - 2.4, size - 2.4)
        inner = size - 5.0
        glyph = min(inner / per_column, inner / len(columns))  # mm per character
        self.set_font_size(glyph / _PT)
        left = x + (size - glyph * len(columns)) / 2
        top = y + (size - glyph * per_column) / 2
        for i, column in enumerate(columns):
            column_x = left + (len(columns) - 1 - i) * glyph
            for j, char in enumerate(column):
                self.set_xy(column_x, top + j * glyph)
                self.cell(glyph, glyph, char, align=Align.C)
        self.set_draw_color(*_BLACK)
        self.set_text_color(*_BLACK)
        self.set_line_width(_RULE)

    # -- whole document ------------------------------------------------------------

    def render(self) -> bytes:
        self._page_heading(continued=False)
        self._household_box()
        self._table_heading()
        # The certification is never alone on a page: the last person goes with it.
        last = len(self.view.entries) - 1
        for i, entry in enumerate(self.view.entries):
            self._entry(entry, keep_with=self._certification_height() if i == last else 0.0)
        self._certification()
        return bytes(self.output())


def render_pdf(copy: ResidentRecordCopy) -> bytes:
    """Render the copy as an A4 portrait PDF with IPAex Gothic embedded (subset).

    The output is deterministic for a given copy: the creation date is taken from
    ``issued_at`` (naive times are read as Japan time).
    """
    view = _build_view(copy)
    return _ResidentCopyPDF(view, _issued_at_jst(copy.issued_at)).render()
