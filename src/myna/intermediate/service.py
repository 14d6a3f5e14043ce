"""The intermediate server of one institution (中間サーバー).

It holds copies (副本) of data items keyed only by this institution's 符号,
answers the hub's forwarded requests (automatically, after staff approval for
items flagged 自動応答不可, or not at all where the person refused), and sends
its own institution's requests.  Answers are sealed to the requester's key
(NaCl sealed box), so the hub routes ciphertext it cannot read.

A request the hub forwarded is answered once.  The server remembers each
answered request by the hub's request id, with a digest of its content (every
field but ``issued_at`` and the signature), for as long as a copy of it could
still pass the freshness check:

* the very same signed message again (a replay, or the hub resending it after a
  lost answer), or the hub's own retry of that request with a new ``issued_at``
  and signature: the stored, signed answer is returned as it was — nothing is
  looked up, sealed or journalled again, so there is no second provision;
* another message under an id already answered: refused
  (:class:`RequestReused`), nothing provided.

The key is the request id alone: the hub forwards every attempt at a request
under its id with the same content, so the id says what was asked.  Once no copy
of the last message could pass the freshness check the memory goes (a replay is
refused as stale from then on); a retry the hub sends later than that is a new
message and is answered afresh — journalled here and recorded by the hub as its
next attempt.

Every refusal on this path is logged with its kind, the requester's institution
and the request id — never a 符号, an item's content or anything about a person.
These and the server's own provision records (the journal, 番号法23条1項) are
kept for ``retention_years`` (施行令30条: 7 years) and then expired
(:meth:`IntermediateServer.expire_records`).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import re
import secrets
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nacl.public import PrivateKey, PublicKey, SealedBox
from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from myna.clock import aware, utcnow
from myna.contracts.check import NodeCheck, backlog_check
from myna.contracts.intermediate import HeldItem, PendingRequest, Received, Refusal
from myna.db import bulk_insert, migrate
from myna.errors import (
    Conflict,
    MynaError,
    NotFound,
    PermissionDenied,
    Unavailable,
    ValidationError,
)
from myna.events import Event, Inbox, Outbox
from myna.faults import fault_point
from myna.intermediate import storage as t
from myna.keys import KeyStore
from myna.linkage import items as item_schemas
from myna.linkage import table2 as table2_module
from myna.linkage.messages import (
    BadSignature,
    LinkAnswer,
    LinkRequest,
    ProvideAnswer,
    ProvideRequest,
    Result,
    canonical,
    check_fresh,
)
from myna.linkage.network import NetworkApi
from myna.linkage.table2 import NotInTable2, Table2
from myna.netca import node_key_name
from myna.retention import retention_cutoff

__all__ = ["HeldItem", "IntermediateServer", "PendingRequest", "Received", "Refusal",
           "RequestReused"]

log = logging.getLogger(__name__)

#: Runs of digits as long as a 住民票コード or longer never reach the log, even inside
#: a request id chosen by a requester's business system.
_LONG_DIGITS = re.compile(r"\d{8,}")


class RequestReused(PermissionDenied):
    """The hub's request id was already answered for a different request."""

    code = "request_reused"


class IntermediateServer:
    """中間サーバー of ``institution``."""

    def __init__(
        self, engine: Engine, keys: KeyStore, institution: str, network: NetworkApi,
        hub_key: Callable[[], Ed25519PublicKey], now: Callable[[], dt.datetime] = utcnow,
        table2: Table2 | None = None, retention_years: int = 7,
    ) -> None:
        if not 1 <= retention_years <= 100:
            raise ValidationError("保存期間は1〜100年です", "retention must be 1..100 years")
        self.retention_years = retention_years
        self.engine = engine
        self.institution = institution
        self.network = network
        self.hub_key = hub_key
        self.now = now
        self._signing = keys.ed25519(node_key_name(f"intermediate:{institution}"))
        # every node verifies Table 2's signature at load; the provider checks the cited
        # row itself too (defence in depth: the hub is not the only gate)
        self.table2 = table2 or table2_module.load()
        self._box = PrivateKey(keys.secret(f"intermediate/{institution}/box"))
        self.node_id = f"intermediate:{institution}"
        self.inbox = Inbox(engine, self.node_id, {
            "protection.requested": self._on_protection_requested,
            "protection.changed": self._on_protection_changed,
            "refusal.changed": self._on_refusal_changed}, now)
        self.outbox = Outbox(engine, self.node_id, now)
        #: delivers the outbox (set by the wiring; until then events wait)
        self.publish: Callable[[], None] = lambda: None

    def create_schema(self) -> None:
        migrate(self.engine, "myna.intermediate")
        self.outbox.create_schema()

    # -- 支援措置 ---------------------------------------------------------------------------

    def _on_protection_requested(self, conn: Connection, event: Event) -> None:
        """Our own institution set or lifted 支援措置 (by its 宛名番号): protect here at
        once, and ask the hub to tell every other holder, by our 符号."""
        if event.source != f"atena:{self._town()}":
            raise PermissionDenied("自機関以外からの保護の依頼です",
                                   f"{event.source} may not ask this server for protection")
        # events written before the column's rename carry the old key
        atena_no = event.payload.get("atena_no", event.payload.get("local_ref"))
        on = bool(event.payload["on"])
        code = conn.execute(select(t.codes.c.code).where(
            t.codes.c.atena_no == str(atena_no))).scalar()
        if code is None:
            # no 符号 yet: nobody can ask about the person through the network; the
            # measure is applied, and passed on, when the 符号 arrives (deliver_codes)
            conn.execute(t.protection_requests.delete().where(
                t.protection_requests.c.atena_no == str(atena_no)))
            if on:
                conn.execute(insert(t.protection_requests).values(atena_no=str(atena_no),
                                                                  since=self.now()))
            return
        self._protect_everywhere(conn, str(code), on)

    def _protect_everywhere(self, conn: Connection, code: str, on: bool) -> None:
        """Protect here, and ask the hub to tell every other holder, by our 符号."""
        self._protect(conn, code, on)
        self.outbox.add(conn, "hub", "protection.requested", code, {"code": code, "on": on})

    def _on_protection_changed(self, conn: Connection, event: Event) -> None:
        """The hub: protect (or stop protecting) the person behind our 符号."""
        _from_hub(event)
        self._protect(conn, str(event.payload["code"]), bool(event.payload["on"]))

    def _protect(self, conn: Connection, code: str, on: bool) -> None:
        conn.execute(t.protections.delete().where(t.protections.c.code == code))
        if on:
            conn.execute(insert(t.protections).values(code=code, since=self.now()))

    def _town(self) -> str:
        return self.institution.removeprefix("municipality-")

    def is_protected(self, atena_no: str) -> bool:
        """Whether 支援措置 holds every provision about this person for a staff decision
        (or will, from the moment a 符号 arrives for them)."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(t.protections.c.code)
                .join(t.codes, t.codes.c.code == t.protections.c.code)
                .where(t.codes.c.atena_no == atena_no)).first() is not None or conn.execute(
                select(t.protection_requests.c.atena_no).where(
                    t.protection_requests.c.atena_no == atena_no)).first() is not None

    @property
    def signing_key(self) -> Ed25519PublicKey:
        return self._signing.public_key()

    @property
    def box_key(self) -> str:
        return base64.b64encode(bytes(self._box.public_key)).decode()

    # -- 符号の取得 ------------------------------------------------------------------------

    def begin_acquisition(self, atena_nos: Sequence[str]) -> list[str]:
        """Processing references for a 符号 request sent through J-LIS."""
        refs = [secrets.token_hex(16) for _ in atena_nos]
        now = self.now()
        with self.engine.begin() as conn:
            bulk_insert(conn, t.acquisitions, [(r, lr, now) for r, lr in zip(refs, atena_nos,
                                                                              strict=True)],
                        ["ref", "atena_no", "requested_at"])
        return refs

    def deliver_codes(self, deliveries: list[tuple[str, str]], hub_signature: str) -> None:
        """From the hub: the 符号 generated for our pending acquisitions."""
        try:
            self.hub_key().verify(base64.b64decode(hub_signature),
                                  canonical({"deliveries": [list(d) for d in deliveries]}))
        except Exception:
            raise BadSignature("符号の通知の署名が情報提供ネットワークシステムのものではありません",
                               "code delivery not signed by the hub") from None
        now = self.now()
        with self.engine.begin() as conn:
            refs = {ref for ref, _ in deliveries}
            pending = dict(conn.execute(select(t.acquisitions.c.ref, t.acquisitions.c.atena_no)
                                        .where(t.acquisitions.c.ref.in_(refs))).all()) \
                if len(refs) < 5000 else dict(conn.execute(
                    select(t.acquisitions.c.ref, t.acquisitions.c.atena_no)).all())
            unknown = refs - set(pending)
            if unknown:
                raise NotFound(
                    "要求していない符号の通知です", f"unknown acquisition {min(unknown)}"
                )
            codes = [code for _, code in deliveries]
            have = dict(conn.execute(select(t.codes.c.atena_no, t.codes.c.code).where(
                t.codes.c.atena_no.in_(list(pending.values())))).all())
            owners = dict(conn.execute(select(t.codes.c.code, t.codes.c.atena_no).where(
                t.codes.c.code.in_(codes))).all())
            rows = []
            for ref, code in deliveries:
                atena_no = pending[ref]
                if have.get(atena_no, code) != code:
                    raise Conflict(f"{atena_no} には既に別の方の符号が登録されています",
                                   f"{atena_no} already holds another person's 符号")
                if owners.get(code, atena_no) != atena_no:
                    raise Conflict(
                        f"同じ方が {owners[code]} と {atena_no} の二つの番号で登録されています"
                        "（名寄せが必要）",
                        f"one person under two references: {owners[code]} and {atena_no}",
                    )
                if atena_no not in have:
                    rows.append((atena_no, code, now))
                    have[atena_no] = code
                    owners[code] = atena_no
            bulk_insert(conn, t.codes, rows, ["atena_no", "code", "acquired_at"])
            protect = self._waiting_protection(conn, {a: c for a, c, _ in rows})
            for code in protect:
                self._protect_everywhere(conn, code, True)
            # earlier acquisitions a crash left undelivered are completed by this one
            held = list(set(pending.values()))
            for start in range(0, len(held), 5000):
                conn.execute(update(t.acquisitions).where(
                    t.acquisitions.c.atena_no.in_(held[start:start + 5000]),
                    t.acquisitions.c.delivered_at.is_(None)).values(delivered_at=now))
        if protect:
            self.publish()

    @staticmethod
    def _waiting_protection(conn: Connection, coded: dict[str, str]) -> list[str]:
        """The 符号 (of those just delivered, by 宛名番号) of people whose 支援措置 waited
        for them; forgotten as waiting (the table holds the few waiting, read whole)."""
        waiting = set(conn.execute(select(t.protection_requests.c.atena_no)).scalars())
        found = sorted(waiting.intersection(coded))
        if found:
            conn.execute(t.protection_requests.delete().where(
                t.protection_requests.c.atena_no.in_(found)))
        return [coded[a] for a in found]

    def coded_refs(self) -> set[str]:
        """The references (宛名番号) that have a 符号 here."""
        with self.engine.connect() as conn:
            return set(conn.execute(select(t.codes.c.atena_no)).scalars())

    def acquired_refs(self) -> set[str]:
        """The references (宛名番号) whose 符号 was delivered here (for ``myna check``:
        one of them without a 符号 now lost it)."""
        with self.engine.connect() as conn:
            return set(conn.execute(select(t.acquisitions.c.atena_no).where(
                t.acquisitions.c.delivered_at.is_not(None))).scalars())

    def has_code(self, atena_no: str) -> bool:
        """Whether a 符号 was acquired for this 宛名番号."""
        with self.engine.connect() as conn:
            return conn.execute(select(t.codes.c.code).where(
                t.codes.c.atena_no == atena_no)).first() is not None

    def unfinished_acquisitions(self) -> int:
        """Acquisitions begun whose 符号 never arrived (and no later one brought it)."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t.acquisitions).where(
                t.acquisitions.c.delivered_at.is_(None))).scalar_one())

    def consistency(self) -> NodeCheck:
        """Acquisitions and requests begun and not finished, and undelivered events
        (``myna check``); running the same operation again completes each."""
        label = f"中間サーバー({self.institution})"
        report = NodeCheck()
        report.add(f"{label} ↔ 情報提供ネットワークシステム",
                   "符号の取得が完了していない（再実行で完了します）",
                   "符号 acquisitions begun but never delivered (run again to complete)",
                   [], count=self.unfinished_acquisitions())
        report.add(f"{label} → 情報提供ネットワークシステム",
                   "回答を受け取っていない照会（再実行で完了します）",
                   "requests sent whose answer never arrived (run again to complete)",
                   [f"照会番号 {r}" for r in self.unanswered()])
        report.add(f"{label} → 情報提供ネットワークシステム",
                   "情報提供ネットワークシステムに届いていない職員の判断（再実行で送ります）",
                   "staff decisions the hub has not confirmed (run again to send them)",
                   [f"照会番号 {r}" for r in self.undelivered_decisions()])
        return report.merge(backlog_check([(label, self.outbox)]))

    def code_for(self, atena_no: str, conn: Connection | None = None) -> str:
        query = select(t.codes.c.code).where(t.codes.c.atena_no == atena_no)
        if conn is None:
            with self.engine.connect() as c:
                code = c.execute(query).scalar()
        else:
            code = conn.execute(query).scalar()
        if code is None:
            raise NotFound(f"{atena_no} の符号はまだ取得されていません",
                           f"no 符号 acquired for {atena_no}")
        return str(code)

    # -- copies and flags ---------------------------------------------------------------------

    def put_item(self, atena_no: str, item: str, payload: dict[str, Any],
                 manual_approval: bool = False) -> None:
        """Register or replace the copy (副本) of an item; schema-checked."""
        item_schemas.validate(item, payload)
        with self.engine.begin() as conn:
            code = self.code_for(atena_no, conn)
            conn.execute(t.items.delete().where(t.items.c.code == code, t.items.c.item == item))
            conn.execute(insert(t.items).values(code=code, item=item, payload=payload,
                                                manual_approval=manual_approval,
                                                updated_at=self.now()))

    def put_items_bulk(self, rows: Sequence[tuple[str, str, dict[str, Any]]]) -> int:
        """Many copies at once (go-live), in one transaction."""
        for _, item, payload in rows:
            item_schemas.validate(item, payload)
        now = self.now()
        with self.engine.begin() as conn:
            codes = dict(conn.execute(select(t.codes.c.atena_no, t.codes.c.code)).all())
            missing = [r for r, _, _ in rows if r not in codes]
            if missing:
                raise NotFound(f"{missing[0]} の符号はまだ取得されていません",
                               f"no 符号 for {missing[0]}")
            bulk_insert(conn, t.items,
                        [(codes[r], item, payload, False, now) for r, item, payload in rows],
                        ["code", "item", "payload", "manual_approval", "updated_at"])
        return len(rows)

    def set_manual_approval(self, atena_no: str, item: str, on: bool) -> None:
        """自動応答不可: a staff member must approve each provision of this item."""
        with self.engine.begin() as conn:
            code = self.code_for(atena_no, conn)
            done = conn.execute(update(t.items).where(t.items.c.code == code,
                                                      t.items.c.item == item)
                                .values(manual_approval=on))
            if done.rowcount != 1:
                raise NotFound(f"{atena_no} の「{item}」の副本がありません", "no such copy")

    def set_refusal(self, atena_no: str, affair: str, refused: bool) -> None:
        """The person's refusal of provision for an affair (or its withdrawal).

        It holds here at once and, through the hub (by 符号), at every other
        institution holding the person's data.
        """
        with self.engine.begin() as conn:
            code = self.code_for(atena_no, conn)
            self._refuse(conn, code, affair, refused)
            self.outbox.add(conn, "hub", "refusal.requested", code,
                            {"code": code, "affair": affair, "refused": refused})
        self.publish()

    def _refuse(self, conn: Connection, code: str, affair: str, refused: bool) -> None:
        conn.execute(t.refusals.delete().where(t.refusals.c.code == code,
                                               t.refusals.c.affair == affair))
        if refused:
            conn.execute(insert(t.refusals).values(code=code, affair=affair,
                                                   registered_at=self.now()))

    def _on_refusal_changed(self, conn: Connection, event: Event) -> None:
        """The hub: the person refused (or stopped refusing) provision for an affair."""
        _from_hub(event)
        self._refuse(conn, str(event.payload["code"]), str(event.payload["affair"]),
                     bool(event.payload["refused"]))

    def flags(self, atena_no: str) -> tuple[tuple[HeldItem, ...], tuple[Refusal, ...]]:
        """The copies held for ``atena_no`` with their 自動応答不可 flags, and the refusals."""
        with self.engine.connect() as conn:
            code = conn.execute(select(t.codes.c.code).where(t.codes.c.atena_no == atena_no)
                                ).scalar()
            if code is None:
                return (), ()
            items = conn.execute(
                select(t.items.c.item, t.items.c.manual_approval, t.items.c.updated_at)
                .where(t.items.c.code == code).order_by(t.items.c.item)).all()
            refusals = conn.execute(
                select(t.refusals.c.affair, t.refusals.c.registered_at)
                .where(t.refusals.c.code == code).order_by(t.refusals.c.affair)).all()
        return (tuple(HeldItem(r.item, bool(r.manual_approval), r.updated_at) for r in items),
                tuple(Refusal(r.affair, r.registered_at) for r in refusals))

    # -- answering ------------------------------------------------------------------------------

    def provide(self, request: ProvideRequest) -> ProvideAnswer:
        """Answer a request the hub forwarded (signed by the hub), at most once.

        A repeat of an answered request gets the stored answer; another request
        under an answered id is refused (see the module's docstring).
        """
        try:
            keep_until = self._admit(request)
            digest = request.content_digest()
            try:
                return self._provide_once(request, digest, keep_until)
            except IntegrityError:
                # the same id was answered meanwhile by a concurrent call: a repeat
                with self.engine.begin() as conn:
                    stored = self._answered(conn, request, digest, keep_until)
                if stored is None:  # pragma: no cover - the row that collided stays
                    raise Conflict("照会を処理できませんでした。再送してください",
                                   "concurrent answer lost; send again") from None
                return stored
        except MynaError as exc:
            self._log_refusal(request, exc)
            raise

    def _provide_once(self, request: ProvideRequest, digest: str,
                      keep_until: dt.datetime) -> ProvideAnswer:
        """The stored answer of a repeat, or the one provision and its answer, stored."""
        with self.engine.begin() as conn:
            self._prune_answered(conn, self.now())
            stored = self._answered(conn, request, digest, keep_until)
            if stored is not None:
                return stored
            answer = self._provide(conn, request)
            conn.execute(insert(t.answered).values(
                request_id=request.request_id, digest=digest, answer=answer.as_json(),
                keep_until=keep_until))
        fault_point("exchange:provider-after-commit")
        return answer

    def _admit(self, request: ProvideRequest) -> dt.datetime:
        """Signature, freshness, addressee and Table 2; until when a copy would be fresh."""
        request.verify(self.hub_key(), "情報提供ネットワークシステム")
        fresh_until = check_fresh(request.issued_at, self.now())
        if request.provider != self.institution:
            raise PermissionDenied("宛先の異なる照会です", "request addressed to another node")
        row = self.table2.row(request.row_id)
        if row.affair != request.affair or request.item not in row.items:
            raise NotInTable2(
                f"別表第二 {row.id} はこの事務・特定個人情報の提供を認めていません",
                f"Table 2 row {row.id} does not cover {request.affair}/{request.item}",
            )
        return fresh_until

    def _answered(self, conn: Connection, request: ProvideRequest, digest: str,
                  keep_until: dt.datetime) -> ProvideAnswer | None:
        """The stored answer when ``request`` repeats one answered before, else None."""
        seen = conn.execute(select(t.answered).where(
            t.answered.c.request_id == request.request_id)).first()
        if seen is None:
            return None
        if seen.digest != digest:
            raise RequestReused(
                "同じ照会番号で内容の異なる提供の求めが送られました（再送攻撃・偽造の疑い）。"
                "提供していません",
                "request id already answered for a different request; nothing provided",
            )
        # the hub's retry may carry a later issued_at: remember it until that one goes stale
        if aware(seen.keep_until) < keep_until:
            conn.execute(update(t.answered).where(
                t.answered.c.request_id == request.request_id).values(keep_until=keep_until))
        log.info("repeated provision request %s from %s answered with the stored answer",
                 _loggable(request.request_id), _loggable(request.requester))
        return ProvideAnswer.from_json(dict(seen.answer))

    def _prune_answered(self, conn: Connection, now: dt.datetime) -> int:
        """Forget answered requests no copy of which could pass the freshness check now."""
        gone = conn.execute(t.answered.delete().where(t.answered.c.keep_until < now))
        return int(gone.rowcount or 0)

    def _log_refusal(self, request: ProvideRequest, exc: MynaError) -> None:
        log.warning("provision request %s from %s refused (%s): %s",
                    _loggable(request.request_id), _loggable(request.requester), exc.code,
                    _loggable(exc.message_en))

    def _provide(self, conn: Connection, request: ProvideRequest) -> ProvideAnswer:
        """Look up the copy, the refusals and the flags; journal; the signed answer."""
        copy = conn.execute(select(t.items).where(
            t.items.c.code == request.provider_code, t.items.c.item == request.item)).first()
        refused = conn.execute(select(t.refusals.c.code).where(
            t.refusals.c.code == request.provider_code,
            t.refusals.c.affair == request.affair)).first()
        atena_no = conn.execute(select(t.codes.c.atena_no).where(
            t.codes.c.code == request.provider_code)).scalar()
        sealed = None
        if refused is not None:
            result, reason = Result.REFUSED, "本人が当該事務への情報提供を拒否しています"
        elif copy is None:
            result, reason = Result.NO_DATA, "該当する副本がありません"
        elif copy.manual_approval or self._protected(conn, request.provider_code):
            result, reason = Result.PENDING, "自動応答不可: 職員の承認を待っています"
            existing = conn.execute(select(t.queue.c.request_id).where(
                t.queue.c.request_id == request.request_id)).first()
            if existing is None:
                conn.execute(insert(t.queue).values(
                    request_id=request.request_id, code=request.provider_code,
                    item=request.item, row_id=request.row_id, affair=request.affair,
                    requester=request.requester,
                    requester_box_key=request.requester_box_key, received_at=self.now(),
                    status="pending"))
        else:
            result, reason = Result.PROVIDED, ""
            sealed = _seal(request.requester_box_key, copy.payload)
        self._journal(conn, "in", request.request_id, request.requester, request.row_id,
                      request.affair, request.item, atena_no, result)
        return self._answer(request.request_id, result, sealed, reason)

    @staticmethod
    def _protected(conn: Connection, code: str) -> bool:
        """支援措置: no automatic answer about this person, for any requester (the reason
        given out is the ordinary 自動応答不可, so the requester does not learn of it)."""
        return conn.execute(select(t.protections.c.code).where(
            t.protections.c.code == code)).first() is not None

    def _answer(self, request_id: str, result: Result, sealed: str | None,
                reason: str) -> ProvideAnswer:
        return ProvideAnswer(request_id=request_id, provider=self.institution,
                             result=result.value, sealed=sealed, reason=reason,
                             answered_at=self.now().isoformat()).signed(self._signing)

    def _journal(self, conn: Connection, direction: str, request_id: str, counterpart: str,
                 row_id: str, affair: str, item: str, atena_no: str | None,
                 result: Result) -> None:
        conn.execute(insert(t.journal).values(
            direction=direction, request_id=request_id, counterpart=counterpart, row_id=row_id,
            affair=affair, item=item, atena_no=atena_no, result=result.value, at=self.now()))

    # -- retention ----------------------------------------------------------------------------

    def expire_records(self, now: dt.datetime | None = None) -> int:
        """Delete this server's provision records past the retention period.

        番号法23条1項 has 情報照会者 and 情報提供者 keep their own records of each
        request and provision (here: the journal) for the period of 施行令30条
        (7 years), counted as 民法140〜143条 say (:mod:`myna.retention`).  Decided
        approvals of 自動応答不可 items go with them; answered requests no longer
        fresh are forgotten.  Returns how many journal entries were deleted.
        """
        now = now or self.now()
        limit = retention_cutoff(now, self.retention_years)
        with self.engine.begin() as conn:
            gone = conn.execute(t.journal.delete().where(t.journal.c.at < limit))
            conn.execute(t.queue.delete().where(t.queue.c.status != "pending",
                                                t.queue.c.received_at < limit))
            self._prune_answered(conn, now)
        return int(gone.rowcount or 0)

    def pending(self) -> list[PendingRequest]:
        """The staff approval queue (自動応答不可 items)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.queue, t.codes.c.atena_no)
                .join(t.codes, t.codes.c.code == t.queue.c.code, isouter=True)
                .where(t.queue.c.status == "pending").order_by(t.queue.c.received_at)).all()
        return [PendingRequest(r.request_id, r.atena_no, r.item, r.affair, r.requester,
                               r.received_at) for r in rows]

    def decide(self, request_id: str, staff_id: str, approve: bool, reason: str = "") -> None:
        """A staff member approves or refuses a pending provision; the hub records it.

        The decision is recorded first (with the answer sealed for the requester) and
        sent to the hub after the commit, never inside it.  Killed in between, or the
        hub down, the decision stands: deciding the same again, or :meth:`resume`,
        sends it (the hub records a completion once)."""
        if not approve and len(reason.strip()) < 2:
            raise ValidationError("提供しない場合は理由を記載してください",
                                  "a refusal needs a reason")
        result = Result.PROVIDED if approve else Result.REFUSED
        with self.engine.begin() as conn:
            row = conn.execute(select(t.queue).where(t.queue.c.request_id == request_id)
                               ).first()
            if row is None:
                raise NotFound(f"承認待ちの照会 {request_id} はありません", "no such request")
            if row.status != "pending":
                if row.status != result.value or row.completed_at is not None:
                    raise Conflict(f"照会 {request_id} は処理済みです", "already decided")
            else:
                sealed = None
                if approve:
                    copy = conn.execute(select(t.items.c.payload).where(
                        t.items.c.code == row.code, t.items.c.item == row.item)).scalar()
                    if copy is None:
                        raise NotFound("副本が削除されています", "the copy is gone")
                    sealed = _seal(row.requester_box_key, copy)
                conn.execute(update(t.queue).where(t.queue.c.request_id == request_id).values(
                    status=result.value, decided_by=staff_id, decided_at=self.now(),
                    reason=reason or None,
                    sealed=sealed))
        fault_point("exchange:decided")
        self._complete_at_hub(request_id)

    def _complete_at_hub(self, request_id: str) -> None:
        """Send a recorded decision to the hub, and note that it arrived."""
        with self.engine.connect() as conn:
            row = conn.execute(select(t.queue).where(t.queue.c.request_id == request_id)
                               ).one()
        result = Result(row.status)
        answer = self._answer(request_id, result, row.sealed, row.reason or (
            "職員が承認しました" if result is Result.PROVIDED else ""))
        self.network.the_hub().complete(answer)
        fault_point("exchange:completed-at-hub")
        with self.engine.begin() as conn:
            conn.execute(update(t.queue).where(t.queue.c.request_id == request_id,
                                               t.queue.c.completed_at.is_(None))
                         .values(completed_at=self.now()))

    def undelivered_decisions(self) -> list[str]:
        """Decisions taken whose completion the hub has not confirmed yet."""
        with self.engine.connect() as conn:
            return list(conn.execute(select(t.queue.c.request_id).where(
                t.queue.c.status != "pending", t.queue.c.completed_at.is_(None))
                .order_by(t.queue.c.decided_at)).scalars())

    # -- asking ---------------------------------------------------------------------------------

    def request(
        self, atena_no: str, row_id: str, affair: str, provider: str, item: str,
        request_id: str | None = None,
    ) -> LinkAnswer:
        """情報照会 for one of our people, citing a Table 2 row; retry with the same id.

        The request is recorded before the hub is asked and marked answered after:
        killed in between, sending it again with the same id (or :meth:`resume`)
        completes it, and the hub and the provider answer the repeat without
        providing twice.
        """
        request_id = request_id or uuid.uuid4().hex
        code = self.code_for(atena_no)
        with self.engine.begin() as conn:
            sent = conn.execute(select(t.outgoing).where(
                t.outgoing.c.request_id == request_id)).first()
            if sent is None:
                conn.execute(insert(t.outgoing).values(
                    request_id=request_id, atena_no=atena_no, row_id=row_id, affair=affair,
                    provider=provider, item=item, sent_at=self.now()))
            elif (sent.atena_no, sent.row_id, sent.affair, sent.provider, sent.item) != (
                    atena_no, row_id, affair, provider, item):
                raise Conflict("同じ照会番号で別の照会は送れません",
                               "a request id is used for one request only")
        fault_point("exchange:after-intent")
        message = LinkRequest(
            request_id=request_id, requester=self.institution, requester_code=code,
            row_id=row_id, affair=affair, provider=provider, item=item,
            issued_at=self.now().isoformat(),
        ).signed(self._signing)
        try:
            answer = self.network.the_hub().request(message)
        except Unavailable:
            raise  # not answered: resume() sends it again
        except MynaError:
            # the hub refused it (Table 2, a 符号 not ours …): answered, with a refusal
            self._answered_out(request_id, provider, row_id, affair, item, atena_no,
                               Result.DENIED)
            raise
        fault_point("exchange:after-answer")
        self._answered_out(request_id, provider, row_id, affair, item, atena_no, answer.result)
        return answer

    def _answered_out(self, request_id: str, provider: str, row_id: str, affair: str,
                      item: str, atena_no: str, result: Result) -> None:
        """Mark our request answered and journal it, once."""
        with self.engine.begin() as conn:
            first = conn.execute(update(t.outgoing).where(
                t.outgoing.c.request_id == request_id, t.outgoing.c.answered_at.is_(None))
                .values(answered_at=self.now()))
            if first.rowcount:
                self._journal(conn, "out", request_id, provider, row_id, affair, item,
                              atena_no, result)

    def unanswered(self) -> list[str]:
        """Our requests sent (or about to be) whose answer never arrived."""
        with self.engine.connect() as conn:
            return list(conn.execute(select(t.outgoing.c.request_id).where(
                t.outgoing.c.answered_at.is_(None)).order_by(t.outgoing.c.sent_at)).scalars())

    def resume(self) -> int:
        """Send every unanswered request again, with its own id, and every staff decision
        the hub has not confirmed; returns how many."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.outgoing).where(
                t.outgoing.c.answered_at.is_(None)).order_by(t.outgoing.c.sent_at)).all()
        for r in rows:
            self.request(r.atena_no, r.row_id, r.affair, r.provider, r.item, r.request_id)
        decisions = self.undelivered_decisions()
        for request_id in decisions:
            self._complete_at_hub(request_id)
        return len(rows) + len(decisions)

    def open(self, answer: LinkAnswer) -> Received:
        """Decrypt an answer meant for us."""
        payload = None
        if answer.sealed:
            plain = SealedBox(self._box).decrypt(base64.b64decode(answer.sealed))
            payload = json.loads(plain)
        return Received(answer.request_id, answer.result, payload, answer.reason,
                        answer.leaf_index)

    def fetch(self, request_id: str) -> Received:
        """Poll the hub for the current answer to one of our requests and open it."""
        return self.open(self.network.the_hub().poll(self.institution, request_id))


def _from_hub(event: Event) -> None:
    """Only the hub tells a server what holds for the people behind its 符号."""
    if event.source != "hub":
        raise PermissionDenied("情報提供ネットワークシステム以外からの通知です",
                               f"{event.source} is not the hub")


def _loggable(value: object) -> str:
    """Text for a log line: bounded, with long runs of digits taken out."""
    return _LONG_DIGITS.sub("…", str(value)[:120])


def _seal(box_key: str, payload: dict[str, Any]) -> str:
    box = SealedBox(PublicKey(base64.b64decode(box_key)))
    return base64.b64encode(box.encrypt(canonical(payload))).decode()
