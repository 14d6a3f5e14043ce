"""交付申請: receiving an application with its photo, and its withdrawal.

By mail, online or at a kiosk an application needs the 申請書ID of the
notification letter (once only); at the counter, staff may take it without one.
The card is voluntary (番号法17条 issues it *on application*): not applying, or
withdrawing, changes nothing else for the person.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, insert, select, update

from myna.card.lifecycle import storage as t
from myna.card.lifecycle.base import Desk
from myna.card.lifecycle.domain import (
    ApplicationStatus,
    CardStatus,
    Channel,
    Photo,
    card_expiry,
    check_note,
    check_photo,
    check_staff,
)
from myna.card.lifecycle.people import Holder, check_holder
from myna.card.lifecycle.records import Application, to_application
from myna.db import inserted_id
from myna.errors import Conflict, ValidationError
from myna.notify.domain import check_application_id
from myna.numbers import municipality_code as municipality_codes

PURPOSE = "個人番号カードの交付申請の受付（J-LIS）"


def apply(
    desk: Desk, photo: bytes, *, channel: Channel | str, application_id: str | None = None,
    municipality_code: str | None = None, resident_id: int | None = None,
    staff_id: str | None = None, signing_certificate: bool = True,
) -> Application:
    """Receive an application with its photo (see :meth:`CardService.apply`)."""
    how = Channel.parse(channel)
    checked = check_photo(photo)
    app_id = check_application_id(application_id) if application_id is not None else None
    staff = check_staff(staff_id) if how is Channel.COUNTER or staff_id is not None else None
    if app_id is None and how is not Channel.COUNTER:
        raise ValidationError(
            f"{how.value}での申請には通知に同封の申請書IDが必要です"
            "（申請書IDがない場合は市区町村の窓口で申請できます）",
            f"a {how.name.lower()} application needs the application id of the letter",
        )
    if app_id is not None and (municipality_code is not None or resident_id is not None):
        raise ValidationError(
            "申請書IDがある場合、市区町村コードと住民IDは指定しません",
            "give either an application id or municipality code and resident id",
        )
    if app_id is not None:
        info = desk.notify.application(app_id)
        if info.used:
            raise Conflict(
                f"申請書ID {app_id} は使用済みです。申請書IDは1回しか使えません",
                f"application id {app_id} was already used",
            )
        code, rid = info.municipality_code, info.resident_id
    else:
        if municipality_code is None or resident_id is None:
            raise ValidationError(
                "申請書IDがない場合は市区町村コードと住民IDを指定してください",
                "without an application id, give municipality code and resident id",
            )
        code, rid = municipality_codes.validate(municipality_code), resident_id
    holder = desk.people.resident(code, rid, PURPOSE)
    check_holder(holder)
    card_expiry(holder.birth_date, desk.today(),
                period_of_stay_until=holder.period_of_stay_until,
                residence_status=holder.residence_status)
    now = desk.now()
    with desk.engine.begin() as conn:
        check_no_live(conn, holder.person_key)
        receipt = insert_application(
            conn, how, app_id, holder, checked, signing_certificate, staff, None, now)
        desk.event(conn, None, receipt, "交付申請", staff or "本人",
                   {"channel": how.value, "application_id": app_id is not None})
        if app_id is not None:
            desk.notify.use_application(app_id)
    return desk.application(receipt)


def insert_application(
    conn: Connection, how: Channel, app_id: str | None, holder: Holder, photo: Photo,
    signing: bool, staff: str | None, reissue_of: str | None, now: dt.datetime,
) -> int:
    return inserted_id(conn.execute(insert(t.applications).values(
        notice_application_id=app_id, channel=how.value,
        municipality_code=holder.municipality_code, resident_id=holder.resident_id,
        person_key=holder.person_key, photo_format=photo.format,
        photo_width=photo.width, photo_height=photo.height, face_image=photo.face_jpeg,
        signing_requested=signing, staff_id=staff, reissue_of=reissue_of,
        status=ApplicationStatus.RECEIVED.value, received_at=now,
    )))


def check_no_live(conn: Connection, person_key: str) -> None:
    """One live card per person, and one open application."""
    c, a = t.cards.c, t.applications.c
    live = conn.execute(select(c.card_number, c.status).where(
        c.person_key == person_key, c.status != CardStatus.ENDED.value)).first()
    if live is not None:
        raise Conflict(
            f"この方には有効なカードがあります（カード番号 {live.card_number}、"
            f"{live.status}）。紛失・破損の場合は再交付を申請してください",
            f"the person already has a live card ({live.status})",
        )
    open_app = conn.execute(select(a.receipt_no).where(
        a.person_key == person_key, a.status == ApplicationStatus.RECEIVED.value)).first()
    if open_app is not None:
        raise Conflict(
            f"この方の申請は受付済みです（受付番号 {open_app.receipt_no}）",
            f"an application for this person is already open ({open_app.receipt_no})",
        )


def withdraw(desk: Desk, receipt_no: int, note: str = "") -> Application:
    """取下げ: the applicant changes their mind before production; nothing follows.

    Once J-LIS has begun making the card, the application can no longer be
    withdrawn (the card is finished, then handed over or returned)."""
    text = check_note(note)
    with desk.engine.begin() as conn:
        begun = conn.execute(select(t.productions.c.state).where(
            t.productions.c.receipt_no == receipt_no)).scalar()
        if begun == "作成中":
            raise Conflict(f"受付番号 {receipt_no} のカードは作成中のため取り下げできません",
                           f"the card of application {receipt_no} is being produced")
        done = conn.execute(update(t.applications).where(
            t.applications.c.receipt_no == receipt_no,
            t.applications.c.status == ApplicationStatus.RECEIVED.value,
        ).values(status=ApplicationStatus.WITHDRAWN.value, closed_at=desk.now()))
        if done.rowcount != 1:
            app = desk.application_in(conn, receipt_no)
            raise Conflict(f"受付番号 {receipt_no} の申請は{app.status.value}です",
                           f"application {receipt_no} is {app.status.name.lower()}")
        desk.event(conn, None, receipt_no, "申請取下げ", "本人", {"note": text})
    return desk.application(receipt_no)


def pending_applications(desk: Desk) -> list[Application]:
    """Applications waiting for production, oldest first."""
    a = t.applications.c
    with desk.engine.connect() as conn:
        rows = conn.execute(select(t.applications).where(
            a.status == ApplicationStatus.RECEIVED.value).order_by(a.receipt_no)).all()
    return [to_application(r) for r in rows]
