"""Revocation: one certificate, a card's two, and what a change of identity revokes.

公的個人認証法: the signing certificate is revoked whenever one of the four basic
items changes (its holder must apply for a new one); the auth certificate holds
no personal data and survives moves.  Death or 職権消除 ends both.  J-LIS tells
JPKI by the ``identity.changed`` event, whose subject is the person key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

from cryptography import x509

from myna.errors import Conflict, NotFound
from myna.events import Event
from myna.jpki.domain import (
    CertificateRecord,
    CertKind,
    basic_items,
    revocation_reason,
    serial_key,
)
from myna.jpki.storage import JpkiRepository, JpkiStore

_LABELS = {"name": "氏名", "birth_date": "生年月日", "sex": "性別", "address": "住所"}
ENDING_STATUSES = ("死亡", "職権消除")  # 住民票 statuses that end both certificates


class Revocation:
    """Revokes card certificates and reads their records."""

    def __init__(self, store: JpkiStore, now: Callable[[], dt.datetime]) -> None:
        self.store = store
        self.now = now

    def certificate(self, serial: int | str) -> CertificateRecord:
        """The record of a card certificate by serial."""
        key = serial_key(serial)
        with self.store.read() as repo:
            record = repo.certificate(key)
        if record is None:
            raise NotFound(f"シリアル番号 {key} の証明書はありません", f"no certificate {key}")
        return record

    def certificates_for_card(self, card_id: str) -> list[CertificateRecord]:
        with self.store.read() as repo:
            return repo.certificates_for_card(card_id)

    def cards_of_person(self, person_key: str) -> list[str]:
        """Cards that have (had) certificates for this person."""
        with self.store.read() as repo:
            return repo.cards_of_person(person_key)

    def revoke(
        self, serial: int | str, reason: x509.ReasonFlags | str, note: str = ""
    ) -> CertificateRecord:
        """Revoke one certificate for an RFC 5280 reason (e.g. ``keyCompromise``)."""
        flag = revocation_reason(reason)
        key = serial_key(serial)
        if self.certificate(key).status == "revoked":
            raise Conflict(
                f"シリアル番号 {key} の証明書は既に失効しています", f"certificate {key} is revoked"
            )
        with self.store.begin() as repo:
            if not repo.mark_revoked(key, flag, note, self.now()):
                raise Conflict(f"シリアル番号 {key} の証明書は既に失効しています",
                               f"certificate {key} is revoked")
        return self.certificate(key)

    def revoke_card(
        self, card_id: str, reason: x509.ReasonFlags | str, note: str = ""
    ) -> list[int]:
        """Revoke both certificates of a card (loss, 廃止, death …)."""
        flag = revocation_reason(reason)
        with self.store.begin() as repo:
            return self._revoke(repo, repo.good_serials(card_id=card_id), flag, note)

    def on_identity_changed(self, person_key: str, changed_fields: Iterable[str]) -> list[int]:
        """Revoke the person's SIGNING certificates when one of the 4 basic items changed.

        Fields other than name / birth_date / sex / address (or 氏名 / 生年月日 /
        性別 / 住所) are not in the certificate and revoke nothing.  Returns the
        revoked serials.
        """
        with self.store.begin() as repo:
            return self._basic_items_changed(repo, person_key, changed_fields)

    def apply_identity_event(self, repo: JpkiRepository, event: Event) -> None:
        """J-LIS → JPKI (``identity.changed``, in the inbox's transaction): a changed basic
        item revokes the signing certificate; death or leaving the registry ends both."""
        person_key, status = event.subject, str(event.payload.get("status", "住民"))
        self._basic_items_changed(repo, person_key, event.payload.get("changed", []))
        if status in ENDING_STATUSES:
            self._revoke(repo, repo.good_serials(person_key=person_key),
                         x509.ReasonFlags.cessation_of_operation, status)

    def _basic_items_changed(self, repo: JpkiRepository, person_key: str,
                             changed_fields: Iterable[str]) -> list[int]:
        items = basic_items(changed_fields)
        if not items:
            return []
        note = "基本4情報の変更: " + "・".join(_LABELS[i] for i in sorted(items))
        return self._revoke(repo, repo.good_serials(person_key=person_key, kind=CertKind.SIGNING),
                            x509.ReasonFlags.affiliation_changed, note)

    def _revoke(self, repo: JpkiRepository, serials: list[str], reason: x509.ReasonFlags,
                note: str) -> list[int]:
        now = self.now()
        return [int(s, 16) for s in serials if repo.mark_revoked(s, reason, note, now)]
