"""住民票の写し: HTML and PDF rendering, 和暦, number masking and Japanese fonts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.util
import io
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from pypdf import PdfReader

from myna import fonts
from myna.registry.documents import (
    CERTIFICATION,
    CERTIFICATION_REMOVED,
    OMITTED,
    CopyEntry,
    ResidentRecordCopy,
    render_html,
    render_pdf,
    to_wareki,
    unsupported_pdf_characters,
)

RARE = "\U00020bb7"  # 𠮷 (つちよし), outside the BMP; IPAex Gothic has no glyph for it
HEAD = f"髙橋 {RARE}太郎"
WIFE = "髙橋 美和子"
STEPCHILD = "渡邊 結衣"
FOREIGNER = "シルバ マリア"
NAMES = (HEAD, WIFE, STEPCHILD, FOREIGNER)
RESIDENT_CODE = "84736291050"
MY_NUMBER = "394857162038"
ISSUED_AT = dt.datetime(2024, 6, 3, 10, 15)
JST = dt.timezone(dt.timedelta(hours=9))


def household(includes_number: bool = False, **changes: Any) -> ResidentRecordCopy:
    """A household of four: the numbers are set on the head even when not requested."""
    entries = (
        CopyEntry(
            name=HEAD,
            furigana="たかはし よしたろう",
            birth_date=dt.date(1975, 3, 14),
            sex="男",
            relationship="世帯主",
            became_resident_on=dt.date(1975, 3, 14),
            address_since=dt.date(2010, 4, 1),
            previous_address="神奈川県川崎市中原区小杉町三丁目２６４番地の３ "
            "パークシティ武蔵小杉ミッドスカイタワー２０１２号室",
            resident_code=RESIDENT_CODE,
            individual_number=MY_NUMBER,
        ),
        CopyEntry(
            name=WIFE,
            furigana="たかはし みわこ",
            birth_date=dt.date(1978, 11, 2),
            sex="女",
            relationship="妻",
            became_resident_on=dt.date(1978, 11, 2),
            address_since=dt.date(2010, 4, 1),
            previous_address="神奈川県川崎市中原区小杉町三丁目２６４番地の３",
            resident_code=None,
            individual_number=None,
        ),
        CopyEntry(
            name=STEPCHILD,
            furigana="わたなべ ゆい",
            birth_date=dt.date(2019, 5, 1),
            sex="女",
            relationship="妻の子",
            became_resident_on=dt.date(2019, 5, 1),
            address_since=dt.date(2019, 5, 1),
            previous_address=None,
            resident_code=None,
            individual_number=None,
            removed="令和6年5月1日 転出",
        ),
        CopyEntry(
            name=FOREIGNER,
            furigana="しるば まりあ",
            birth_date=dt.date(1989, 1, 8),
            sex="女",
            relationship="同居人",
            became_resident_on=dt.date(2021, 9, 15),
            address_since=dt.date(2021, 9, 15),
            previous_address="ブラジル連邦共和国",
            resident_code=None,
            individual_number=None,
            nationality="ブラジル",
            residence_status="定住者",
            period_of_stay_until=dt.date(2027, 3, 31),
        ),
    )
    copy = ResidentRecordCopy(
        municipality_code="132152",
        municipality_name="国立市",
        prefecture="東京都",
        household_number="0012345",
        head_of_household=HEAD,
        address="東京都国立市富士見台一丁目２番地の３ 国立富士見台団地第一住宅４号棟１０１号",
        entries=entries,
        issued_at=ISSUED_AT,
        issued_by="国立市長",
        certificate_number="R6-000123",
        includes_number=includes_number,
    )
    return dataclasses.replace(copy, **changes)


def pdf_text(data: bytes) -> str:
    """All text of a PDF as pypdf extracts it.

    Characters drawn with the CFF fallback font (Noto Sans CJK, only for glyphs IPAex
    lacks) come out of pypdf with a stray NUL before them: pypdf does not parse an
    embedded CMap stream given as a Type0 font's /Encoding and reads the two-byte codes
    one byte at a time. poppler's pdftotext extracts them cleanly, so drop the NULs.
    """
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages).replace("\x00", "")


def font_descriptors(data: bytes) -> Iterator[tuple[str, Any]]:
    """(BaseFont, FontDescriptor) of every composite font used on any page."""
    reader = PdfReader(io.BytesIO(data))
    for page in reader.pages:
        resources: Any = page["/Resources"]
        for font_ref in resources["/Font"].values():
            font = font_ref.get_object()
            for descendant in font.get("/DescendantFonts", []):
                descendant = descendant.get_object()
                yield str(font["/BaseFont"]), descendant["/FontDescriptor"].get_object()


def covered_parts(text: str) -> list[str]:
    """The runs of *text* that some available font can draw (split at uncovered chars)."""
    missing = unsupported_pdf_characters(text)
    parts, current = [], ""
    for ch in text:
        if ch in missing:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p for p in parts if p.strip()]


# --------------------------------------------------------------------------- 和暦


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (dt.date(2024, 6, 3), "令和6年6月3日"),
        (dt.date(2020, 1, 1), "令和2年1月1日"),
        (dt.date(2019, 5, 1), "令和元年5月1日"),
        (dt.date(2019, 4, 30), "平成31年4月30日"),
        (dt.date(1990, 1, 1), "平成2年1月1日"),
        (dt.date(1989, 1, 8), "平成元年1月8日"),
        (dt.date(1989, 1, 7), "昭和64年1月7日"),
        (dt.date(1927, 1, 1), "昭和2年1月1日"),
        (dt.date(1926, 12, 25), "昭和元年12月25日"),
        (dt.date(1926, 12, 24), "大正15年12月24日"),
        (dt.date(1912, 7, 30), "大正元年7月30日"),
        (dt.date(1912, 7, 29), "明治45年7月29日"),
        (dt.date(1900, 2, 28), "明治33年2月28日"),
        (dt.date(1868, 1, 25), "明治元年1月25日"),
        (dt.datetime(2019, 5, 1, 0, 0), "令和元年5月1日"),
    ],
)
def test_to_wareki(day: dt.date, expected: str) -> None:
    assert to_wareki(day) == expected


def test_to_wareki_rejects_dates_before_meiji() -> None:
    with pytest.raises(ValueError, match="Meiji"):
        to_wareki(dt.date(1867, 12, 31))


# --------------------------------------------------------------------------- HTML


def test_html_is_a_standalone_japanese_page() -> None:
    html = render_html(household())
    assert html.startswith("<!DOCTYPE html>")
    assert '<html lang="ja">' in html
    assert '<meta charset="utf-8">' in html
    assert "@media print" in html and "@page" in html
    assert "<h1>住民票の写し</h1>" in html
    for label in ("氏名", "ふりがな", "生年月日", "性別", "続柄", "住民となった年月日",
                  "住所を定めた年月日", "前住所", "住民票コード", "個人番号"):  # fmt: skip
        assert label in html
    assert CERTIFICATION in html
    assert "令和6年6月3日" in html  # date of issue
    assert "国立市長" in html
    assert "除票" not in html


def test_html_prints_names_exactly_as_registered() -> None:
    html = render_html(household())
    for name in NAMES:
        assert name in html
    assert RARE in html and "髙" in html and "邊" in html
    assert "吉太郎" not in html and "高橋" not in html and "渡辺" not in html


def test_html_never_normalises_compatibility_ideographs() -> None:
    name = "\ufa19田 一郎"  # 神 as a CJK compatibility ideograph: NFC would make it U+795E
    entry = dataclasses.replace(household().entries[1], name=name)
    html = render_html(household(entries=(entry,)))
    assert name in html
    assert "\u795e田 一郎" not in html


def test_html_shows_dates_in_wareki_with_seireki() -> None:
    html = render_html(household())
    assert "昭和50年3月14日" in html and "（1975年）" in html
    assert "令和元年5月1日" in html and "（2019年）" in html
    assert "平成元年1月8日" in html


def test_html_omits_numbers_unless_requested() -> None:
    html = render_html(household(includes_number=False))
    assert OMITTED in html
    assert RESIDENT_CODE not in html
    assert MY_NUMBER not in html
    assert html.count(OMITTED) == 2 * len(NAMES)


def test_html_prints_numbers_when_requested() -> None:
    html = render_html(household(includes_number=True))
    assert RESIDENT_CODE in html
    assert MY_NUMBER in html
    assert OMITTED not in html


def test_html_escapes_names() -> None:
    evil = "<script>alert('x')</script>"
    entry = dataclasses.replace(household().entries[0], name=evil, furigana="<b>ふりがな</b>")
    html = render_html(household(entries=(entry,), head_of_household=evil, address="<i>住所</i>"))
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<b>" not in html and "<i>" not in html


def test_html_foreign_resident_and_removed_entry() -> None:
    html = render_html(household())
    assert "国籍・地域　ブラジル" in html
    assert "在留資格　定住者" in html
    assert "令和9年3月31日" in html  # 在留期間等の満了の日
    assert "消除　令和6年5月1日 転出" in html


def test_html_removed_record() -> None:
    html = render_html(household(is_removed_record=True))
    assert "住民票の除票の写し" in html
    assert CERTIFICATION_REMOVED in html
    assert CERTIFICATION not in html


# --------------------------------------------------------------------------- PDF


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return render_pdf(household())


@pytest.fixture(scope="module")
def text(pdf: bytes) -> str:
    return pdf_text(pdf)


def test_pdf_is_a_pdf(pdf: bytes) -> None:
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    width, height = (float(v) for v in reader.pages[0].mediabox.upper_right)
    assert (round(width), round(height)) == (595, 842)  # A4 portrait, in points


def test_pdf_embeds_ipaex_gothic(pdf: bytes) -> None:
    embedded = {name: desc for name, desc in font_descriptors(pdf)}
    ipaex = [desc for name, desc in embedded.items() if "IPAexGothic" in name]
    assert ipaex, f"IPAex Gothic not used: {sorted(embedded)}"
    assert "/FontFile2" in ipaex[0], "IPAex Gothic must be embedded as a TrueType font program"


def test_pdf_text(text: str) -> None:
    assert "住民票の写し" in text
    assert CERTIFICATION in text
    assert "令和6年6月3日" in text
    assert "国立市長" in text
    assert "昭和50年3月14日" in text
    assert "国籍・地域" in text and "定住者" in text


def test_pdf_contains_the_names(text: str) -> None:
    for name in NAMES:
        for part in covered_parts(name):
            assert part in text, f"{part!r} of {name!r} missing from the PDF text"
    for name in (WIFE, STEPCHILD, FOREIGNER):
        assert name in text  # fully covered by IPAex: exact


def test_pdf_rare_kanji_outside_the_bmp(text: str) -> None:
    if RARE in unsupported_pdf_characters(RARE):
        pytest.skip(
            "no installed font covers 𠮷 (U+20BB7): IPAex Gothic lacks it and no fallback "
            f"font (Noto Sans CJK, or ${fonts.FALLBACK_FONT_ENV}) was found; it prints as a box"
        )
    assert HEAD in text


def test_pdf_without_any_fallback_font(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a machine without Noto Sans CJK: 𠮷 prints as a box, the rest is intact."""
    monkeypatch.delenv(fonts.FALLBACK_FONT_ENV, raising=False)
    monkeypatch.setattr(fonts, "_FALLBACK_CANDIDATES", ())
    assert fonts.cjk_fallback_font() is None
    assert unsupported_pdf_characters(HEAD) == {RARE}
    data = render_pdf(household())
    assert [name for name, _ in font_descriptors(data)] == ["/MPDFAA+IPAexGothic"]
    text = pdf_text(data)
    assert "髙橋" in text and "太郎" in text
    for name in (WIFE, STEPCHILD, FOREIGNER):
        assert name in text


def test_pdf_fallback_font_only_when_needed() -> None:
    entry = dataclasses.replace(household().entries[1])
    data = render_pdf(household(entries=(entry,), head_of_household=WIFE))
    names = [name for name, _ in font_descriptors(data)]
    assert len(names) == 1 and "IPAexGothic" in names[0]


def test_pdf_omits_numbers_unless_requested(text: str) -> None:
    assert OMITTED in text
    assert RESIDENT_CODE not in text
    assert MY_NUMBER not in text


def test_pdf_prints_numbers_when_requested() -> None:
    text = pdf_text(render_pdf(household(includes_number=True)))
    assert RESIDENT_CODE in text
    assert MY_NUMBER in text
    assert OMITTED not in text


def test_pdf_removed_record() -> None:
    text = pdf_text(render_pdf(household(is_removed_record=True)))
    assert "住民票の除票の写し" in text
    assert CERTIFICATION_REMOVED in text


def test_pdf_is_deterministic_and_dated_from_issued_at(pdf: bytes) -> None:
    assert render_pdf(household()) == pdf
    reader = PdfReader(io.BytesIO(pdf))
    assert reader.metadata is not None
    assert reader.metadata.creation_date == ISSUED_AT.replace(tzinfo=JST)
    later = render_pdf(household(issued_at=ISSUED_AT + dt.timedelta(days=1)))
    assert later != pdf


def _big_household(size: int) -> ResidentRecordCopy:
    template = household().entries[1]
    entries = tuple(
        dataclasses.replace(template, name=f"髙橋 {i:02d}郎", relationship="子")
        for i in range(size)
    )
    return household(entries=entries)


def test_pdf_ten_people_fit_on_one_page() -> None:
    reader = PdfReader(io.BytesIO(render_pdf(_big_household(10))))
    assert len(reader.pages) == 1


def test_pdf_breaks_pages_for_large_households() -> None:
    copy = _big_household(25)
    data = render_pdf(copy)
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) >= 2
    text = pdf_text(data)
    for entry in copy.entries:
        assert entry.name in text
    pages = [page.extract_text() for page in reader.pages]
    assert "（続き）" in pages[-1]
    assert CERTIFICATION in pages[-1]
    assert CERTIFICATION not in pages[0]
    assert f"1 / {len(pages)}" in pages[0]


# --------------------------------------------------------------------------- fonts


def test_japanese_font_path() -> None:
    path = fonts.japanese_font_path()
    assert path.name == "ipaexg.ttf"
    assert path.is_file()
    assert path.read_bytes()[:4] == b"\x00\x01\x00\x00"  # a TrueType font


def test_font_lookup_does_not_import_matplotlib() -> None:
    code = (
        "import sys\n"
        "from myna.fonts import japanese_font_path\n"
        "import myna.registry.documents\n"
        "japanese_font_path()\n"
        "assert 'japanize_matplotlib' not in sys.modules\n"
        "assert 'matplotlib' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_font_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(fonts.JapaneseFontNotFoundError, match="pip install japanize-matplotlib"):
        fonts.japanese_font_path()


def test_unsupported_characters_reports_what_fonts_lack() -> None:
    assert unsupported_pdf_characters("住民票の写し 髙橋 渡邊 （省略）") == frozenset()
    assert unsupported_pdf_characters("\U0001f600") == {"\U0001f600"}  # no emoji fonts
