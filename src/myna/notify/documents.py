"""The letter as a printable A4 PDF: 個人番号通知書 and one 交付申請書 per person.

Page 1 is the notice itself, laid out for a window envelope: the address block
sits where the window is, with the sealed-letter markings (親展・転送不要) beside
it.  It lists the people on the letter — for a letter to a registered 居所 only
that person — with their individual numbers, and says that the card is voluntary.
Then come the application forms, two to a page with a cut line between them,
each with its own 申請書ID and a QR code that encodes only the online-application
URL with that ID (no name, number or address).

Names are printed exactly as registered.  IPAex Gothic is embedded (subset);
characters it lacks (e.g. 𠮷) use a system fallback font when one is installed.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from functools import lru_cache
from typing import cast

import segno
from fpdf import FPDF
from fpdf.enums import Align, MethodReturnValue, WrapMode

from myna.clock import to_jst
from myna.fonts import FontFace, cjk_fallback_font, japanese_font_path
from myna.notify.domain import (
    Letter,
    LetterKind,
    LetterMember,
    application_url,
    format_application_id,
)
from myna.numbers import individual
from myna.wareki import to_wareki

__all__ = ["qr_code", "render_letter_pdf", "voluntary_note"]

_PT = 25.4 / 72  # mm per point
_PAGE_W, _PAGE_H = 210.0, 297.0
_MARGIN = 15.0
_CONTENT_W = _PAGE_W - 2 * _MARGIN  # 180 mm
_FONT = "IPAexGothic"
_FALLBACK = "CJKFallback"
_BLACK = (0, 0, 0)
_GREY = (90, 90, 90)
_LIGHT = (238, 238, 238)
_RED = (200, 0, 0)
_RULE = 0.25
_FORM_H = 124.0
_QR_MM = 34.0
_BOTTOM = _PAGE_H - _MARGIN - 2  # the footer sits below
_ENCLOSURES_H = 16.0

#: The sentence every letter and form carries: nobody is made to apply.
VOLUNTARY = (
    "個人番号カードの取得は任意です。申請しなくても、行政の手続や給付を受けられなく"
    "なることはありません。"
)


def voluntary_note() -> str:
    """The voluntary-card sentence printed on every letter and form."""
    return VOLUNTARY


def qr_code(url: str) -> segno.QRCode:
    """The QR code of an application URL (error correction level M, never Micro QR)."""
    return segno.make(url, error="m", micro=False, boost_error=False)


def _qr_png(url: str) -> bytes:
    buf = io.BytesIO()
    qr_code(url).save(buf, kind="png", scale=8, border=4)
    return buf.getvalue()


@lru_cache(maxsize=4)
def _codepoints(face: FontFace) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    font = TTFont(str(face.path), fontNumber=face.index, lazy=True)
    try:
        return frozenset(int(cp) for cp in font.getBestCmap())
    finally:
        font.close()


def _needs_fallback(texts: Iterable[str]) -> bool:
    covered = _codepoints(FontFace(japanese_font_path()))
    return any(
        ord(ch) not in covered for text in texts for ch in text
        if ch.isprintable() and not ch.isspace()
    )


def _postcode(code: str) -> str:
    return f"〒{code[:3]}-{code[3:]}"




class _LetterPDF(FPDF):
    def __init__(self, letter: Letter) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.letter = letter
        self.issued = to_jst(letter.prepared_at)
        self.set_margins(_MARGIN, _MARGIN, _MARGIN)
        self.set_auto_page_break(False)
        self.c_margin = 0
        self.add_font(_FONT, fname=str(japanese_font_path()))
        fallback = cjk_fallback_font()
        texts = [m.name for m in letter.members] + [
            letter.address, letter.destination.address, letter.destination.care_of or ""
        ]
        if fallback is not None and _needs_fallback(texts):
            self.add_font(
                _FALLBACK, fname=str(fallback.path), collection_font_number=fallback.index
            )
            self.set_fallback_fonts([_FALLBACK], exact_match=False)
        self.set_font(_FONT, size=10)
        self.set_line_width(_RULE)
        self.set_creation_date(self.issued)
        self.set_title(f"個人番号通知書（通知番号 {letter.letter_id}）")
        self.set_subject("個人番号通知書・個人番号カード交付申請書")
        self.set_author(f"{letter.municipality_name}長")
        self.set_creator("myna")
        self.set_lang("ja-JP")
        self.alias_nb_pages()

    # -- primitives ---------------------------------------------------------------------

    def _lines(self, w: float, text: str, size: float) -> int:
        self.set_font(_FONT, size=size)
        lines = self.multi_cell(w, size * _PT, text, wrapmode=WrapMode.CHAR, dry_run=True,
                                output=MethodReturnValue.LINES)
        return len(cast(list[str], lines))

    def _text(
        self, x: float, y: float, w: float, text: str, size: float,
        color: tuple[int, int, int] = _BLACK, align: Align = Align.L, leading: float = 1.45,
    ) -> float:
        """Wrapped text at (x, y); returns the height used."""
        line_h = size * _PT * leading
        count = self._lines(w, text, size)
        self.set_text_color(*color)
        self.set_xy(x, y)
        self.multi_cell(w, line_h, text, align=align, wrapmode=WrapMode.CHAR)
        self.set_text_color(*_BLACK)
        return count * line_h

    def _bold(self, x: float, y: float, w: float, h: float, text: str, size: float,
              align: Align = Align.C, color: tuple[int, int, int] = _BLACK) -> None:
        """Heavier text (IPAex has no bold face: fill and stroke the glyphs)."""
        self.set_font(_FONT, size=size)
        self.set_text_color(*color)
        self.set_draw_color(*color)
        with self.local_context(text_mode="FILL_STROKE", line_width=size / 90):
            self.set_xy(x, y)
            self.cell(w, h, text, align=align)
        self.set_text_color(*_BLACK)
        self.set_draw_color(*_BLACK)

    def _box(self, x: float, y: float, w: float, h: float, fill: bool = False) -> None:
        self.set_line_width(_RULE)
        if fill:
            self.set_fill_color(*_LIGHT)
        self.rect(x, y, w, h, style="DF" if fill else "D")

    def _label_cell(self, x: float, y: float, w: float, h: float, text: str) -> None:
        self._box(x, y, w, h, fill=True)
        self.set_font(_FONT, size=8)
        self.set_xy(x, y)
        self.cell(w, h, text, align=Align.C)

    def footer(self) -> None:
        letter = self.letter
        self.set_font(_FONT, size=7.5)
        self.set_text_color(*_GREY)
        y = _PAGE_H - _MARGIN + 3
        left = f"通知番号 {letter.letter_id}"
        if letter.kind is LetterKind.HOUSEHOLD:
            left += f"　世帯番号 {letter.household_number}"
        self.set_xy(_MARGIN, y)
        self.cell(_CONTENT_W / 3, 4, left)
        self.set_xy(_MARGIN + _CONTENT_W / 3, y)
        self.cell(_CONTENT_W / 3, 4, f"{self.page_no()} / {{nb}}", align=Align.C)
        self.set_xy(_MARGIN + 2 * _CONTENT_W / 3, y)
        self.cell(_CONTENT_W / 3, 4, f"{letter.municipality_name}（{letter.municipality_code}）",
                  align=Align.R)
        self.set_text_color(*_BLACK)

    # -- page 1: the notice ---------------------------------------------------------------

    def _envelope(self) -> float:
        """Address block (window position), markings and sender; returns the y below."""
        letter = self.letter
        dest = letter.destination
        x, y, w = _MARGIN + 5, _MARGIN + 8, 100.0
        self._text(x, y, w, _postcode(dest.postcode), 11)
        y += 6.5
        y += self._text(x, y, w, dest.address, 11, leading=1.35)
        if dest.care_of:
            y += self._text(x, y, w, dest.care_of, 11, leading=1.35)
        first = letter.members[0]
        self._bold(x + 4, y + 2, w - 4, 9, f"{first.name}　様", 15, align=Align.L)
        y += 12
        if letter.kind is LetterKind.HOUSEHOLD:
            note = f"（世帯の方 {len(letter.members)}名分の通知を同封しています）"
        else:
            note = "（ご本人の分のみ、登録された居所あてにお送りしています）"
        self._text(x + 4, y, w - 4, note, 8, _GREY)

        # 親展・転送不要 in red frames, then the sender.
        mx, my = _MARGIN + _CONTENT_W - 46, _MARGIN + 8
        for mark in ("親展", "転送不要"):
            self.set_draw_color(*_RED)
            self.set_line_width(0.7)
            self.rect(mx, my, 46, 11)
            self._bold(mx, my, 46, 11, mark, 15, color=_RED)
            my += 13
        self.set_draw_color(*_BLACK)
        self._text(mx, my + 1, 46, "重要　個人番号通知書 在中", 8.5, _RED, Align.C)
        sender = (f"差出人　{letter.municipality_name}長\n"
                  "送付事務の委託先　地方公共団体情報システム機構")
        self._text(mx - 34, my + 8, 80, sender, 7, _GREY, Align.R)
        return _MARGIN + 70

    def _notice(self) -> None:
        letter = self.letter
        y = self._envelope()
        self.set_draw_color(*_GREY)
        self.set_line_width(0.4)
        self.line(_MARGIN, y, _MARGIN + _CONTENT_W, y)
        self.line(_MARGIN, y + 0.9, _MARGIN + _CONTENT_W, y + 0.9)
        self.set_draw_color(*_BLACK)
        y += 5
        self._bold(_MARGIN, y, _CONTENT_W, 11, "個人番号通知書", 20)
        y += 13
        self._text(_MARGIN, y, _CONTENT_W,
                   f"{to_wareki(self.issued.date())}\n{letter.municipality_name}長",
                   9.5, align=Align.R)
        y += 11
        if letter.kind is LetterKind.HOUSEHOLD:
            intro = ("あなたの世帯の方の個人番号（マイナンバー）を、番号法第7条第1項に基づき"
                     "お知らせします。個人番号は、住民票のある方一人ひとりに指定される12桁の番号です。")
        else:
            intro = ("あなたの個人番号（マイナンバー）を、番号法第7条第1項に基づきお知らせします。"
                     "この通知は、ご登録いただいた居所あてに、あなたの分だけをお送りしています。")
        y += self._text(_MARGIN, y, _CONTENT_W, intro, 10) + 3
        y = self._people_table(y) + 5
        y = self._notes(y)
        self._enclosures(y + 4)

    def _continued(self) -> float:
        """A continuation page of the notice; returns the y to go on from."""
        self.add_page()
        self._bold(_MARGIN, _MARGIN, _CONTENT_W, 9, "個人番号通知書（続き）", 14)
        return _MARGIN + 14

    def _people_table(self, y: float) -> float:
        cols = (66.0, 46.0, 14.0, 54.0)
        xs = [_MARGIN + sum(cols[:i]) for i in range(len(cols))]
        row_h = 14.0

        def heading(y: float) -> float:
            for x, w, head in zip(xs, cols, ("氏名", "生年月日", "性別", "個人番号"), strict=True):
                self._label_cell(x, y, w, 7, head)
            return y + 7

        y = heading(y)
        for m in self.letter.members:
            if y + row_h > _BOTTOM:
                y = heading(self._continued())
            for x, w in zip(xs, cols, strict=True):
                self._box(x, y, w, row_h)
            self._text(xs[0] + 2, y + 1.6, cols[0] - 4, m.furigana, 7, _GREY)
            self.set_font(_FONT, size=12.5)
            self.set_xy(xs[0] + 2, y + 6)
            self.cell(cols[0] - 4, 6.5, m.name)
            self._text(xs[1], y + 2.5, cols[1], to_wareki(m.birth_date), 9.5, align=Align.C)
            self._text(xs[1], y + 7.6, cols[1], f"（{m.birth_date.year}年）", 7.5, _GREY,
                       align=Align.C)
            self.set_font(_FONT, size=10)
            self.set_xy(xs[2], y)
            self.cell(cols[2], row_h, m.sex, align=Align.C)
            self._bold(xs[3], y, cols[3], row_h, individual.format(m.individual_number), 14)
            y += row_h
        return y

    def _notes(self, y: float) -> float:
        letter = self.letter
        notes = [
            VOLUNTARY,
            "同封の「個人番号カード交付申請書」はお一人に1枚です。申請書IDは一人ひとり異なり、"
            "1回だけ使えます。",
            "この通知書は、個人番号を証明する書類や本人確認書類としては使えません。",
            "個人番号は、法律で定められた社会保障・税・災害対策の手続のためにだけ提供します。"
            "それ以外の目的で求められても、提供する必要はありません。",
            f"大切に保管してください。紛失したときは、{letter.municipality_name}の窓口に"
            "お届けください。",
        ]
        if letter.kind is LetterKind.ALTERNATIVE:
            notes.append("住民票上の住所の世帯あての通知には、あなたの記載はありません。")
        height = 9 + sum(self._lines(_CONTENT_W - 12, n, 9) * 9 * _PT * 1.45 + 1.2
                         for n in notes) + 2 + _ENCLOSURES_H
        if y + height > _BOTTOM:
            y = self._continued()
        top = y
        self._bold(_MARGIN + 4, y + 2.5, 40, 6, "ご注意", 10.5, align=Align.L)
        y += 9
        for i, note in enumerate(notes):
            color = _RED if i == 0 else _BLACK
            self._text(_MARGIN + 4, y, 5, "・", 9, color)
            y += self._text(_MARGIN + 8, y, _CONTENT_W - 12, note, 9, color) + 1.2
        self.set_draw_color(*_GREY)
        self.rect(_MARGIN, top, _CONTENT_W, y - top + 2)
        self.set_draw_color(*_BLACK)
        return y + 2

    def _enclosures(self, y: float) -> None:
        n = len(self.letter.members)
        self._text(_MARGIN, y, _CONTENT_W,
                   f"同封物　個人番号通知書 1枚、個人番号カード交付申請書 {n}枚", 9)
        self._text(_MARGIN, y + 6, _CONTENT_W,
                   "この郵便物は転送されません。宛先に住んでいない場合は、開封せずに郵便局へお返しください。",
                   8, _GREY)

    # -- the application forms ----------------------------------------------------------------

    def _form(self, y0: float, m: LetterMember) -> None:
        letter = self.letter
        x0, w0 = _MARGIN, _CONTENT_W
        self.set_line_width(0.5)
        self.rect(x0, y0, w0, _FORM_H)
        self.set_line_width(_RULE)
        # header band
        self.set_fill_color(*_LIGHT)
        self.rect(x0, y0, w0, 12, style="F")
        self.line(x0, y0 + 12, x0 + w0, y0 + 12)
        self._bold(x0 + 4, y0 + 1.5, 100, 9, "個人番号カード交付申請書", 14, align=Align.L)
        self._text(x0 + w0 - 82, y0 + 1.6, 78, "申請書ID", 7, _GREY, Align.R)
        self._bold(x0 + w0 - 82, y0 + 4.8, 78, 6, format_application_id(m.application_id),
                   11.5, align=Align.R)

        # the person (as registered)
        label_w, value_w = 22.0, 92.0
        x, y = x0 + 4, y0 + 15
        rows: list[tuple[str, float]] = [("氏名", 14), ("生年月日", 8), ("性別", 8),
                                         ("住所", 13), ("交付市区町村", 8)]
        for label, h in rows:
            self._label_cell(x, y, label_w, h, label)
            self._box(x + label_w, y, value_w, h)
            vx, vw = x + label_w + 2, value_w - 4
            if label == "氏名":
                self._text(vx, y + 1.2, vw, m.furigana, 7, _GREY)
                self.set_font(_FONT, size=13)
                self.set_xy(vx, y + 5.8)
                self.cell(vw, 7, m.name)
            elif label == "生年月日":
                self._text(vx, y + 1.6, vw, f"{to_wareki(m.birth_date)}（{m.birth_date.year}年）",
                           9.5)
            elif label == "性別":
                self._text(vx, y + 1.6, vw, m.sex, 9.5)
            elif label == "住所":
                self._text(vx, y + 1.4, vw, f"{_postcode(letter.postcode)}\n{letter.address}", 9,
                           leading=1.35)
            else:
                place = f"{letter.municipality_name}（{letter.municipality_code}）"
                self._text(vx, y + 1.6, vw, place, 9.5)
            y += h

        # QR code and how to apply
        qx = x0 + w0 - 4 - _QR_MM - 14
        url = application_url(letter.apply_url, m.application_id)
        self.image(io.BytesIO(_qr_png(url)), x=qx + 7, y=y0 + 15, w=_QR_MM, h=_QR_MM)
        self._text(qx, y0 + 15 + _QR_MM + 0.5, _QR_MM + 14,
                   "スマートフォンで読み取ると、オンライン申請の画面が開きます", 7, align=Align.C)
        self._text(qx, y0 + 15 + _QR_MM + 7.5, _QR_MM + 14,
                   "QRコードの内容は申請用URLと\n申請書IDだけです", 6.5, _GREY, align=Align.C)

        # photo, date and signature
        py = y + 4
        self.set_dash_pattern(dash=1.2, gap=0.8)
        self.rect(x, py, 35, 45)
        self.set_dash_pattern()
        self._text(x, py + 14, 35, "顔写真\n縦4.5cm×横3.5cm\n6か月以内に撮影\n正面・無帽・無背景",
                   7, _GREY, Align.C)
        sx, sw = x + 39, 79.0
        self._label_cell(sx, py, 22, 8, "申請日")
        self._box(sx + 22, py, sw - 22, 8)
        self._text(sx + 22, py + 1.8, sw - 22, "令和　　　年　　　月　　　日", 9, align=Align.C)
        self._label_cell(sx, py + 8, 22, 14, "署名")
        self._box(sx + 22, py + 8, sw - 22, 14)
        self._text(sx + 23, py + 17.5, sw - 24, "（ご本人が自署してください）", 6.5, _GREY)
        ny = py + 25
        ny += self._text(sx, ny, sw, VOLUNTARY, 8, _RED) + 1
        self._text(sx, ny, sw,
                   "申請しない場合、この用紙を提出する必要はありません。この申請書IDは1回だけ使えます。",
                   7.5, _GREY)

        # ways to apply
        wx, wy, ww = qx - 2, y0 + 15 + _QR_MM + 16, _QR_MM + 18
        self._text(wx, wy, ww, "申請の方法（いずれか一つ）", 8)
        ways = ("① スマートフォン（QRコード）\n② パソコン（申請書IDを入力）\n"
                "③ まちなかの証明写真機\n④ 郵便（写真を貼り署名して返送）")
        wy += 5
        wy += self._text(wx, wy, ww, ways, 7, leading=1.4) + 1
        self._text(wx, wy, ww, letter.apply_url, 6.5, _GREY)
        # the form's own small print
        small = (f"通知番号 {letter.letter_id}　／　"
                 "交付申請書の記載事項は住民票に記録されている内容です。")
        self._text(x0 + 4, y0 + _FORM_H - 6, w0 - 8, small, 6.5, _GREY)

    def _cut_line(self, y: float) -> None:
        self.set_draw_color(*_GREY)
        self.set_dash_pattern(dash=2, gap=1.5)
        self.line(_MARGIN - 5, y, _MARGIN + _CONTENT_W + 5, y)
        self.set_dash_pattern()
        self.set_draw_color(*_BLACK)
        self.set_font(_FONT, size=7)
        self.set_text_color(*_GREY)
        self.set_fill_color(255, 255, 255)
        self.set_xy(_PAGE_W / 2 - 15, y - 2)
        self.cell(30, 4, "キリトリ線", align=Align.C, fill=True)
        self.set_text_color(*_BLACK)

    def render(self) -> bytes:
        self.add_page()
        self._notice()
        members = self.letter.members
        for i in range(0, len(members), 2):
            self.add_page()
            self._form(_MARGIN, members[i])
            if i + 1 < len(members):
                self._cut_line(_MARGIN + _FORM_H + 6)
                self._form(_MARGIN + _FORM_H + 12, members[i + 1])
        return bytes(self.output())


def render_letter_pdf(letter: Letter) -> bytes:
    """The letter as an A4 PDF with IPAex Gothic embedded; deterministic per letter."""
    return _LetterPDF(letter).render()
