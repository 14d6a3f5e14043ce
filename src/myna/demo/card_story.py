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

from myna.card.lifecycle.sample import REACHED, synthetic_portrait
from myna.errors import MynaError
from myna.system import MynaSystem

AUTH_PIN, SIGNING_PIN = "4826", "MYNA2026DEMO"
RELYING_PARTY = ("demo-etax", "国税電子申告（デモの署名検証者）", "署名検証者")


def card_story(system: MynaSystem, code: str, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    cards = system.cards
    today = system.jlis.now().date()
    candidates = [
        m for batch in system.notify.batches(code) for letter_id in batch.letter_ids
        for letter in [system.notify.letter(letter_id)] if letter.state in REACHED
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
    system.jpki.register_relying_party(*RELYING_PARTY)
    document = "令和7年分 確定申告書（デモ）".encode()
    signature = cards.sign(card.card_number, SIGNING_PIN, document)
    certificate = cards.certificate(card.card_number, "signing", SIGNING_PIN)
    verified = system.jpki.verify_signature(document, signature, certificate,
                                            relying_party=RELYING_PARTY[0])
    cards.suspend(card.card_number, reported_by="コールセンター", note="紛失の届出（デモ）")
    try:
        system.jpki.verify_signature(document, signature, certificate,
                                     relying_party=RELYING_PARTY[0])
        after = "検証できてしまった（不具合）"
    except MynaError as exc:
        after = exc.message_ja
    return {
        "holder": card.name,
        "card_number": card.card_number,
        "expires_on": card.expires_on.isoformat(),
        "signed_by": getattr(verified, "subject_name", None) or card.name,
        "verified_before_loss": True,
        "after_suspension": after,
        "signing_certificate": system.jpki.certificate(card.signing_serial or 0).status,
        "auth_certificate": system.jpki.certificate(card.auth_serial or 0).status,
    }
