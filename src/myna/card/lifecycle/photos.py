"""The application photo (:func:`check_photo`): JPEG or PNG, really an image, at least
413 × 531 px (35 × 45 mm at 300 dpi), about 4:5; kept as face data without metadata."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from myna.errors import InvalidFormat, ValidationError

MIN_PHOTO_WIDTH = 413  # 35 mm at 300 dpi
MIN_PHOTO_HEIGHT = 531  # 45 mm at 300 dpi
MIN_ASPECT, MAX_ASPECT = 0.74, 0.84  # width / height: 35:45 = 0.78, 4:5 = 0.80
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_PHOTO_PIXELS = 40_000_000
FACE_WIDTH, FACE_HEIGHT = 480, 600  # the face data kept with the card (4:5)
PHOTO_FORMATS = ("JPEG", "PNG")


@dataclass(frozen=True)
class Photo:
    """An accepted photo: what was sent, and the face data kept (JPEG 480 × 600, no metadata)."""

    format: str
    width: int
    height: int
    face_jpeg: bytes


def check_photo(data: bytes) -> Photo:
    """Check an application photo and return the normalised face data.

    Refused, each with its own message: not an image (or a damaged one), a
    format other than JPEG or PNG, smaller than 413 × 531 px (35 × 45 mm at
    300 dpi), and an aspect ratio far from 4:5.  EXIF orientation is applied
    and every metadata block (GPS position, camera, …) is dropped.
    """
    if not data:
        raise ValidationError("写真がありません", "no photo")
    if len(data) > MAX_PHOTO_BYTES:
        raise ValidationError(
            f"写真のファイルが大きすぎます（{len(data) // 1024 // 1024} MB、10 MB まで）",
            f"photo file is {len(data)} bytes, more than {MAX_PHOTO_BYTES}",
        )
    not_image = ValidationError(
        "写真として読み取れません（画像ファイルではないか、壊れています）",
        "the photo is not an image (or is damaged)",
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                fmt = probe.format or "?"
                probe.verify()
            if fmt not in PHOTO_FORMATS:
                raise InvalidFormat(
                    f"写真の形式は JPEG または PNG にしてください（{fmt} 形式が提出されました）",
                    f"photo must be JPEG or PNG, not {fmt}",
                )
            with Image.open(io.BytesIO(data)) as img:
                if img.width * img.height > MAX_PHOTO_PIXELS:
                    raise ValidationError("写真の画素数が多すぎます",
                                          "photo has too many pixels")
                img.load()
                upright = ImageOps.exif_transpose(img)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        if isinstance(exc, ValidationError):
            raise
        raise not_image from None
    width, height = upright.size
    if width < MIN_PHOTO_WIDTH or height < MIN_PHOTO_HEIGHT:
        raise ValidationError(
            f"写真が小さすぎます（{width}×{height} ピクセル）。縦45mm×横35mmを300dpi以上、"
            f"つまり横{MIN_PHOTO_WIDTH}×縦{MIN_PHOTO_HEIGHT}ピクセル以上にしてください",
            f"photo is {width}x{height} px; at least {MIN_PHOTO_WIDTH}x{MIN_PHOTO_HEIGHT} px "
            "(35x45 mm at 300 dpi) is needed",
        )
    aspect = width / height
    if not MIN_ASPECT <= aspect <= MAX_ASPECT:
        raise ValidationError(
            f"写真の縦横比が合いません（横{width}×縦{height}）。縦45mm×横35mm"
            "（おおむね縦5:横4）の縦長の写真にしてください",
            f"photo aspect {aspect:.2f} (w/h) is not about 4:5 (35x45 mm)",
        )
    rgb = _flatten(upright)
    face = ImageOps.fit(rgb, (FACE_WIDTH, FACE_HEIGHT), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    face.save(buf, "JPEG", quality=90, optimize=True)
    return Photo(fmt, width, height, buf.getvalue())


def _flatten(img: Image.Image) -> Image.Image:
    """RGB on white (transparent PNGs get a white background, like a photo print)."""
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        img = img.point(lambda v: v / 256).convert("L")  # type: ignore[no-untyped-call]
    return img.convert("RGB")


