"""Relying parties (署名検証者・利用者証明検証者) and the log of every question they ask.

Only registered parties may ask (公的個人認証法 17条, 38条の2); a private company
needs the reference of the minister's approval (総務大臣認定事業者).  Every
question — answered, refused or malformed — is logged: who, which serial, when,
the answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from myna.errors import Conflict, NotFound, PermissionDenied, ValidationError
from myna.jpki.domain import (
    CertKind,
    PartyCategory,
    QueryRecord,
    RelyingParty,
    RelyingPartyKind,
    check_ref,
    serial_key,
)
from myna.jpki.storage import JpkiRepository, JpkiStore
from myna.text import clean_text


class RelyingParties:
    """Registration of relying parties, the check of each question and its log."""

    def __init__(self, store: JpkiStore, now: Callable[[], dt.datetime]) -> None:
        self.store = store
        self.now = now

    def register(
        self, party_id: str, name: str, kind: RelyingPartyKind | str, *,
        category: PartyCategory | str = PartyCategory.PUBLIC, approval_ref: str | None = None,
        update_existing: bool = False,
    ) -> RelyingParty:
        """Register a party (``update_existing``: change one).

        An id already registered is refused unless ``update_existing`` — a typo
        must not silently replace another party — and an update needs an id that
        exists.
        """
        check_ref("検証者ID", "relying party id", party_id)
        try:
            kind = RelyingPartyKind(kind)
            category = PartyCategory(category)
        except ValueError:
            raise ValidationError(
                f"検証者の種別が不正です: {kind} / {category}",
                f"unknown relying party kind or category: {kind} / {category}",
            ) from None
        name = clean_text(name, "検証者の名称", max_length=100, label_en="relying party name")
        approval_ref = clean_text(approval_ref or "", "認定番号", max_length=50,
                                  required=False, label_en="approval reference") or None
        if category is PartyCategory.APPROVED_PRIVATE and not approval_ref:
            raise ValidationError(
                "民間事業者は総務大臣の認定番号が必要です",
                "a private company needs the reference of the minister's approval",
            )
        party = RelyingParty(party_id, name, kind, category, approval_ref, True)
        with self.store.begin() as repo:
            existing = repo.party(party_id)
            if existing is not None and not update_existing:
                state = "" if existing.active else "、登録取消済み"
                raise Conflict(
                    f"検証者ID {party_id} は既に登録されています（{existing.name}{state}）。"
                    "登録内容を変えるには myna jpki rp update を使ってください",
                    f"relying party {party_id} exists; use 'myna jpki rp update' to change it",
                )
            if existing is None and update_existing:
                raise NotFound(f"検証者 {party_id} は登録されていません",
                               f"no relying party {party_id}")
            repo.put_party(party, self.now())
        return party

    def deregister(self, party_id: str) -> None:
        """Withdraw a party's registration (its later queries are refused and logged)."""
        with self.store.begin() as repo:
            if not repo.withdraw_party(party_id):
                raise NotFound(
                    f"検証者 {party_id} は登録されていません", f"no relying party {party_id}"
                )

    def all(self) -> list[RelyingParty]:
        """Every registered party, active or withdrawn, by id."""
        with self.store.read() as repo:
            return repo.parties()

    def authorise(self, repo: JpkiRepository, party_id: str, kind: CertKind | None) -> None:
        """PermissionDenied unless ``party_id`` is registered now and may check ``kind``."""
        party = repo.party(party_id)
        if party is None or not party.active:
            raise PermissionDenied(
                f"{party_id} は署名検証者・利用者証明検証者として登録されていません",
                f"{party_id} is not a registered relying party",
            )
        if kind is not None and not party.kind.may_check(kind):
            raise PermissionDenied(
                f"{party_id}（{party.kind.value}）は{kind.label}を検証できません",
                f"{party_id} ({party.kind.name}) may not check {kind.value} certificates",
            )

    def log(self, repo: JpkiRepository, party_id: str, operation: str, serial: str | None,
            purpose: CertKind | None, result: str) -> None:
        repo.log_query(party_id, operation, serial, purpose, result, self.now())

    def query_log(
        self, party_id: str | None = None, serial: int | str | None = None
    ) -> list[QueryRecord]:
        """The logged questions, oldest first, optionally for one party or one serial."""
        with self.store.read() as repo:
            return repo.query_log(party_id, serial_key(serial) if serial is not None else None)
