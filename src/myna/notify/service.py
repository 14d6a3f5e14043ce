"""The notification node: 番号通知 run by J-LIS on behalf of municipalities.

Municipalities hand over their households (:class:`HouseholdNotice`) and any
alternative destinations (居所情報登録); this node prepares one sealed letter
per household with one card application form per member, records every
letter's fate as history, lists the households never reached, and counts.

Its database necessarily holds names, individual numbers and addresses — it
prints the letters — so it is a 特定個人情報ファイル in its own right.

Each public method is one transaction: it completes, or leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, Engine, Select, and_, func, insert, select, update

from myna.clock import aware, jst_date, utcnow
from myna.db import bulk_insert, inserted_id, migrate
from myna.errors import Conflict, NotFound, ValidationError
from myna.events import Event, Inbox
from myna.notify import storage as t
from myna.notify.domain import (
    AFTER_MAILING,
    DEFAULT_APPLY_URL,
    DEFAULT_HOLDING_MONTHS,
    RECORDABLE,
    STATS_STATES,
    UNREACHED,
    AlternativeReason,
    AlternativeRegistration,
    ApplicationInfo,
    BatchSummary,
    DeliveryStats,
    Destination,
    FollowUpEntry,
    HouseholdNotice,
    Letter,
    LetterEvent,
    LetterKind,
    LetterMember,
    LetterState,
    ReturnReason,
    StatsReport,
    check_application_id,
    check_apply_url,
    check_destination,
    check_households,
    check_note,
    check_transition,
    combine_stats,
    holding_deadline,
    new_application_id,
    parse_alternative_reason,
    parse_reason,
    parse_state,
    plan_letters,
)
from myna.numbers import municipality_code as municipality_codes

_CHUNK = 500


def _check_code(code: str) -> str:
    return municipality_codes.validate(code)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _latest_event_ids() -> Any:
    """Subquery: the newest event of every letter (its current state)."""
    e = t.letter_events
    return (
        select(e.c.letter_id, func.max(e.c.event_id).label("event_id"))
        .group_by(e.c.letter_id)
        .subquery("latest")
    )


def _current_states() -> Select[Any]:
    """(letter_id, state) of every letter."""
    latest = _latest_event_ids()
    e = t.letter_events
    return select(e.c.letter_id, e.c.state).join(latest, e.c.event_id == latest.c.event_id)


class NotificationService:
    """番号通知: batches, letters, their history, application IDs, statistics.

    Implements :class:`myna.contracts.notify.NotifyApi` (what towns call) and
    :class:`myna.contracts.notify.ApplicationFormsApi` (what the card centre calls).
    """

    def __init__(
        self,
        engine: Engine,
        now: Callable[[], dt.datetime] = utcnow,
        apply_url: str = DEFAULT_APPLY_URL,
        holding_months: int = DEFAULT_HOLDING_MONTHS,
    ) -> None:
        if not 1 <= holding_months <= 24:
            raise ValidationError(
                f"保管期間は1〜24か月です（指定: {holding_months}）",
                f"holding period must be 1..24 months, not {holding_months}",
            )
        self.engine = engine
        self.now = now
        self.apply_url = check_apply_url(apply_url)
        self.holding_months = holding_months
        #: the municipality's 支援措置 arrives here as an event, with the 居所 it registered
        self.inbox = Inbox(engine, "notify", {}, now,
                           effects={"support_measure.changed": self._on_support_measure})

    def create_schema(self) -> None:
        migrate(self.engine, "myna.notify")
        self.inbox.create_schema()

    def _on_support_measure(self, event: Event) -> None:
        """支援措置 set: the person's letter goes to the 居所 registered with it (one
        registration at the municipality, not a second one here); lifted: withdrawn.

        Idempotent: an existing registration is kept, a missing one is not withdrawn.
        A letter already mailed makes it apply to the next mailing; a letter to the
        居所 still waiting to be mailed holds the lifting back until it is mailed.
        """
        kind, _, town = event.source.partition(":")
        if kind != "municipality":
            raise ValidationError("市区町村以外からの支援措置の通知です",
                                  f"{event.source} is not a municipality")
        p = event.payload
        resident_id = int(p["resident_id"])
        with self.engine.connect() as conn:
            active = self._active_alternative(conn, town, resident_id)
        if not p["on"]:
            if active is not None:
                self.withdraw_alternative(town, resident_id)
            return
        if active is not None or not p.get("postcode"):
            return
        args = (town, resident_id, AlternativeReason.DV, str(p["postcode"]), str(p["address"]))
        try:
            self.register_alternative(*args, note="支援措置の申出による")
        except Conflict:
            self.register_alternative(*args, note="支援措置の申出による", for_remailing=True)

    # -- 居所情報登録 ------------------------------------------------------------------------

    def register_alternative(
        self,
        municipality_code: str,
        resident_id: int,
        reason: AlternativeReason | str,
        postcode: str,
        address: str,
        care_of: str | None = None,
        note: str | None = None,
        for_remailing: bool = False,
    ) -> AlternativeRegistration:
        """Register where one person's letter goes instead of the registered address.

        Before mailing it splits the person off the prepared household letter at
        once.  Once their letter was mailed it is refused, unless
        ``for_remailing``: then it applies to the next letter prepared for them.
        """
        code = _check_code(municipality_code)
        if not isinstance(resident_id, int) or resident_id < 1:
            raise ValidationError(f"住民IDが不正です: {resident_id!r}", "bad resident id")
        category = parse_alternative_reason(reason)
        destination = check_destination(Destination(postcode, address, care_of))
        note = check_note(note)
        now = self.now()
        with self.engine.begin() as conn:
            if self._active_alternative(conn, code, resident_id) is not None:
                raise Conflict(
                    f"住民ID {resident_id} の方の居所は既に登録されています"
                    "（変更するには先に取り下げてください）",
                    f"resident {resident_id} already has an active alternative destination",
                )
            latest = self._latest_letter_of(conn, code, resident_id)
            moved_to: int | None = None
            if latest is not None:
                letter_id, state, batch_id = latest
                if state in AFTER_MAILING and not for_remailing:
                    mailed_at = conn.execute(
                        select(t.batches.c.mailed_at).where(t.batches.c.batch_id == batch_id)
                    ).scalar_one()
                    day = jst_date(aware(mailed_at)) if mailed_at else None
                    raise Conflict(
                        f"住民ID {resident_id} の方への通知は既に発送済みです（{day}、通知番号 "
                        f"{letter_id}）。今からの居所登録は発送済みの通知には反映できず、"
                        "再送付の分にのみ適用されます（再送付用として登録してください）",
                        f"the letter for resident {resident_id} was mailed on {day}; a "
                        "registration now can only apply to a re-mailing (for_remailing=True)",
                    )
                if state is LetterState.PREPARED:
                    moved_to = self._split_off(conn, letter_id, batch_id, code, resident_id,
                                               destination, now)
            alt_id = inserted_id(conn.execute(insert(t.alternatives).values(
                municipality_code=code, resident_id=resident_id, reason=category.value,
                postcode=destination.postcode, address=destination.address,
                care_of=destination.care_of, note=note, for_remailing=for_remailing,
                registered_at=now,
            )))
        return AlternativeRegistration(alt_id, code, resident_id, category, destination, note,
                                       for_remailing, now, moved_to)

    def withdraw_alternative(self, municipality_code: str, resident_id: int) -> None:
        """Withdraw a registration; letters already prepared for the 居所 stay as they are."""
        code = _check_code(municipality_code)
        with self.engine.begin() as conn:
            alt_id = self._active_alternative(conn, code, resident_id)
            if alt_id is None:
                raise NotFound(
                    f"住民ID {resident_id} の方の居所登録はありません",
                    f"no active alternative destination for resident {resident_id}",
                )
            latest = self._latest_letter_of(conn, code, resident_id)
            if latest is not None and latest[1] is LetterState.PREPARED:
                raise Conflict(
                    "居所あての通知が発送待ちのため取り下げできません（発送後に取り下げてください）",
                    "a letter to the alternative destination is waiting to be mailed",
                )
            conn.execute(update(t.alternatives).where(t.alternatives.c.alternative_id == alt_id)
                         .values(withdrawn_at=self.now()))

    def alternatives(self, municipality_code: str) -> list[AlternativeRegistration]:
        """Active registrations of a municipality."""
        code = _check_code(municipality_code)
        a = t.alternatives
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(a).where(a.c.municipality_code == code, a.c.withdrawn_at.is_(None))
                .order_by(a.c.alternative_id)
            ).all()
        return [
            AlternativeRegistration(
                r.alternative_id, r.municipality_code, r.resident_id,
                AlternativeReason(r.reason), Destination(r.postcode, r.address, r.care_of),
                r.note, bool(r.for_remailing), aware(r.registered_at),
            )
            for r in rows
        ]

    def _active_alternative(self, conn: Connection, code: str, resident_id: int) -> int | None:
        a = t.alternatives
        found = conn.execute(
            select(a.c.alternative_id).where(
                a.c.municipality_code == code, a.c.resident_id == resident_id,
                a.c.withdrawn_at.is_(None),
            )
        ).scalar()
        return int(found) if found is not None else None

    def _latest_letter_of(
        self, conn: Connection, code: str, resident_id: int
    ) -> tuple[int, LetterState, int] | None:
        """(letter id, current state, batch id) of the newest letter listing the person."""
        m, lt = t.members, t.letters
        row = conn.execute(
            select(m.c.letter_id, lt.c.batch_id).join(lt, lt.c.letter_id == m.c.letter_id)
            .where(m.c.municipality_code == code, m.c.resident_id == resident_id)
            .order_by(m.c.letter_id.desc()).limit(1)
        ).first()
        if row is None:
            return None
        return int(row.letter_id), self._state(conn, int(row.letter_id)), int(row.batch_id)

    def _split_off(
        self, conn: Connection, letter_id: int, batch_id: int, code: str, resident_id: int,
        destination: Destination, now: dt.datetime,
    ) -> int:
        """Move a person from a prepared letter to a new letter for their 居所."""
        old = conn.execute(select(t.letters).where(t.letters.c.letter_id == letter_id)).one()
        new_id = inserted_id(conn.execute(insert(t.letters).values(
            batch_id=batch_id, kind=LetterKind.ALTERNATIVE.value,
            household_number=old.household_number, postcode=old.postcode, address=old.address,
            send_postcode=destination.postcode, send_address=destination.address,
            care_of=destination.care_of,
        )))
        conn.execute(
            update(t.members).where(t.members.c.letter_id == letter_id,
                                    t.members.c.municipality_code == code,
                                    t.members.c.resident_id == resident_id)
            .values(letter_id=new_id, position=0)
        )
        self._append(conn, new_id, LetterState.PREPARED, now, note=f"通知 {letter_id} から分離")
        left = conn.execute(
            select(func.count()).select_from(t.members).where(t.members.c.letter_id == letter_id)
        ).scalar_one()
        if left == 0:
            self._append(conn, letter_id, LetterState.CANCELLED, now,
                         note=f"全員を別送（通知 {new_id}）としたため取りやめ")
        else:
            self._append(conn, letter_id, LetterState.PREPARED, now,
                         note="1名を別送としたため記載から除外")
        return new_id

    # -- batches --------------------------------------------------------------------------

    def prepare_batch(
        self, municipality_code: str, municipality_name: str,
        households: Sequence[HouseholdNotice],
    ) -> BatchSummary:
        """Prepare the letters of one mailing: one per household, one per 居所 person."""
        code = _check_code(municipality_code)
        name = (municipality_name or "").strip(" \u3000")
        if not name or len(name) > 100:
            raise ValidationError("市区町村名を入力してください", "municipality name is required")
        checked = check_households(households)
        now = self.now()
        people = [m.resident_id for h in checked for m in h.members]
        with self.engine.begin() as conn:
            waiting = self._waiting_people(conn, code, people)
            if waiting:
                shown = "、".join(str(r) for r in sorted(waiting)[:5])
                raise Conflict(
                    f"発送待ちの通知に既に含まれている方がいます（住民ID {shown}）",
                    f"residents already on letters not yet mailed: {sorted(waiting)[:5]}",
                )
            destinations = self._destinations(conn, code, people)
            plans = [p for h in checked for p in plan_letters(h, destinations)]
            batch_id = inserted_id(conn.execute(insert(t.batches).values(
                municipality_code=code, municipality_name=name, apply_url=self.apply_url,
                prepared_at=now,
            )))
            result = conn.execute(
                insert(t.letters).returning(t.letters.c.letter_id, sort_by_parameter_order=True),
                [dict(batch_id=batch_id, kind=p.kind.value, household_number=p.household_number,
                      postcode=p.postcode, address=p.address,
                      send_postcode=p.destination.postcode, send_address=p.destination.address,
                      care_of=p.destination.care_of) for p in plans],
            )
            letter_ids = [int(r[0]) for r in result.all()]
            ids = self._fresh_application_ids(conn, len(people))
            rows = []
            for letter_id, plan in zip(letter_ids, plans, strict=True):
                for position, m in enumerate(plan.members):
                    rows.append((ids.pop(), letter_id, position, code, m.resident_id, m.name,
                                 m.furigana, m.birth_date, m.sex, m.individual_number, None))
            bulk_insert(conn, t.members, rows,
                        ["application_id", "letter_id", "position", "municipality_code",
                         "resident_id", "name", "furigana", "birth_date", "sex",
                         "individual_number", "used_at"])
            bulk_insert(conn, t.letter_events,
                        [(i, LetterState.PREPARED.value, None, None, None, now)
                         for i in letter_ids],
                        ["letter_id", "state", "reason", "identity_document", "note", "at"])
        alternative = sum(p.kind is LetterKind.ALTERNATIVE for p in plans)
        return BatchSummary(batch_id, code, name, now, None, tuple(letter_ids),
                            len(plans) - alternative, alternative, len(people))

    def _waiting_people(self, conn: Connection, code: str, people: Sequence[int]) -> set[int]:
        states = _current_states().subquery("states")
        m = t.members
        found: set[int] = set()
        for part in _chunks(people):
            found.update(int(r) for r in conn.execute(
                select(m.c.resident_id).join(states, states.c.letter_id == m.c.letter_id)
                .where(m.c.municipality_code == code, m.c.resident_id.in_(list(part)),
                       states.c.state == LetterState.PREPARED.value)
            ).scalars())
        return found

    def _destinations(
        self, conn: Connection, code: str, people: Sequence[int]
    ) -> dict[int, Destination]:
        a = t.alternatives
        out: dict[int, Destination] = {}
        for part in _chunks(people):
            for r in conn.execute(select(a).where(
                a.c.municipality_code == code, a.c.withdrawn_at.is_(None),
                a.c.resident_id.in_(list(part)),
            )):
                out[int(r.resident_id)] = Destination(r.postcode, r.address, r.care_of)
        return out

    def _fresh_application_ids(self, conn: Connection, count: int) -> list[str]:
        """``count`` new 申請書ID, none ever issued before (IDs are never deleted)."""
        ids: set[str] = set()
        while len(ids) < count:
            candidates = {new_application_id() for _ in range(count - len(ids))} - ids
            taken: set[str] = set()
            for part in _chunks(sorted(candidates)):
                taken.update(conn.execute(
                    select(t.members.c.application_id)
                    .where(t.members.c.application_id.in_(list(part)))
                ).scalars())
            ids |= candidates - taken
        return list(ids)

    def mark_mailed(self, batch_id: int) -> BatchSummary:
        """発送: every prepared letter of the batch is handed to the post office."""
        now = self.now()
        with self.engine.begin() as conn:
            batch = self._batch(conn, batch_id)
            if batch.mailed_at is not None:
                raise Conflict(
                    f"一括 {batch_id} は既に発送済みです（{jst_date(aware(batch.mailed_at))}）",
                    f"batch {batch_id} was already mailed",
                )
            states = dict(self._states_of_batch(conn, batch_id))
            prepared = [i for i, s in states.items() if s is LetterState.PREPARED]
            bulk_insert(conn, t.letter_events,
                        [(i, LetterState.MAILED.value, None, None, None, now) for i in prepared],
                        ["letter_id", "state", "reason", "identity_document", "note", "at"])
            conn.execute(update(t.batches).where(t.batches.c.batch_id == batch_id)
                         .values(mailed_at=now))
            summary = self._summary(conn, batch_id)
        return summary

    def batch(self, batch_id: int) -> BatchSummary:
        with self.engine.connect() as conn:
            return self._summary(conn, batch_id)

    def batches(self, municipality_code: str | None = None) -> list[BatchSummary]:
        query = select(t.batches.c.batch_id).order_by(t.batches.c.batch_id)
        if municipality_code is not None:
            query = query.where(t.batches.c.municipality_code == _check_code(municipality_code))
        with self.engine.connect() as conn:
            return [self._summary(conn, int(i)) for i in conn.execute(query).scalars()]

    def _batch(self, conn: Connection, batch_id: int) -> Any:
        row = conn.execute(select(t.batches).where(t.batches.c.batch_id == batch_id)).first()
        if row is None:
            raise NotFound(f"一括 {batch_id} はありません", f"no batch {batch_id}")
        return row

    def _states_of_batch(self, conn: Connection, batch_id: int) -> list[tuple[int, LetterState]]:
        states = _current_states().subquery("states")
        rows = conn.execute(
            select(t.letters.c.letter_id, states.c.state)
            .join(states, states.c.letter_id == t.letters.c.letter_id)
            .where(t.letters.c.batch_id == batch_id).order_by(t.letters.c.letter_id)
        ).all()
        return [(int(i), LetterState(s)) for i, s in rows]

    def _summary(self, conn: Connection, batch_id: int) -> BatchSummary:
        batch = self._batch(conn, batch_id)
        lt, m = t.letters, t.members
        live = [i for i, s in self._states_of_batch(conn, batch_id)
                if s is not LetterState.CANCELLED]
        kinds = {int(i): str(k) for i, k in conn.execute(
            select(lt.c.letter_id, lt.c.kind).where(lt.c.batch_id == batch_id)
        )}
        people = conn.execute(
            select(func.count()).select_from(m).join(lt, lt.c.letter_id == m.c.letter_id)
            .where(lt.c.batch_id == batch_id)
        ).scalar_one()
        alternative = sum(kinds[i] == LetterKind.ALTERNATIVE.value for i in live)
        return BatchSummary(
            int(batch.batch_id), batch.municipality_code, batch.municipality_name,
            aware(batch.prepared_at), aware(batch.mailed_at) if batch.mailed_at else None,
            tuple(live), len(live) - alternative, alternative, int(people),
        )

    # -- the letter's history --------------------------------------------------------------

    def _state(self, conn: Connection, letter_id: int) -> LetterState:
        state = conn.execute(
            select(t.letter_events.c.state).where(t.letter_events.c.letter_id == letter_id)
            .order_by(t.letter_events.c.event_id.desc()).limit(1)
        ).scalar()
        if state is None:
            raise NotFound(f"通知 {letter_id} はありません", f"no letter {letter_id}")
        return LetterState(state)

    def _append(
        self, conn: Connection, letter_id: int, state: LetterState, at: dt.datetime,
        reason: ReturnReason | None = None, identity_document: str | None = None,
        note: str | None = None,
    ) -> None:
        conn.execute(insert(t.letter_events).values(
            letter_id=letter_id, state=state.value, reason=reason.value if reason else None,
            identity_document=identity_document, note=note, at=at,
        ))

    def record(
        self,
        letter_id: int,
        state: LetterState | str,
        reason: ReturnReason | str | None = None,
        note: str | None = None,
        identity_document: str | None = None,
    ) -> LetterEvent:
        """Append what happened to a mailed letter to its history.

        配達済み; 返戻 (with a reason: 宛所不明・保管期間経過・受取拒否); 窓口保管;
        交付済み (with the identity document checked); 廃棄 (after the holding period).
        """
        new = parse_state(state)
        if new not in RECORDABLE:
            raise ValidationError(
                f"「{new.value}」はここでは記録できません（発送は一括で記録します）",
                f"cannot record {new.english} here (mailing is recorded per batch)",
            )
        why: ReturnReason | None = None
        if new is LetterState.RETURNED:
            if reason is None:
                raise ValidationError(
                    "返戻理由（宛所不明・保管期間経過・受取拒否）を指定してください",
                    "a returned letter needs a reason",
                )
            why = parse_reason(reason)
        elif reason is not None:
            raise ValidationError("理由は返戻のときだけ指定できます",
                                  "a reason is only recorded for returned letters")
        document = check_note(identity_document, "本人確認書類", 100)
        if new is LetterState.HANDED_OVER and document is None:
            raise ValidationError(
                "交付には確認した本人確認書類（例: 運転免許証）の記録が必要です",
                "handing over needs the identity document that was checked",
            )
        if new is not LetterState.HANDED_OVER and document is not None:
            raise ValidationError("本人確認書類は交付のときだけ記録します",
                                  "an identity document is only recorded on hand-over")
        note = check_note(note)
        now = self.now()
        with self.engine.begin() as conn:
            current = self._state(conn, letter_id)
            check_transition(current, new)
            if new is LetterState.DISPOSED:
                self._check_holding_over(conn, letter_id, now)
            self._append(conn, letter_id, new, now, why, document, note)
        return LetterEvent(new, now, why, document, note)

    def _check_holding_over(self, conn: Connection, letter_id: int, now: dt.datetime) -> None:
        held_at = conn.execute(
            select(func.max(t.letter_events.c.at)).where(
                t.letter_events.c.letter_id == letter_id,
                t.letter_events.c.state == LetterState.HELD.value,
            )
        ).scalar_one()
        until = holding_deadline(aware(held_at), self.holding_months)
        if jst_date(now) <= until:
            raise ValidationError(
                f"保管期限（{until}）が過ぎるまで廃棄できません"
                f"（保管期間 {self.holding_months}か月）",
                f"the letter must be kept until {until} ({self.holding_months} months)",
            )

    def dispose_expired(self, municipality_code: str | None = None) -> list[int]:
        """廃棄 every letter held at the counter past its holding period."""
        now = self.now()
        with self.engine.begin() as conn:
            held = self._letters_in_state(conn, LetterState.HELD, municipality_code)
            disposed = []
            for letter_id, held_at in held:
                if jst_date(now) > holding_deadline(held_at, self.holding_months):
                    self._append(conn, letter_id, LetterState.DISPOSED, now,
                                 note="保管期間経過により廃棄")
                    disposed.append(letter_id)
        return disposed

    def _letters_in_state(
        self, conn: Connection, state: LetterState, municipality_code: str | None
    ) -> list[tuple[int, dt.datetime]]:
        """(letter id, time of that state) of letters currently in ``state``."""
        latest = _latest_event_ids()
        e, lt, b = t.letter_events, t.letters, t.batches
        query = (
            select(e.c.letter_id, e.c.at).join(latest, e.c.event_id == latest.c.event_id)
            .join(lt, lt.c.letter_id == e.c.letter_id).join(b, b.c.batch_id == lt.c.batch_id)
            .where(e.c.state == state.value).order_by(e.c.letter_id)
        )
        if municipality_code is not None:
            query = query.where(b.c.municipality_code == _check_code(municipality_code))
        return [(int(i), aware(at)) for i, at in conn.execute(query).all()]

    def letters(self, municipality_code: str) -> list[Letter]:
        """Every letter of a municipality (取りやめ excepted), oldest first."""
        code = _check_code(municipality_code)
        states = _current_states().subquery("states")
        lt, b = t.letters, t.batches
        with self.engine.connect() as conn:
            ids = conn.execute(
                select(lt.c.letter_id).join(b, b.c.batch_id == lt.c.batch_id)
                .join(states, states.c.letter_id == lt.c.letter_id)
                .where(b.c.municipality_code == code,
                       states.c.state != LetterState.CANCELLED.value)
                .order_by(lt.c.letter_id)
            ).scalars().all()
            return [self._letter(conn, int(i)) for i in ids]

    def letter(self, letter_id: int) -> Letter:
        """A letter with its contents and history."""
        with self.engine.connect() as conn:
            return self._letter(conn, letter_id)

    def _letter(self, conn: Connection, letter_id: int) -> Letter:
        lt, b = t.letters, t.batches
        row = conn.execute(
            select(lt, b.c.municipality_code, b.c.municipality_name, b.c.apply_url,
                   b.c.prepared_at)
            .join(b, b.c.batch_id == lt.c.batch_id).where(lt.c.letter_id == letter_id)
        ).first()
        if row is None:
            raise NotFound(f"通知 {letter_id} はありません", f"no letter {letter_id}")
        members = conn.execute(
            select(t.members).where(t.members.c.letter_id == letter_id)
            .order_by(t.members.c.position, t.members.c.resident_id)
        ).all()
        events = conn.execute(
            select(t.letter_events).where(t.letter_events.c.letter_id == letter_id)
            .order_by(t.letter_events.c.event_id)
        ).all()
        history = tuple(
            LetterEvent(LetterState(e.state), aware(e.at),
                        ReturnReason(e.reason) if e.reason else None,
                        e.identity_document, e.note)
            for e in events
        )
        held = history[-1] if history and history[-1].state is LetterState.HELD else None
        return Letter(
            letter_id=int(row.letter_id), batch_id=int(row.batch_id),
            municipality_code=row.municipality_code, municipality_name=row.municipality_name,
            kind=LetterKind(row.kind), household_number=row.household_number,
            postcode=row.postcode, address=row.address,
            destination=Destination(row.send_postcode, row.send_address, row.care_of),
            members=tuple(
                LetterMember(m.application_id, int(m.resident_id), m.name, m.furigana,
                             m.birth_date, m.sex, m.individual_number, m.used_at is not None)
                for m in members
            ),
            apply_url=row.apply_url, prepared_at=aware(row.prepared_at), history=history,
            holding_until=holding_deadline(held.at, self.holding_months) if held else None,
        )

    def letter_pdf(self, letter_id: int) -> bytes:
        """The letter with its application forms, as a printable A4 PDF."""
        from myna.notify.documents import render_letter_pdf

        letter = self.letter(letter_id)
        if letter.state is LetterState.CANCELLED:
            raise Conflict(f"通知 {letter_id} は取りやめになっています",
                           f"letter {letter_id} was cancelled")
        return render_letter_pdf(letter)

    # -- follow-up and statistics ----------------------------------------------------------

    def follow_up(self, municipality_code: str) -> list[FollowUpEntry]:
        """Letters that never reached their household (返戻のまま・窓口保管中・廃棄).

        For 実態調査 and, where nobody lives at the address, 職権消除.
        """
        code = _check_code(municipality_code)
        out = []
        with self.engine.connect() as conn:
            ids = [i for state in UNREACHED
                   for i, _ in self._letters_in_state(conn, state, code)]
            for letter_id in sorted(ids):
                letter = self._letter(conn, letter_id)
                returned = next(e for e in letter.history if e.state is LetterState.RETURNED)
                held = next((e for e in letter.history if e.state is LetterState.HELD), None)
                disposed = next(
                    (e for e in letter.history if e.state is LetterState.DISPOSED), None
                )
                out.append(FollowUpEntry(
                    letter_id=letter.letter_id, batch_id=letter.batch_id, kind=letter.kind,
                    household_number=letter.household_number, postcode=letter.postcode,
                    address=letter.address, names=tuple(m.name for m in letter.members),
                    state=letter.state, return_reason=returned.reason,
                    returned_on=jst_date(returned.at),
                    holding_until=holding_deadline(held.at, self.holding_months) if held else None,
                    disposed_on=jst_date(disposed.at) if disposed else None,
                    resident_ids=tuple(m.resident_id for m in letter.members),
                ))
        return out

    def stats(self, municipality_code: str | None = None) -> StatsReport:
        """Counts and rates by state and by return reason, per municipality and overall."""
        code = _check_code(municipality_code) if municipality_code is not None else None
        states = _current_states().subquery("states")
        lt, b, e = t.letters, t.batches, t.letter_events
        with self.engine.connect() as conn:
            by_state_q = (
                select(b.c.municipality_code, states.c.state, func.count())
                .join(lt, lt.c.batch_id == b.c.batch_id)
                .join(states, states.c.letter_id == lt.c.letter_id)
                .group_by(b.c.municipality_code, states.c.state)
            )
            by_reason_q = (
                select(b.c.municipality_code, e.c.reason, func.count())
                .join(lt, lt.c.batch_id == b.c.batch_id).join(e, e.c.letter_id == lt.c.letter_id)
                .where(e.c.state == LetterState.RETURNED.value)
                .group_by(b.c.municipality_code, e.c.reason)
            )
            names_q = select(b.c.municipality_code, func.max(b.c.municipality_name)).group_by(
                b.c.municipality_code
            )
            if code is not None:
                by_state_q = by_state_q.where(b.c.municipality_code == code)
                by_reason_q = by_reason_q.where(b.c.municipality_code == code)
                names_q = names_q.where(b.c.municipality_code == code)
            names = {str(c): str(n) for c, n in conn.execute(names_q)}
            counts: dict[str, dict[LetterState, int]] = defaultdict(dict)
            for c, s, n in conn.execute(by_state_q):
                counts[c][LetterState(s)] = int(n)
            reasons: dict[str, dict[ReturnReason, int]] = defaultdict(dict)
            for c, r, n in conn.execute(by_reason_q):
                reasons[c][ReturnReason(r)] = int(n)
        parts = []
        for c in sorted(names):
            by_state = {s: counts[c].get(s, 0) for s in STATS_STATES}
            by_reason = {r: reasons[c].get(r, 0) for r in ReturnReason}
            parts.append(DeliveryStats(
                municipality_code=c, municipality_name=names[c],
                letters=sum(by_state.values()),
                mailed=sum(n for s, n in by_state.items() if s in AFTER_MAILING),
                by_state=by_state, returned=sum(by_reason.values()), by_reason=by_reason,
                unreached=sum(by_state[s] for s in UNREACHED),
            ))
        if code is not None:
            overall = parts[0] if parts else combine_stats([], code, code)
        else:
            overall = combine_stats(parts)
        return StatsReport(overall, tuple(parts))

    def chart_png(self, municipality_code: str | None = None) -> bytes:
        """A chart of the letters by state and of the return reasons, as PNG."""
        from myna.notify.chart import render_chart

        return render_chart(self.stats(municipality_code).overall)

    # -- application IDs --------------------------------------------------------------------

    def application(self, application_id: str) -> ApplicationInfo:
        """Whose form an 申請書ID is (person, municipality) and whether it was used."""
        app_id = check_application_id(application_id)
        with self.engine.connect() as conn:
            return self._application(conn, app_id)

    def _application(self, conn: Connection, app_id: str) -> ApplicationInfo:
        m, lt, b = t.members, t.letters, t.batches
        row = conn.execute(
            select(m, b.c.municipality_name).join(lt, lt.c.letter_id == m.c.letter_id)
            .join(b, b.c.batch_id == lt.c.batch_id).where(m.c.application_id == app_id)
        ).first()
        if row is None:
            raise NotFound(f"申請書ID {app_id} は発行されていません",
                           f"application id {app_id} was never issued")
        return ApplicationInfo(
            application_id=app_id, municipality_code=row.municipality_code,
            municipality_name=row.municipality_name, resident_id=int(row.resident_id),
            name=row.name, letter_id=int(row.letter_id),
            letter_state=self._state(conn, int(row.letter_id)),
            used_at=aware(row.used_at) if row.used_at else None,
        )

    def use_application(self, application_id: str) -> ApplicationInfo:
        """Use an 申請書ID for a card application: once only (the card issue calls this)."""
        app_id = check_application_id(application_id)
        now = self.now()
        with self.engine.begin() as conn:
            info = self._application(conn, app_id)
            if info.letter_state is LetterState.PREPARED:
                raise Conflict(
                    "この申請書IDの通知はまだ発送されていません",
                    "the letter carrying this application id has not been mailed",
                )
            if info.letter_state is LetterState.DISPOSED:
                raise Conflict(
                    "この申請書IDの通知は保管期間経過により廃棄されています。窓口で申請してください",
                    "the letter carrying this application id was disposed of",
                )
            done = conn.execute(
                update(t.members)
                .where(and_(t.members.c.application_id == app_id, t.members.c.used_at.is_(None)))
                .values(used_at=now)
            ).rowcount
            if done != 1:
                when = jst_date(info.used_at) if info.used_at else "既に"
                raise Conflict(
                    f"申請書ID {app_id} は使用済みです（{when}）。申請書IDは1回しか使えません",
                    f"application id {app_id} was already used",
                )
        return replace(info, used_at=now)
