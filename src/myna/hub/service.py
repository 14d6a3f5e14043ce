"""The hub node: 符号 issuance and conversion, Table 2 checks, routing, records.

The hub sees only 符号, its own pseudonym ``link`` and ciphertext: it never
learns a name, number or 住民票コード and cannot read a provided item.

Records and leaves (番号法23条)
------------------------------
Every provision record gets a leaf in the provision log, and every leaf stands for
a record.  The log is a database of its own, so the two cannot share one
transaction; instead the record always comes first and the leaf is derived from it:

1. the record is written (and committed, durably) with ``leaf_index`` NULL and
   ``log_from``, a size the log had already reached;
2. every record still without a leaf is appended with
   :meth:`~myna.transparency.service.TransparencyLog.append_once`, which under the
   log's append lock returns the index of a leaf already appended at or after
   ``log_from`` instead of appending it again;
3. ``leaf_index`` is filled in.  This commit need not survive a power cut (step 2
   finds the leaf again), so it skips the flush to disk that step 1 waits for.

A crash after 1 leaves a record without a leaf; after 2, a leaf whose record does
not know it yet.  Step 2 runs on every write and at every start
(:meth:`HubService.reconcile`), so either is repaired by the next one, and running
it twice, or in two processes at once, appends nothing twice.  A leaf can never
exist without its record, because it is only ever computed from a committed record.
:func:`myna.commission.audit.audit_records` checks the result (reading it through
:class:`myna.hub.audit.HubAudit`).

This was chosen over moving the log's tables into the hub's database: the log
stays a self-contained, separately verifiable store (its own tiles, checkpoints and
retention), and the hub's write path keeps one log transaction per write.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, Engine, bindparam, func, insert, select, update

from myna.clock import utcnow
from myna.contracts.hub import Institution, ProvisionRecord, Table2Row
from myna.db import bulk_insert, durable_sqlite, migrate, relaxed_commit
from myna.errors import MynaError, NotFound, PermissionDenied, ValidationError
from myna.events import Event, Inbox, Outbox
from myna.faults import fault_point
from myna.hub import storage as t
from myna.hub.domain import (
    COMMITTED_FIELDS,
    CodeDeriver,
    RecordEntry,
    RefusedMessage,
    RequestSeen,
    committed_view,
)
from myna.keys import KeyStore
from myna.linkage import table2 as table2_module
from myna.linkage.messages import (
    LinkAnswer,
    LinkRequest,
    ProvideAnswer,
    ProvideRequest,
    Result,
    canonical,
    check_fresh,
)
from myna.linkage.network import NetworkApi, NodeUnavailable
from myna.linkage.table2 import NotInTable2, Table2
from myna.netca import node_key_name
from myna.retention import retention_cutoff

__all__ = ["COMMITTED_FIELDS", "HubService", "Institution", "ProvisionLog", "ProvisionRecord",
           "RegisteredInstitution", "committed_view"]

#: Records given their leaves per log transaction when many wait (after a long outage).
RECONCILE_BATCH = 1000

# Built once: the write path runs them on every record.
_UNLOGGED = (select(*[c for c in t.records.c if c.name != "sealed"])
             .where(t.records.c.leaf_index.is_(None))
             .order_by(t.records.c.log_from, t.records.c.requested_at, t.records.c.request_id,
                       t.records.c.attempt).limit(RECONCILE_BATCH))
_SET_LEAF = (update(t.records).where(
    t.records.c.request_id == bindparam("rid"), t.records.c.attempt == bindparam("att"),
    t.records.c.leaf_index.is_(None)).values(leaf_index=bindparam("idx")))


class ProvisionLog(Protocol):
    """The append-only log the hub commits every provision record to."""

    def append_once(self, entries: Sequence[bytes], since: int) -> list[int]: ...

    def known_size(self) -> int: ...


@dataclass(frozen=True)
class RegisteredInstitution(Institution):
    """An institution as the hub registered it, with the keys it checks and seals to."""

    signing_key: Ed25519PublicKey
    box_key: str


class HubService:
    """情報提供ネットワークシステム."""

    def __init__(
        self, engine: Engine, keys: KeyStore, network: NetworkApi, table2: Table2 | None = None,
        log: ProvisionLog | None = None, now: Callable[[], dt.datetime] = utcnow,
        retention_years: int = 7,
    ) -> None:
        if not 1 <= retention_years <= 100:
            raise ValidationError("保存期間は1〜100年です", "retention must be 1..100 years")
        self.retention_years = retention_years
        self._institutions: dict[str, RegisteredInstitution] = {}
        self.engine = engine
        self.network = network
        self.table2 = table2 or table2_module.load()
        self.log = log
        self.now = now
        self._signing = keys.ed25519(node_key_name("hub"))
        self.codes = CodeDeriver(
            keys.secret("hub/link"), keys.secret("hub/code"), keys.secret("hub/commit")
        )
        #: an intermediate server asks, by its own 符号, that every holder of the person's
        #: data protect them (支援措置); each is told by its own 符号
        self.inbox = Inbox(engine, "hub", {"protection.requested": self._on_protection,
                                           "refusal.requested": self._on_refusal}, now)
        self.outbox = Outbox(engine, "hub", now)

    def create_schema(self) -> None:
        migrate(self.engine, "myna.hub")
        self.outbox.create_schema()
        # a record must be on disk before its leaf is (a power cut must not keep the
        # leaf and lose the record): SQLite commits with synchronous=FULL, as the log does
        durable_sqlite(self.engine)

    def _on_protection(self, conn: Connection, event: Event) -> None:
        """支援措置 set or lifted for the person behind the sender's 符号: every
        institution holding a 符号 for that person is told, each by its own 符号 only
        (the hub converts; no institution learns another's 符号).  The hub remembers the
        person (by link), so that an institution given a 符号 for them later is told too."""
        on = bool(event.payload["on"])
        link = self._fan_out(conn, event, "protection.changed", {"on": on})
        conn.execute(t.protected_links.delete().where(t.protected_links.c.link == link))
        if on:
            conn.execute(insert(t.protected_links).values(link=link, since=self.now()))

    def _on_refusal(self, conn: Connection, event: Event) -> None:
        """The person refused (or stopped refusing) provision for an affair: every
        institution holding their data refuses it too, told by its own 符号."""
        self._fan_out(conn, event, "refusal.changed", {
            "affair": str(event.payload["affair"]), "refused": bool(event.payload["refused"])})

    def _fan_out(self, conn: Connection, event: Event, kind: str,
                 values: dict[str, Any]) -> str:
        """Tell every holder of the person's data, by its own 符号; returns the link."""
        source, _, institution = event.source.partition(":")
        if source != "intermediate":
            raise PermissionDenied("中間サーバー以外からの依頼です",
                                   f"{event.source} is not an intermediate server")
        link = conn.execute(select(t.codes.c.link).where(
            t.codes.c.institution_id == institution,
            t.codes.c.code == str(event.payload["code"]))).scalar()
        if link is None:
            raise NotFound("この符号は発行されていません", "no such 符号 for the sender")
        for holder, code in conn.execute(
                select(t.codes.c.institution_id, t.codes.c.code)
                .where(t.codes.c.link == link).order_by(t.codes.c.institution_id)).all():
            self.outbox.add(conn, f"intermediate:{holder}", kind, str(code),
                            {"code": str(code), **values})
        return str(link)

    def public_key(self) -> Ed25519PublicKey:
        return self._signing.public_key()

    # -- institutions ---------------------------------------------------------------

    def register_institution(
        self, institution_id: str, name: str, role: str, signing_key: Ed25519PublicKey,
        box_key: str,
    ) -> None:
        """Admit an institution (情報照会者・情報提供者) with its keys."""
        roles = {r.requester for r in self.table2.rows.values()} | {
            r.provider for r in self.table2.rows.values()}
        if role not in roles:
            raise ValidationError(f"別表第二にない機関の種別です: {role}", f"unknown role {role}")
        raw = base64.b64encode(signing_key.public_bytes_raw()).decode()
        self._institutions.pop(institution_id, None)
        with self.engine.begin() as conn:
            conn.execute(t.institutions.delete().where(
                t.institutions.c.institution_id == institution_id))
            conn.execute(insert(t.institutions).values(
                institution_id=institution_id, name=name, role=role, signing_key=raw,
                box_key=box_key, registered_at=self.now()))

    def institution(self, institution_id: str,
                    conn: Connection | None = None) -> RegisteredInstitution:
        cached = self._institutions.get(institution_id)
        if cached is not None:
            return cached

        def load(c: Connection) -> Any:
            return c.execute(select(t.institutions).where(
                t.institutions.c.institution_id == institution_id)).first()

        if conn is None:
            with self.engine.connect() as c:
                row = load(c)
        else:
            row = load(conn)
        if row is None:
            raise NotFound(f"機関 {institution_id} は登録されていません",
                           f"institution {institution_id} is not registered")
        found = RegisteredInstitution(
            row.institution_id, row.name, row.role,
            Ed25519PublicKey.from_public_bytes(base64.b64decode(row.signing_key)), row.box_key,
        )
        self._institutions[institution_id] = found
        return found

    # -- 符号 ---------------------------------------------------------------------------

    def issue_codes(self, institution: str, people: list[tuple[str, str]]) -> None:
        """From J-LIS: (person key, acquisition reference) pairs for an institution.

        The 符号 go straight to that institution's intermediate server; the
        hub keeps only (institution, 符号, link).  All or nothing.
        """
        self.institution(institution)
        now = self.now()
        deliveries: list[tuple[str, str]] = []
        rows: list[tuple[str, str, str, dt.datetime]] = []
        with self.engine.begin() as conn:
            links = {person: self.codes.link(person) for person, _ in people}
            known = set(conn.execute(select(t.codes.c.link).where(
                t.codes.c.institution_id == institution,
                t.codes.c.link.in_(list(links.values())))).scalars()) if len(links) < 5000 \
                else set(conn.execute(select(t.codes.c.link).where(
                    t.codes.c.institution_id == institution)).scalars())
            for person, ref in people:
                link = links[person]
                code = self.codes.code(institution, link)
                deliveries.append((ref, code))
                if link not in known:
                    rows.append((institution, code, link, now))
                    known.add(link)
            bulk_insert(conn, t.codes, rows, ["institution_id", "code", "link", "issued_at"])
            self._protect_new_holder(conn, institution, rows)
        # delivered after the hub's transaction: a failed delivery is completed by asking
        # again, which derives the same 符号 and finds them already recorded
        fault_point("codes:before-delivery")
        signature = base64.b64encode(
            self._signing.sign(canonical({"deliveries": deliveries}))).decode()
        self.network.intermediate(institution).deliver_codes(deliveries, signature)

    def _protect_new_holder(self, conn: Connection, institution: str,
                            rows: list[tuple[str, str, str, dt.datetime]]) -> None:
        """A new 符号 for a person under 支援措置: its holder protects them from the start
        (the event is written with the 符号, so a crash cannot separate them)."""
        new = {link: code for _, code, link, _ in rows}
        for start in range(0, len(new), 5000):
            part = list(new)[start:start + 5000]
            for link in conn.execute(select(t.protected_links.c.link).where(
                    t.protected_links.c.link.in_(part))).scalars():
                code = new[str(link)]
                self.outbox.add(conn, f"intermediate:{institution}", "protection.changed",
                                code, {"code": code, "on": True})

    # -- requests -------------------------------------------------------------------------

    def _refuse(self, sender: str, request_id: str | None, error: MynaError) -> MynaError:
        with self.engine.begin() as conn:
            conn.execute(insert(t.refusals).values(**t.refusal_row(RefusedMessage(
                self.now(), sender[:50], request_id, error.message))))
        return error

    def request(self, message: LinkRequest) -> LinkAnswer:
        """情報照会: authenticate, authorise by Table 2, convert, forward, record."""
        try:
            requester = self.institution(message.requester)
            message.verify(requester.signing_key, message.requester)
            check_fresh(message.issued_at, self.now())
        except MynaError as exc:
            raise self._refuse(message.requester, message.request_id, exc) from None
        digest = message.content_digest()
        with self.engine.begin() as conn:
            seen = conn.execute(select(t.requests).where(
                t.requests.c.request_id == message.request_id)).first()
            if seen is not None and (seen.digest != digest or seen.requester != requester
                                     .institution_id):
                reused = PermissionDenied(
                    "同じ照会番号で内容の異なる照会が送られました（再送攻撃・偽造の疑い）",
                    "request id reused with different content",
                )
                raise self._refuse(message.requester, message.request_id, reused)
            if seen is not None:
                last = self._latest(conn, message.request_id)
                if last is not None and last.result.final:
                    if last.leaf_index is None and self.log is not None:
                        placed = self.reconcile()  # its leaf was lost to a crash: repair
                        return self._answer(last, placed.get(last.key))
                    return self._answer(last)
            attempt = 1 if seen is None else (self._latest_attempt(conn, message.request_id) + 1)
            if seen is None:
                conn.execute(insert(t.requests).values(**t.request_row(RequestSeen(
                    message.request_id, requester.institution_id, digest, self.now()))))
        return self._route(message, requester, attempt)

    def _route(self, message: LinkRequest, requester: RegisteredInstitution,
               attempt: int) -> LinkAnswer:
        # what every outcome records; each sets its result and reason (and link, answer)
        record = RecordEntry(
            request_id=message.request_id, attempt=attempt, requester=requester.institution_id,
            provider=message.provider, row_id=message.row_id, affair=message.affair,
            item=message.item, requested_at=self.now(), result=Result.DENIED, reason="",
            undisclosed=self.table2.undisclosed(message.row_id, message.affair, message.item),
        )
        try:
            provider = self.institution(message.provider)
            self.table2.authorise(message.row_id, requester.role, message.affair, provider.role,
                                  message.item)
        except (NotInTable2, NotFound) as exc:
            self._record(replace(record, reason=exc.message))
            raise self._refuse(message.requester, message.request_id, exc) from None
        with self.engine.connect() as conn:
            link = conn.execute(select(t.codes.c.link).where(
                t.codes.c.institution_id == requester.institution_id,
                t.codes.c.code == message.requester_code)).scalar()
            provider_code = None if link is None else self.codes.code(provider.institution_id,
                                                                      link)
            has_code = None if link is None else conn.execute(select(t.codes.c.code).where(
                t.codes.c.institution_id == provider.institution_id,
                t.codes.c.code == provider_code)).first()
        if link is None:
            wrong = PermissionDenied(
                "照会に用いた符号は照会機関に発行されたものではありません",
                "the 符号 was not issued to the requesting institution",
            )
            self._record(replace(record, reason=wrong.message))
            raise self._refuse(message.requester, message.request_id, wrong)
        record = replace(record, link=link)
        if has_code is None or provider_code is None:
            return self._record(replace(
                record, result=Result.NO_DATA, provided_at=self.now(),
                reason="情報提供者がこの方の符号を取得していません"))
        forward = ProvideRequest(
            request_id=message.request_id, requester=requester.institution_id,
            requester_box_key=requester.box_key, provider=provider.institution_id,
            provider_code=provider_code, row_id=message.row_id, affair=message.affair,
            item=message.item, issued_at=self.now().isoformat(),
        ).signed(self._signing)
        try:
            answer = self.network.intermediate(provider.institution_id).provide(forward)
            answer.verify(provider.signing_key, provider.institution_id)
        except NodeUnavailable as exc:
            return self._record(replace(record, result=Result.FAILED, reason=exc.message))
        fault_point("exchange:after-provider")
        result = Result(answer.result)
        sealed = base64.b64decode(answer.sealed) if answer.sealed else None
        return self._record(replace(
            record, result=result, reason=answer.reason, sealed=sealed,
            provided_at=None if result is Result.PENDING else self.now()))

    def _record(self, record: RecordEntry) -> LinkAnswer:
        """Write one provision record, then its log leaf (see the module docstring)."""
        key = record.key
        with self.engine.begin() as conn:
            conn.execute(insert(t.records).values(**t.record_row(replace(
                record, leaf_index=None,
                log_from=None if self.log is None else self.log.known_size()))))
        placed = self.reconcile()
        index = placed.get(key)
        if index is None and self.log is not None:  # placed meanwhile by a concurrent write
            with self.engine.connect() as conn:
                index = conn.execute(select(t.records.c.leaf_index).where(
                    t.records.c.request_id == key[0], t.records.c.attempt == key[1])).scalar()
        return self._answer(replace(record, leaf_index=index))

    def reconcile(self) -> dict[tuple[str, int], int]:
        """Give every record still without a leaf its leaf; returns what was placed.

        Idempotent (see the module docstring): a leaf appended before a crash is
        found again, never appended twice.  Runs after every write and at start.
        """
        placed: dict[tuple[str, int], int] = {}
        if self.log is None:
            return placed
        while True:
            with self.engine.connect() as conn:
                rows = [t.record_entry(r._mapping) for r in conn.execute(_UNLOGGED)]
            if not rows:
                return placed
            since = min(r.log_from or 0 for r in rows)
            indexes = self.log.append_once([self.leaf(r) for r in rows], since)
            with self.engine.connect() as conn, relaxed_commit(conn):
                conn.execute(_SET_LEAF, [{"rid": r.request_id, "att": r.attempt, "idx": i}
                                         for r, i in zip(rows, indexes, strict=True)])
            placed.update({r.key: i for r, i in zip(rows, indexes, strict=True)})
            if len(rows) < RECONCILE_BATCH:
                return placed

    def leaf(self, record: RecordEntry) -> bytes:
        """The log entry a stored record commits to (keyed by its ``link``)."""
        return self.codes.commitment(record.link or "", record)

    def _latest(self, conn: Connection, request_id: str) -> RecordEntry | None:
        row = conn.execute(
            select(t.records).where(t.records.c.request_id == request_id)
            .order_by(t.records.c.attempt.desc()).limit(1)).first()
        return None if row is None else t.record_entry(row._mapping)

    def _latest_attempt(self, conn: Connection, request_id: str) -> int:
        return int(conn.execute(select(func.coalesce(func.max(t.records.c.attempt), 0)).where(
            t.records.c.request_id == request_id)).scalar_one())

    @staticmethod
    def _answer(record: RecordEntry, leaf_index: int | None = None) -> LinkAnswer:
        sealed = base64.b64encode(record.sealed).decode() if record.sealed else None
        index = record.leaf_index if leaf_index is None else leaf_index
        return LinkAnswer(record.request_id, record.result, sealed, record.reason, index)

    def complete(self, answer: ProvideAnswer) -> None:
        """A provider's staff decided a pending request: record the outcome (once: the
        same completion sent again changes nothing)."""
        provider = self.institution(answer.provider)
        try:
            answer.verify(provider.signing_key, provider.institution_id)
        except MynaError as exc:
            raise self._refuse(answer.provider, answer.request_id, exc) from None
        with self.engine.connect() as conn:
            last = self._latest(conn, answer.request_id)
        if (last is not None and last.provider == provider.institution_id
                and last.result != Result.PENDING and last.result.value == answer.result
                and last.reason == answer.reason):
            return  # sent again after a crash or a lost reply: recorded once already
        if (last is None or last.result != Result.PENDING
                or last.provider != provider.institution_id):
            raise self._refuse(answer.provider, answer.request_id, PermissionDenied(
                "承認待ちの照会がないか、提供者が異なります",
                "no pending request from this provider"))
        result = Result(answer.result)
        if result not in (Result.PROVIDED, Result.REFUSED):
            raise ValidationError("承認結果は提供か拒否です", "completion must provide or refuse")
        self._record(replace(
            last, attempt=last.attempt + 1, result=result, reason=answer.reason,
            provided_at=self.now(),
            sealed=base64.b64decode(answer.sealed) if answer.sealed else None,
            leaf_index=None, log_from=None))

    def poll(self, requester: str, request_id: str) -> LinkAnswer:
        """The current answer to a request, for the institution that sent it."""
        with self.engine.connect() as conn:
            last = self._latest(conn, request_id)
        if last is None or last.requester != requester:
            raise NotFound(f"照会 {request_id} はありません", f"no request {request_id}")
        return self._answer(last)

    # -- records ---------------------------------------------------------------------------

    def _records(self, *where: Any) -> list[ProvisionRecord]:
        """Records matching ``where``, oldest first."""
        query = select(t.records).where(*where).order_by(t.records.c.requested_at,
                                                         t.records.c.attempt)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [ProvisionRecord(
            r.request_id, r.attempt, r.requester, r.provider, r.row_id, r.affair, r.item,
            r.requested_at, r.provided_at, r.result, r.reason, r.leaf_index, bool(r.undisclosed))
            for r in rows]

    def records(self, request_id: str | None = None) -> list[ProvisionRecord]:
        if request_id:
            return self._records(t.records.c.request_id == request_id)
        return self._records()

    def records_for_institution(self, institution: str) -> list[ProvisionRecord]:
        """The records where ``institution`` asked or provided (what it may see)."""
        return self._records(
            (t.records.c.requester == institution) | (t.records.c.provider == institution))

    def records_for_person(self, person_key: str) -> list[ProvisionRecord]:
        """Every record about one person (for the person, via J-LIS or the portal)."""
        return self._records(t.records.c.link == self.codes.link(person_key))

    def records_of_request(self, institution: str, request_id: str) -> list[ProvisionRecord]:
        """Every attempt at one request, if ``institution`` asked or provided in it."""
        return self._records(
            t.records.c.request_id == request_id,
            (t.records.c.requester == institution) | (t.records.c.provider == institution))

    def table2_rows(self, *, requester: str | None = None,
                    provider: str | None = None) -> list[Table2Row]:
        """The rows of Table 2 (of a requester or provider role), by id."""
        return self.table2.select(requester, provider)

    def institutions(self) -> list[Institution]:
        """Every registered institution."""
        with self.engine.connect() as conn:
            ids = list(conn.execute(select(t.institutions.c.institution_id).order_by(
                t.institutions.c.institution_id)).scalars())
        return [self.institution(i) for i in ids]

    def expire_records(self, now: dt.datetime | None = None) -> int:
        """Delete records past the retention period (番号法23条, 施行令30条: 7 years by default),
        counted from the day each request was made as 民法140〜143条 say
        (:mod:`myna.retention`).

        The log keeps their leaves, so the count stays visible and proofs of
        later records still verify; ``expired_records`` notes which leaves lost their
        record this way, so an audit can tell them from deleted records.
        """
        now = now or self.now()
        limit = retention_cutoff(now, self.retention_years)
        with self.engine.begin() as conn:
            old = t.records.c.requested_at < limit
            bulk_insert(conn, t.expired_records, [
                (int(r.leaf_index), r.request_id, int(r.attempt), now)
                for r in conn.execute(select(t.records.c.leaf_index, t.records.c.request_id,
                                             t.records.c.attempt)
                                      .where(old, t.records.c.leaf_index.is_not(None)))
            ], ["leaf_index", "request_id", "attempt", "expired_at"])
            gone = conn.execute(t.records.delete().where(old))
        return int(gone.rowcount or 0)

    def record_evidence(self, request_id: str, attempt: int) -> tuple[dict[str, Any], int]:
        """The committed view of a record and its leaf index, for the person to check."""
        with self.engine.connect() as conn:
            row = conn.execute(select(t.records).where(
                t.records.c.request_id == request_id, t.records.c.attempt == attempt)).first()
        record = None if row is None else t.record_entry(row._mapping)
        if record is None or record.leaf_index is None:
            raise NotFound(f"照会 {request_id} の記録はありません", f"no record {request_id}")
        return committed_view(record), record.leaf_index

    def person_commit_key(self, person_key: str) -> bytes:
        """The key a person needs to recognise their own leaves (handed over via the portal)."""
        return self.codes.person_commit_key(self.codes.link(person_key))

    def refusals(self) -> list[tuple[str, str | None, str]]:
        with self.engine.connect() as conn:
            return [(r.sender, r.request_id, r.reason) for r in conn.execute(
                select(t.refusals).order_by(t.refusals.c.id))]
