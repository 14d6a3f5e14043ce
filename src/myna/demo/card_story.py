"""The demo's card story: apply, produce, issue, sign and verify, lose and suspend.

A resident of 国立市 whose letter arrived applies online with the application ID
from it; J-LIS produces the card with keys generated on its chip; the resident
collects it in one visit and sets PINs; an e-Tax-like relying party verifies a
signed document; the card is lost, suspended at once, and the same verification
is then refused because its certificates were revoked.
"""

from __future__ import annotations

import random
from typing import Any

from cryptography.hazmat.primitives import serialization

from myna.card.lifecycle.sample import REACHED, synthetic_portrait
from myna.card.pins import Slot
from myna.clock import jst_date
from myna.errors import MynaError

from .world import RELYING_PARTY as PARTY_ID
from .world import DemoWorld

AUTH_PIN, SIGNING_PIN = "4826", "MYNA2026DEMO"
RELYING_PARTY = (PARTY_ID, "国税電子申告（デモの署名検証者）", "署名検証者")


def card_story(world: DemoWorld, code: str, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    cards = world.cards(code)
    today = jst_date(cards.now())
    candidates = [
        m for letter in world.notify(code).letters(code) if letter.state in REACHED
        for m in letter.members
        if not m.used and (today.year - m.birth_date.year) >= 20
    ]
    for member in candidates:
        try:
            application = cards.apply(synthetic_portrait(rng), channel="online",
                                      application_id=member.application_id)
            break
        except MynaError:
            continue
    else:
        return {}
    card = cards.produce(application.receipt_no)
    card = cards.issue(card.card_number, staff_id="clerk", documents=["運転免許証"],
                       auth_pin=AUTH_PIN, signing_pin=SIGNING_PIN)
    world.jpki().register_relying_party(*RELYING_PARTY)
    verifier = world.jpki(RELYING_PARTY[0])
    document = "令和7年分 確定申告書（デモ）".encode()
    chip = world.chips()  # the card in its holder's hand
    signature = chip.sign(card.card_number, Slot.SIGNING, SIGNING_PIN, document)
    certificate = chip.read_certificate(card.card_number, Slot.SIGNING, SIGNING_PIN)
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    verified = verifier.verify_signature(document, signature, pem,
                                         relying_party=RELYING_PARTY[0])
    cards.suspend(card.card_number, reported_by="コールセンター", note="紛失の届出（デモ）")
    world.settle()
    try:
        verifier.verify_signature(document, signature, pem, relying_party=RELYING_PARTY[0])
        after = "検証できてしまった（不具合）"
    except MynaError as exc:
        after = exc.message_ja
    states = {s.kind: s.status for s in cards.certificate_states(cards.card(card.card_number))}
    return {
        "holder": card.name,
        "card_number": card.card_number,
        "expires_on": card.expires_on.isoformat(),
        "signed_by": getattr(verified, "subject_name", None) or card.name,
        "verified_before_loss": True,
        "after_suspension": after,
        "signing_certificate": states.get("signing"),
        "auth_certificate": states.get("auth"),
    }
