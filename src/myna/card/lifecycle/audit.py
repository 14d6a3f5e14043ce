"""The card centre compared with JPKI and the chips (for ``myna check``).

After any crash, and before it is run again, what production and hand-over left
behind is named here: an unfinished production or hand-over (running it again
completes it), a live card whose valid certificates are not exactly its own, an
ended card with a certificate still good or a chip still active, and a chip or a
certificate no card record knows (an orphan).  Cards are named by card number or
受付番号, never by person.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from myna.card.lifecycle import storage as t
from myna.card.lifecycle.base import Desk
from myna.card.lifecycle.domain import CardStatus
from myna.card.pins import Slot
from myna.jpki import certs


@dataclass(frozen=True)
class CardProblem:
    what_ja: str
    what_en: str
    examples: list[str] = field(default_factory=list)


def card_problems(desk: Desk) -> list[CardProblem]:
    found: dict[tuple[str, str], list[str]] = {}

    def add(ja: str, en: str, example: str) -> None:
        found.setdefault((ja, en), []).append(example)

    with desk.engine.connect() as conn:
        cards = conn.execute(select(t.cards.c.card_number, t.cards.c.status,
                                    t.cards.c.auth_serial, t.cards.c.signing_serial)).all()
        productions = conn.execute(select(t.productions.c.receipt_no,
                                          t.productions.c.card_number,
                                          t.productions.c.state)).all()
        handovers = conn.execute(select(t.handovers.c.card_number).join(
            t.cards, t.cards.c.card_number == t.handovers.c.card_number).where(
            t.handovers.c.finished_at.is_(None),
            t.cards.c.status == CardStatus.PRODUCED.value)).scalars().all()
        people = conn.execute(select(t.applications.c.person_key).distinct()).scalars().all()
    for p in productions:
        if p.state == "作成中":
            add("カードの作成が完了していない（再実行で完了します）",
                "card productions begun and not finished (run again to complete)",
                f"受付番号 {p.receipt_no}")
    for number in handovers:
        add("カードの交付が完了していない（再実行で完了します）",
            "hand-overs begun and not finished (run again to complete)", f"カード {number}")
    for card in cards:
        good = {certs.serial_hex(r.serial) for r in desk.jpki.certificates_for_card(
            card.card_number) if r.status == "good"}
        chip = desk.chips.status(card.card_number)
        if card.status == CardStatus.ENDED.value:
            if good or chip == "active":
                add("廃止したカードの電子証明書またはチップが有効のまま",
                    "ended cards whose certificates or chip are still live",
                    f"カード {card.card_number}")
            continue
        own = {s for s in (card.auth_serial, card.signing_serial) if s}
        expected = set() if card.status == CardStatus.SUSPENDED.value else own
        if card.auth_serial is None or good != expected or chip != "active":
            add("カードの有効な電子証明書がカードの記録と一致しない",
                "live cards whose valid certificates are not exactly their own",
                f"カード {card.card_number}")
            continue
        on_chip = {certs.serial_hex(s.certificate_serial) for slot, s in
                   desk.chips.slot_states(card.card_number).items()
                   if s.certificate_serial is not None and slot in (Slot.AUTH, Slot.SIGNING)}
        if on_chip != own:
            add("チップの電子証明書がカードの記録と一致しない",
                "chips whose certificates are not the card's", f"カード {card.card_number}")
    for p in productions:
        if p.state == "中止":
            good_left = any(r.status == "good"
                            for r in desk.jpki.certificates_for_card(p.card_number))
            if good_left or desk.chips.status(p.card_number) == "active":
                add("中止した作成の電子証明書またはチップが有効のまま",
                    "abandoned productions whose certificates or chip are still live",
                    f"受付番号 {p.receipt_no}")
    known = {c.card_number for c in cards} | {p.card_number for p in productions}
    for number in desk.chips.card_ids():
        if number not in known:
            add("どのカードの記録にもないチップ", "chips no card record knows",
                f"チップ {number}")
    for key in people:
        for number in desk.jpki.cards_of_person(key):
            if number not in known:
                add("どのカードの記録にもない電子証明書", "certificates no card record knows",
                    f"カード番号 {number}")
    return [CardProblem(ja, en, examples) for (ja, en), examples in found.items()]
