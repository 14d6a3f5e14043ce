"""The card's two faces as PNG images (Pillow, IPAex Gothic).

ISO/IEC 7810 ID-1: 85.60 × 53.98 mm, drawn at 300 dpi (1011 × 638 px) with the
standard 3.18 mm corner radius on a transparent background.

* Front: 氏名, 住所, 生年月日 (和暦 with the 西暦 date), 性別, the photo, the expiry
  (…まで有効) and the 追記欄 where the municipality writes later changes.
* Back: the individual number, with the name and birth date.  It is for the
  holder: :meth:`myna.card.lifecycle.service.CardService.render_back` asks for
  the card's PIN first.

Names are drawn exactly as registered.  Characters IPAex lacks (e.g. 𠮷) are
drawn with a fallback CJK font when one is installed
(:func:`myna.fonts.cjk_fallback_font`).  Every image says it is a picture of a
card, not a card: it proves nothing about anyone.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont, ImageOps

from myna.fonts import cjk_fallback_font, japanese_font_path
from myna.numbers import individual
from myna.wareki import to_wareki

DPI = 300
WIDTH = round(85.60 / 25.4 * DPI)  # 1011
HEIGHT = round(53.98 / 25.4 * DPI)  # 638
RADIUS = round(3.18 / 25.4 * DPI)  # 38

INK = (33, 37, 48)
LABEL = (104, 112, 128)
ACCENT = (170, 48, 72)
RULE = (196, 186, 190)
DISCLAIMER = "Myna 券面画像（見本）— 本人確認書類として使用できません"


@dataclass(frozen=True)
class CardFront:
    name: str
    address: str
    birth_date: dt.date
    sex: str
    expires_on: dt.date
    photo_jpeg: bytes
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CardBack:
    individual_number: str
    name: str
    birth_date: dt.date


# -- fonts ---------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _font(size: int, fallback: bool = False) -> ImageFont.FreeTypeFont:
    if fallback:
        face = cjk_fallback_font()
        if face is not None:
            return ImageFont.truetype(str(face.path), size, index=face.index)
    return ImageFont.truetype(str(japanese_font_path()), size)


@lru_cache(maxsize=1)
def _primary_cmap() -> frozenset[int] | None:
    """The code points IPAex covers (None: unknown, draw everything with it)."""
    try:
        from fontTools.ttLib import TTFont
    except ImportError:
        return None
    font = TTFont(str(japanese_font_path()), lazy=True)
    try:
        return frozenset(font.getBestCmap() or {})
    finally:
        font.close()


def _runs(text: str) -> Iterator[tuple[str, bool]]:
    """Split ``text`` into runs for the primary font and for the fallback font."""
    cmap = _primary_cmap()
    current, fallback = "", False
    for ch in text:
        needs = cmap is not None and ord(ch) not in cmap and not ch.isspace()
        if current and needs != fallback:
            yield current, fallback
            current = ""
        current += ch
        fallback = needs
    if current:
        yield current, fallback


def _width(text: str, size: int) -> float:
    return sum(_font(size, fb).getlength(run) for run, fb in _runs(text))


def _draw(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, size: int,
          fill: tuple[int, int, int] = INK, spacing: float = 0.0) -> float:
    """Draw ``text`` with its top-left at ``xy`` (baseline aligned); return the end x."""
    x, y = xy
    ascent = _font(size).getmetrics()[0]
    for run, fb in _runs(text):
        font = _font(size, fb)
        if spacing:
            for ch in run:
                draw.text((x, y + ascent), ch, font=font, fill=fill, anchor="ls")
                x += font.getlength(ch) + spacing
        else:
            draw.text((x, y + ascent), run, font=font, fill=fill, anchor="ls")
            x += font.getlength(run)
    return x


def _wrap(text: str, size: int, width: float) -> list[str]:
    """Break ``text`` into lines no wider than ``width`` (Japanese: anywhere; keep
    a space as a preferred break)."""
    lines: list[str] = []
    line = ""
    for ch in text:
        if _width(line + ch, size) <= width:
            line += ch
            continue
        cut = max(line.rfind(" "), line.rfind("\u3000"))
        if cut >= max(len(line) // 3, 1):
            lines.append(line[:cut])
            line = line[cut + 1:] + ch
        else:
            lines.append(line)
            line = ch
    if line:
        lines.append(line)
    return lines


def _fit(text: str, width: float, sizes: range, max_lines: int) -> tuple[int, list[str]]:
    """The largest size of ``sizes`` at which ``text`` fits in ``max_lines`` lines."""
    size = sizes.start
    for size in sizes:
        lines = _wrap(text, size, width)
        if len(lines) <= max_lines:
            return size, lines
    lines = _wrap(text, size, width)
    return size, lines[: max_lines - 1] + ["".join(lines[max_lines - 1:])]


# -- the card stock ----------------------------------------------------------------------------


def _stock(top: tuple[int, int, int], bottom: tuple[int, int, int],
           wave: tuple[int, int, int]) -> Image.Image:
    """A blank ID-1 card: soft gradient, fine guilloche lines, rounded corners."""
    card = Image.new("RGB", (WIDTH, HEIGHT))
    draw = ImageDraw.Draw(card)
    for y in range(HEIGHT):
        f = y / (HEIGHT - 1)
        draw.line([(0, y), (WIDTH, y)], fill=tuple(
            round(a + (b - a) * f) for a, b in zip(top, bottom, strict=True)))
    for k in range(9):
        points = [
            (x, HEIGHT * 0.62 + 70 * math.sin(x / 120 + k * 0.55) + k * 9)
            for x in range(0, WIDTH + 8, 8)
        ]
        draw.line(points, fill=wave, width=1)
    mask = Image.new("L", (WIDTH, HEIGHT), 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, WIDTH - 1, HEIGHT - 1), RADIUS, fill=255)
    out = Image.new("RGBA", (WIDTH, HEIGHT), (0, 0, 0, 0))
    out.paste(card, mask=mask)
    ImageDraw.Draw(out).rounded_rectangle((0, 0, WIDTH - 1, HEIGHT - 1), RADIUS,
                                          outline=(170, 170, 178), width=2)
    return out


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True, dpi=(DPI, DPI))
    return buf.getvalue()


def birth_text(day: dt.date) -> str:
    """生年月日 as printed: 和暦 with the 西暦 date.

    >>> birth_text(dt.date(1990, 6, 15))
    '平成2年6月15日生（1990年6月15日）'
    """
    return f"{to_wareki(day)}生（{day.year}年{day.month}月{day.day}日）"


def expiry_text(day: dt.date) -> str:
    """The expiry as printed (西暦, like the real card).

    >>> expiry_text(dt.date(2036, 6, 15))
    '2036年6月15日まで有効'
    """
    return f"{day.year}年{day.month}月{day.day}日まで有効"


# -- front -------------------------------------------------------------------------------------

LEFT = 44
PHOTO_BOX = (726, 92, 966, 392)  # 240 x 300: 4:5


def render_front(front: CardFront) -> bytes:
    """The front of the card as a PNG (1011 × 638, 300 dpi)."""
    img = _stock((253, 248, 246), (240, 244, 250), (238, 222, 228))
    draw = ImageDraw.Draw(img)
    # title band
    _draw(draw, (LEFT, 30), "個人番号カード", 34, ACCENT, spacing=2)
    _draw(draw, (LEFT + 272, 44), "Individual Number Card", 18, LABEL)
    draw.line([(LEFT, 80), (PHOTO_BOX[0] - 24, 80)], fill=RULE, width=2)
    column = PHOTO_BOX[0] - 24 - LEFT - 88

    def field(y: int, label: str) -> None:
        _draw(draw, (LEFT, y), label, 19, LABEL)

    field(104, "氏名")
    size, lines = _fit(front.name, column, range(44, 25, -2), 2)
    y = 96 if len(lines) == 1 else 92
    for line in lines:
        _draw(draw, (LEFT + 88, y), line, size)
        y += size + 6
    y = max(y, 160) + 16
    field(y + 4, "住所")
    size, lines = _fit(front.address, column, range(28, 19, -1), 3)
    for line in lines:
        _draw(draw, (LEFT + 88, y), line, size)
        y += size + 8
    y = max(y + 12, 280)
    field(y + 4, "生年月日")
    _draw(draw, (LEFT + 88, y), birth_text(front.birth_date), 26)
    y += 48
    field(y + 4, "性別")
    _draw(draw, (LEFT + 88, y), front.sex, 26)
    # expiry band, to the right of 性別
    text = expiry_text(front.expires_on)
    tw = _width(text, 24)
    x1 = PHOTO_BOX[0] - 24
    band = (x1 - tw - 36, y - 6, x1, y + 34)
    draw.rounded_rectangle(band, 8, fill=(252, 233, 238), outline=(222, 170, 184), width=2)
    _draw(draw, (band[0] + 18, y), text, 24, ACCENT)
    # photo
    face = Image.open(io.BytesIO(front.photo_jpeg)).convert("RGB")
    box_w, box_h = PHOTO_BOX[2] - PHOTO_BOX[0], PHOTO_BOX[3] - PHOTO_BOX[1]
    face = ImageOps.fit(face, (box_w, box_h), Image.Resampling.LANCZOS)
    img.paste(face, PHOTO_BOX[:2])
    draw.rectangle(PHOTO_BOX, outline=(150, 150, 160), width=2)
    # 追記欄: ruled lines, the newest changes last
    note_box = (LEFT, 424, WIDTH - LEFT, 590)
    draw.rounded_rectangle(note_box, 10, fill=(255, 255, 255), outline=RULE, width=2)
    _draw(draw, (note_box[0] + 14, note_box[1] + 8), "追記欄", 17, LABEL)
    rows, top, pitch = 3, note_box[1] + 34, 40
    for i in range(rows):
        rule_y = top + pitch * (i + 1)
        if i < rows - 1:
            draw.line([(note_box[0] + 14, rule_y), (note_box[2] - 14, rule_y)],
                      fill=(228, 224, 226), width=1)
    for i, note in enumerate(front.notes[-rows:]):
        size, lines = _fit(note, note_box[2] - note_box[0] - 48, range(22, 15, -1), 1)
        _draw(draw, (note_box[0] + 24, top + pitch * (i + 1) - size - 10), lines[0], size)
    _draw(draw, (LEFT, 600), DISCLAIMER, 15, LABEL)
    return _png(img)


# -- back --------------------------------------------------------------------------------------


def render_back(back: CardBack) -> bytes:
    """The back of the card as a PNG: the individual number, name and birth date."""
    img = _stock((244, 247, 252), (250, 246, 242), (220, 228, 240))
    draw = ImageDraw.Draw(img)
    _draw(draw, (LEFT, 30), "個人番号", 30, (40, 70, 130), spacing=2)
    _draw(draw, (LEFT + 136, 40), "Individual Number", 18, LABEL)
    number = individual.format(back.individual_number)
    panel = (LEFT, 92, WIDTH - LEFT, 232)
    draw.rounded_rectangle(panel, 14, fill=(255, 255, 255), outline=(190, 200, 222), width=2)
    size = 84
    width = _width(number.replace(" ", ""), size) + 10 * 11 + 2 * 40
    x = (WIDTH - width) / 2
    for group in number.split(" "):
        x = _draw(draw, (x, 116), group, size, INK, spacing=10) - 10 + 40
    draw.line([(LEFT, 270), (WIDTH - LEFT, 270)], fill=RULE, width=2)
    _draw(draw, (LEFT, 300), "氏名", 19, LABEL)
    size, lines = _fit(back.name, WIDTH - 2 * LEFT - 120, range(36, 21, -2), 2)
    y = 292
    for line in lines:
        _draw(draw, (LEFT + 120, y), line, size)
        y += size + 6
    y = max(y + 18, 360)
    _draw(draw, (LEFT, y + 4), "生年月日", 19, LABEL)
    _draw(draw, (LEFT + 120, y), birth_text(back.birth_date), 26)
    caution = ("個人番号の提供・収集は、番号法で定められた事務に限られます。",
               "この面のコピーを求められたら、その目的を確認してください。")
    box = (LEFT, 486, WIDTH - LEFT, 576)
    draw.rounded_rectangle(box, 10, fill=(255, 252, 240), outline=(226, 214, 170), width=2)
    for i, line in enumerate(caution):
        _draw(draw, (box[0] + 18, box[1] + 14 + 32 * i), line, 20, (110, 92, 40))
    _draw(draw, (LEFT, 600), DISCLAIMER, 15, LABEL)
    return _png(img)
