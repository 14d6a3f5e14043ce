"""Japanese fonts for generated documents, charts and cards.

The primary font is IPAex Gothic (``ipaexg.ttf``), which ships inside the
``japanize_matplotlib`` package and is therefore always available wherever
``myna`` is installed. It is a TrueType (``glyf``) font licensed under the IPA
Font License, so it may be embedded (subset) into PDFs.

IPAex covers JIS X 0208 plus the JIS X 0213 kanji commonly seen in names
(髙, 邊, 邉, …) but *not* characters outside the Basic Multilingual Plane such
as 𠮷 (U+20BB7, "tsuchi-yoshi"). For those, :func:`cjk_fallback_font` returns a
system font that covers them (Noto Sans CJK JP) when one happens to be
installed; callers must cope with it being ``None``.

Locating the font never imports ``japanize_matplotlib`` (which would pull in
matplotlib); only its package directory is looked up.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

__all__ = [
    "FALLBACK_FONT_ENV",
    "FontFace",
    "JapaneseFontNotFoundError",
    "cjk_fallback_font",
    "japanese_font_path",
]

#: Environment variable naming an extra font file (TTF/OTF/TTC) to use for
#: characters the primary font lacks; checked before the built-in candidates.
FALLBACK_FONT_ENV = "MYNA_CJK_FALLBACK_FONT"

_PRIMARY_PACKAGE = "japanize_matplotlib"
_PRIMARY_FILE = "ipaexg.ttf"

# Well-known locations of Noto Sans CJK (a font collection) on Linux distributions.
_FALLBACK_CANDIDATES: tuple[str, ...] = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",  # Debian / Ubuntu
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",  # Arch, Fedora
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",  # Fedora (older)
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
)


class JapaneseFontNotFoundError(FileNotFoundError):
    """The bundled Japanese font (IPAex Gothic) could not be located."""


@dataclass(frozen=True)
class FontFace:
    """A font file and, for collections (``.ttc``), the index of the face to use."""

    path: Path
    index: int = 0


def japanese_font_path() -> Path:
    """Return the path of IPAex Gothic (``ipaexg.ttf``) shipped with japanize-matplotlib.

    The package is located with :func:`importlib.util.find_spec`, so it is not
    imported. Raises :class:`JapaneseFontNotFoundError` with an installation
    hint when the package or the font file is missing.

    >>> japanese_font_path().name
    'ipaexg.ttf'
    """
    spec = importlib.util.find_spec(_PRIMARY_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise JapaneseFontNotFoundError(
            f"The Japanese font {_PRIMARY_FILE!r} is provided by the "
            f"{_PRIMARY_PACKAGE!r} package, which is not installed; "
            "install it with: pip install japanize-matplotlib"
        )
    searched: list[Path] = []
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "fonts" / _PRIMARY_FILE
        if candidate.is_file():
            return candidate
        searched.append(candidate)
    raise JapaneseFontNotFoundError(
        f"The Japanese font {_PRIMARY_FILE!r} was not found in the {_PRIMARY_PACKAGE!r} "
        f"package (looked at: {', '.join(str(p) for p in searched)}); "
        "reinstall it with: pip install --force-reinstall japanize-matplotlib"
    )


@lru_cache(maxsize=1)
def matplotlib_family() -> str:
    """Register IPAex Gothic with matplotlib once; its family name (for charts)."""
    from matplotlib import font_manager

    path = str(japanese_font_path())
    font_manager.fontManager.addfont(path)
    return str(font_manager.FontProperties(fname=path).get_name())


def cjk_fallback_font() -> FontFace | None:
    """Return a font for characters IPAex lacks (e.g. 𠮷 U+20BB7), or ``None``.

    Looks at ``$MYNA_CJK_FALLBACK_FONT`` first, then at the usual install
    locations of Noto Sans CJK. In a collection the Japanese (``JP``) face is
    chosen. Nothing is downloaded: if no such font is installed the result is
    ``None`` and documents are produced with the primary font only.
    """
    override = os.environ.get(FALLBACK_FONT_ENV, "").strip()
    candidates = ((override,) if override else ()) + _FALLBACK_CANDIDATES
    for candidate in candidates:
        path = Path(candidate)
        if path.is_file():
            return FontFace(path, _japanese_face_index(path))
    return None


@lru_cache(maxsize=8)
def _japanese_face_index(path: Path) -> int:
    """Index of the Japanese face in a font collection (0 for single fonts)."""
    if path.suffix.lower() not in {".ttc", ".otc"}:
        return 0
    try:
        from fontTools.ttLib import TTCollection

        collection = TTCollection(str(path), lazy=True)
        try:
            for index, face in enumerate(collection.fonts):
                family = str(face["name"].getDebugName(1) or "")
                if family.endswith(" JP"):
                    return index
        finally:
            collection.close()
    except Exception:  # an unreadable collection: just use its first face
        return 0
    return 0
