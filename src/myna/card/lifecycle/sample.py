"""Sample cards for the demo: a few residents apply with their letter's 申請書ID.

Most people in the demo do not apply at all — the card is voluntary, and the
demo shows that nothing else depends on it.  Photos are drawn, not real faces.
"""

from __future__ import annotations

import io
import random
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageDraw

from myna.card.lifecycle.domain import Channel
from myna.notify.domain import LetterState

if TYPE_CHECKING:
    from myna.system import MynaSystem

REACHED = (LetterState.DELIVERED, LetterState.HANDED_OVER)
ONLINE_CHANNELS = (Channel.MAIL, Channel.ONLINE, Channel.KIOSK)
DOCUMENTS = (["運転免許証"], ["旅券"], ["在留カード"], ["資格確認書", "年金手帳"])


def synthetic_portrait(rng: random.Random, width: int = 480, height: int = 600) -> bytes:
    """A drawn ID-photo-like JPEG (plain background, head and shoulders)."""
    img = Image.new("RGB", (width, height), (rng.randint(180, 215), rng.randint(200, 225), 235))
    d = ImageDraw.Draw(img)
    w, h = width, height
    skin = rng.choice([(241, 206, 180), (224, 182, 150), (198, 150, 118), (160, 112, 84)])
    hair = rng.choice([(30, 26, 24), (70, 50, 36), (120, 110, 100), (200, 200, 200)])
    d.ellipse((w * 0.05, h * 0.72, w * 0.95, h * 1.4),
              fill=rng.choice([(52, 64, 92), (60, 60, 60), (120, 40, 50), (40, 90, 70)]))
    d.rectangle((w * 0.43, h * 0.55, w * 0.57, h * 0.78), fill=skin)
    d.ellipse((w * 0.28, h * 0.18, w * 0.72, h * 0.66), fill=skin)
    d.chord((w * 0.26, h * 0.12, w * 0.74, h * 0.5), 180, 360, fill=hair)
    for x in (0.40, 0.60):
        d.ellipse((w * (x - 0.025), h * 0.38, w * (x + 0.025), h * 0.42), fill=(40, 32, 30))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=88)
    return buf.getvalue()


def issue_sample_cards(system: MynaSystem, per_municipality: int = 5,
                       seed: int = 2015) -> dict[str, Any]:
    """The demo's sample cards in the in-process installation (see
    :func:`myna.demo.cards.sample_cards`)."""
    from myna.demo.cards import sample_cards
    from myna.demo.world import LocalWorld

    return sample_cards(LocalWorld(system), per_municipality, seed)
