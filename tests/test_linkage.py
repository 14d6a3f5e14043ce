"""Information linkage: 符号, Table 2, the exchange, flags, and what each node may hold."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy import MetaData, select

from myna.clock import jst_today
from myna.errors import Conflict, NotFound, PermissionDenied, ValidationError
from myna.intermediate.service import IntermediateServer
from myna.linkage import items, table2
from myna.linkage.messages import BadSignature, LinkRequest, Result
from myna.linkage.table2 import NotInTable2, Table2Tampered
from myna.municipality import Municipality
from myna.registry.domain import PersonDetails, Role
from myna.registry.service import InitialResident
from myna.system import MynaSystem

KUNITACHI, KOKUBUNJI = "132152", "132144"
NENKIN = "nenkin"
CHILD_ALLOWANCE = "児童手当の支給"
TAX = "地方税関係情報"
INCOME = 3_456_789  # a value that must never appear in the hub's storage


@dataclass
class World:
    system: MynaSystem
    old: Municipality
    new: Municipality
    pension: IntermediateServer
    residents: list[tuple[int, str, str, str]]  # resident id, name, number, code


def _populate(town: Municipality, prefix: str, count: int) -> list[tuple[int, str, str, str]]:
    records = [
        InitialResident(
            PersonDetails(f"{prefix}\u3000太郎{i}", "ためし\u3000たろう", dt.date(1985, 5, i + 1),
                          "男"),
            f"h{i}", "世帯主", "1860001" if town.code == KUNITACHI else "1850012",
            f"{town.registry.title}本町{i + 1}丁目1番1号", dt.date(2010, 4, 1))
        for i in range(count)
    ]
    town.registry.register_initial(records)
    town.registry.initial_numbering()
    # the full numbers and codes, to look for in other nodes' storage (a staff search would
    # give them masked)
    return [(r.resident_id, r.name, r.individual_number or "", r.resident_code)
            for r in town.registry.current_residents() if r.name.startswith(prefix)]


@pytest.fixture
def world(system: MynaSystem) -> World:
    system.add_municipality(KUNITACHI)
    system.add_municipality(KOKUBUNJI)
    pension = system.add_institution(NENKIN, "日本年金機構", "厚生労働大臣・日本年金機構")
    old, new = system.municipalities[KUNITACHI], system.municipalities[KOKUBUNJI]
    residents = _populate(old, "鰐淵", 4) + _populate(new, "鷲尾", 3)
    old.acquire_codes()
    new.acquire_codes()
    return World(system, old, new, pension, residents)


def _atena(town: Municipality, resident_id: int) -> str:
    return town.atena_no(resident_id)


def test_codes_are_per_institution_and_unlinkable(world: World) -> None:
    rid = world.residents[0][0]
    old_code = world.old.intermediate.code_for(_atena(world.old, rid))
    assert len(old_code) == 32
    # the same person's 符号 at the pension institution differs
    number = world.residents[0][2]
    [ref] = world.pension.begin_acquisition(["P-0001"])
    world.system.jlis.request_codes(NENKIN, [(number, ref)])
    assert world.pension.code_for("P-0001") != old_code
    # and is stable: asking again gives the same 符号
    first = world.pension.code_for("P-0001")
    [ref2] = world.pension.begin_acquisition(["P-0001"])
    world.system.jlis.request_codes(NENKIN, [(number, ref2)])
    assert world.pension.code_for("P-0001") == first
    # one person under two references is caught (名寄せ), and nothing is half-written
    [ref3] = world.pension.begin_acquisition(["P-0002"])
    with pytest.raises(Conflict, match="名寄せ"):
        world.system.jlis.request_codes(NENKIN, [(number, ref3)])
    with pytest.raises(NotFound):
        world.pension.code_for("P-0002")


def test_codes_survive_a_number_change(world: World) -> None:
    rid, _, number, _ = world.residents[1]
    town = world.old
    before = town.intermediate.code_for(_atena(town, rid))
    boss = town.registry.create_staff("boss2", "係長", Role.SUPERVISOR, "password-1234")
    clerk = town.registry.create_staff("clerk2", "窓口", Role.CLERK, "password-1234")
    changed = town.registry.change_number(clerk, rid, "番号記載書類の流出", approved_by=boss)
    assert changed.individual_number != number
    # the 統合宛名 followed by itself (the registry's number.changed event)
    assert town.atena.numbers()[rid] == changed.individual_number
    # asking again with the new number: the hub derives the very same 符号
    # (a different one would be refused by the intermediate server)
    assert town.acquire_codes([rid]) == 1
    assert town.intermediate.code_for(_atena(town, rid)) == before


def test_only_authorised_institutions_acquire_codes(world: World) -> None:
    with pytest.raises(PermissionDenied, match="符号の取得"):
        world.system.jlis.request_codes("stranger", [(world.residents[0][2], "r")])


def _tax(town: Municipality, rid: int, income: int = INCOME) -> None:
    town.intermediate.put_item(_atena(town, rid), TAX, {
        "年度": 2025, "総所得金額": income, "市町村民税所得割額": 123_400,
        "市町村民税均等割額": 5_000, "課税区分": "課税"})


def _moved(world: World) -> tuple[int, int]:
    """A person known to both towns (moved from 国立市 to 国分寺市): old and new ids."""
    rid, _, number, _ = world.residents[2]
    clerk = world.old.registry.create_staff("c-move", "窓口", Role.CLERK, "password-1234")
    certificate = world.old.registry.move_out(clerk, rid, "東京都国分寺市本町9丁目1番1号",
                                             jst_today())
    from myna.registry.domain import HouseholdPlacement

    n_clerk = world.new.registry.create_staff("c-in", "窓口", Role.CLERK, "password-1234")
    arrived = world.new.registry.move_in(
        n_clerk, certificate,
        HouseholdPlacement("世帯主", postcode="1850012", address="東京都国分寺市本町9丁目1番1号"),
        jst_today())
    world.new.acquire_codes([arrived.resident_id])
    return rid, arrived.resident_id


def test_exchange_end_to_end_is_sealed_for_the_requester(world: World) -> None:
    old_id, new_id = _moved(world)
    _tax(world.old, old_id)
    answer = world.new.intermediate.request(
        _atena(world.new, new_id), "T2-0001", CHILD_ALLOWANCE,
        world.old.institution, TAX)
    assert answer.result is Result.PROVIDED and answer.sealed
    opened = world.new.intermediate.open(answer)
    assert opened.payload is not None and opened.payload["総所得金額"] == INCOME
    # nobody else can open it, the hub included
    with pytest.raises(Exception):  # noqa: B017 - nacl's CryptoError
        world.old.intermediate.open(answer)
    [record] = world.system.hub.records(answer.request_id)
    assert (record.requester, record.provider, record.item, record.result) == (
        world.new.institution, world.old.institution, TAX, "provided")
    assert record.provided_at is not None


def test_table2_refusals_are_clear_and_recorded(world: World) -> None:
    old_id, new_id = _moved(world)
    _tax(world.old, old_id)
    ref = _atena(world.new, new_id)
    with pytest.raises(NotInTable2, match="特定個人情報"):
        world.new.intermediate.request(ref, "T2-0001", CHILD_ALLOWANCE, world.old.institution,
                                       "生活保護関係情報")
    with pytest.raises(NotInTable2, match="事務"):
        world.new.intermediate.request(ref, "T2-0001", "地方税の賦課徴収", world.old.institution,
                                       TAX)
    with pytest.raises(NotInTable2, match="情報提供者"):
        world.new.intermediate.request(ref, "T2-0001", CHILD_ALLOWANCE, NENKIN, TAX)
    with pytest.raises(NotInTable2, match="項番"):
        world.new.intermediate.request(ref, "T2-9999", CHILD_ALLOWANCE, world.old.institution,
                                       TAX)
    results = [r.result for r in world.system.hub.records()]
    assert results == ["denied"] * 4
    assert len(world.system.hub.refusals()) == 4


def test_forged_replayed_and_reused_requests_are_refused(world: World) -> None:
    old_id, new_id = _moved(world)
    _tax(world.old, old_id)
    server = world.new.intermediate
    code = server.code_for(_atena(world.new, new_id))
    now = dt.datetime.now(dt.UTC)
    message = LinkRequest(uuid.uuid4().hex, server.institution, code, "T2-0001",
                          CHILD_ALLOWANCE, world.old.institution, TAX, now.isoformat())
    # signed with the wrong key (another institution's)
    forged = message.signed(world.old.intermediate._signing)  # noqa: SLF001
    with pytest.raises(BadSignature, match="署名"):
        world.system.hub.request(forged)
    # altered after signing
    good = message.signed(server._signing)  # noqa: SLF001
    with pytest.raises(BadSignature):
        world.system.hub.request(replace(good, item="年金給付関係情報"))
    # an old message replayed
    stale = replace(message, issued_at=(now - dt.timedelta(hours=1)).isoformat()).signed(
        server._signing)  # noqa: SLF001
    with pytest.raises(PermissionDenied, match="再送攻撃"):
        world.system.hub.request(stale)
    # the real one, twice: the same answer (idempotent), one record
    first = world.system.hub.request(good)
    again = world.system.hub.request(good)
    assert first == again and first.result is Result.PROVIDED
    assert len(world.system.hub.records(good.request_id)) == 1
    # the same id reused for different content
    other = replace(message, affair="保育の実施", row_id="T2-0005").signed(
        server._signing)  # noqa: SLF001
    with pytest.raises(PermissionDenied, match="同じ照会番号"):
        world.system.hub.request(other)


def test_a_code_of_another_institution_is_refused(world: World) -> None:
    old_id, new_id = _moved(world)
    server = world.new.intermediate
    foreign_code = world.old.intermediate.code_for(_atena(world.old, world.residents[0][0]))
    message = LinkRequest(uuid.uuid4().hex, server.institution, foreign_code, "T2-0001",
                          CHILD_ALLOWANCE, world.old.institution, TAX,
                          dt.datetime.now(dt.UTC).isoformat()).signed(
        server._signing)  # noqa: SLF001
    with pytest.raises(PermissionDenied, match="符号"):
        world.system.hub.request(message)


def test_manual_approval_waits_for_staff(world: World) -> None:
    old_id, new_id = _moved(world)
    _tax(world.old, old_id)
    world.old.intermediate.set_manual_approval(_atena(world.old, old_id), TAX, True)
    answer = world.new.intermediate.request(_atena(world.new, new_id), "T2-0001",
                                            CHILD_ALLOWANCE, world.old.institution, TAX)
    assert answer.result is Result.PENDING and answer.sealed is None
    [waiting] = world.old.intermediate.pending()
    assert waiting.request_id == answer.request_id
    assert world.new.intermediate.fetch(answer.request_id).result is Result.PENDING
    with pytest.raises(ValidationError, match="理由"):
        world.old.intermediate.decide(answer.request_id, "supervisor", approve=False)
    world.old.intermediate.decide(answer.request_id, "supervisor", approve=True)
    got = world.new.intermediate.fetch(answer.request_id)
    assert got.result is Result.PROVIDED and got.payload and got.payload["総所得金額"] == INCOME
    assert world.old.intermediate.pending() == []
    results = [r.result for r in world.system.hub.records(answer.request_id)]
    assert results == ["pending", "provided"]


def test_a_refusal_stops_linkage_and_says_to_use_paper(world: World) -> None:
    old_id, new_id = _moved(world)
    _tax(world.old, old_id)
    world.old.intermediate.set_refusal(_atena(world.old, old_id), CHILD_ALLOWANCE, True)
    answer = world.new.intermediate.request(_atena(world.new, new_id), "T2-0001",
                                            CHILD_ALLOWANCE, world.old.institution, TAX)
    assert answer.result is Result.REFUSED and answer.sealed is None
    assert "書面" in answer.result.label
    # the refusal is for that affair only
    other = world.new.intermediate.request(_atena(world.new, new_id), "T2-0005", "保育の実施",
                                           world.old.institution, TAX)
    assert other.result is Result.PROVIDED


def test_a_provider_that_is_down_fails_cleanly_and_can_be_retried(world: World) -> None:
    old_id, new_id = _moved(world)
    _tax(world.old, old_id)
    world.system.network.down.add(world.old.institution)
    request_id = uuid.uuid4().hex
    failed = world.new.intermediate.request(_atena(world.new, new_id), "T2-0001",
                                            CHILD_ALLOWANCE, world.old.institution, TAX,
                                            request_id=request_id)
    assert failed.result is Result.FAILED and "再送" in failed.reason
    world.system.network.down.clear()
    retried = world.new.intermediate.request(_atena(world.new, new_id), "T2-0001",
                                             CHILD_ALLOWANCE, world.old.institution, TAX,
                                             request_id=request_id)
    assert retried.result is Result.PROVIDED
    assert [(r.attempt, r.result) for r in world.system.hub.records(request_id)] == [
        (1, "failed"), (2, "provided")]


def test_household_information_carries_no_names(world: World) -> None:
    rid = world.residents[0][0]
    ref = _atena(world.old, rid)
    world.old.intermediate.put_item(ref, "住民票関係情報",
                                    {"世帯番号": "0000000001", "続柄": "世帯主", "世帯員数": 1})
    with pytest.raises(ValidationError, match="定義されていない項目"):
        world.old.intermediate.put_item(ref, "住民票関係情報",
                                        {"世帯番号": "0000000001", "世帯主氏名": "国立 太郎"})
    with pytest.raises(ValidationError, match="値が不正"):
        world.old.intermediate.put_item(ref, "住民票関係情報", {"続柄": "国立 太郎"})
    with pytest.raises(ValidationError):
        items.validate("地方税関係情報", {"課税区分": "123456789018"})


def test_tampered_table2_is_refused(tmp_path: Path) -> None:
    original = (Path(table2.__file__).parent / "data" / "table2.json").read_bytes()
    signature = (Path(table2.__file__).parent / "data" / "table2.json.sig").read_bytes()
    assert len(table2.parse(original, signature).rows) >= 19
    tampered = original.replace("地方税関係情報".encode(), "生活保護関係情報".encode(), 1)
    with pytest.raises(Table2Tampered, match="署名"):
        table2.parse(tampered, signature)
    path = tmp_path / "table2.json"
    path.write_bytes(original)
    with pytest.raises(Table2Tampered, match="署名ファイル"):
        table2.load(path)


def _all_text(engine: object) -> str:
    """Every value of every table of a node, as text (works on any backend)."""
    from sqlalchemy import Engine

    assert isinstance(engine, Engine)
    meta = MetaData()
    meta.reflect(engine)
    chunks = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                chunks.append(json.dumps([str(v) for v in row], ensure_ascii=False))
    return "\n".join(chunks)


def _secrets(world: World) -> list[str]:
    out = []
    for _, name, number, code in world.residents:
        out += [name, name.split("\u3000")[0], number, code]
    return out


def test_intermediate_servers_and_hub_hold_no_identifiers(world: World) -> None:
    old_id, new_id = _moved(world)
    _tax(world.old, old_id)
    answer = world.new.intermediate.request(_atena(world.new, new_id), "T2-0001",
                                            CHILD_ALLOWANCE, world.old.institution, TAX)
    assert answer.result is Result.PROVIDED
    forbidden = _secrets(world)
    nodes = [s.engine for s in world.system.intermediates.values()] + [world.system.hub.engine]
    for engine in nodes:
        text = _all_text(engine)
        for secret in forbidden:
            assert secret not in text, (engine.url, secret)
    hub_text = _all_text(world.system.hub.engine)
    assert str(INCOME) not in hub_text and "課税" not in hub_text


def test_database_files_hold_no_identifiers(world: World) -> None:
    """Scan the raw SQLite files (and WAL) byte for byte."""
    if world.system.config.database_url:
        pytest.skip("file scan applies to SQLite; the row scan covers PostgreSQL")
    old_id, _ = _moved(world)
    _tax(world.old, old_id)
    world.system.dispose()
    forbidden = [s.encode() for s in _secrets(world)]
    files = [p for p in world.system.data_dir.glob("*intermediate-*.sqlite3*")]
    files += list(world.system.data_dir.glob("*hub.sqlite3*"))
    assert len(files) >= 4
    for path in files:
        data = path.read_bytes()
        for secret in forbidden:
            assert secret not in data, (path.name, secret.decode())
            assert base64.b64encode(secret) not in data


def test_unknown_request_poll_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        world.new.intermediate.fetch("nope")


def test_records_are_retrievable_per_person_and_expire(world: World) -> None:
    old_id, new_id = _moved(world)
    _tax(world.old, old_id)
    answer = world.new.intermediate.request(_atena(world.new, new_id), "T2-0001",
                                            CHILD_ALLOWANCE, world.old.institution, TAX)
    number = world.new.registry.numbered_residents([new_id])[0][1]
    with world.system.jlis.engine.connect() as conn:
        from myna.jlis import storage as jt

        person_key = conn.execute(select(jt.numbers.c.person_key).where(
            jt.numbers.c.number == number)).scalar_one()
    mine = world.system.hub.records_for_person(person_key)
    assert [r.request_id for r in mine] == [answer.request_id]
    other_key = "0" * 32
    assert world.system.hub.records_for_person(other_key) == []
    # kept to the end of the last day of the seven years (民法143条), gone the day after
    from myna.clock import aware
    from myna.retention import erasable_from

    later = erasable_from(mine[0].requested_at, 7)
    assert later - aware(mine[0].requested_at) > dt.timedelta(days=365 * 7)
    assert world.system.hub.expire_records(later - dt.timedelta(microseconds=1)) == 0
    assert world.system.hub.expire_records(later) == 1
    assert world.system.hub.records_for_person(person_key) == []


def test_every_record_is_in_the_witnessed_log_and_the_person_can_check_it(
    world: World,
) -> None:
    import hashlib

    from myna.hub.service import committed_view  # noqa: F401 - the view the leaf commits to
    from myna.jlis import storage as jt
    from myna.linkage.messages import canonical
    from myna.transparency import merkle
    from myna.transparency.witness import verify_cosigned

    old_id, new_id = _moved(world)
    _tax(world.old, old_id)
    answer = world.new.intermediate.request(_atena(world.new, new_id), "T2-0001",
                                            CHILD_ALLOWANCE, world.old.institution, TAX)
    assert answer.leaf_index is not None
    hub, log = world.system.hub, world.system.provision_log
    cosigned = verify_cosigned(world.system.publish_checkpoint(), log.public_key,
                               world.system.witness.public_key)
    checkpoint = cosigned.checkpoint
    assert checkpoint.size == log.size() >= 1
    # the person: their key (via the portal), the record, its leaf and an inclusion proof
    number = world.new.registry.numbered_residents([new_id])[0][1]
    with world.system.jlis.engine.connect() as conn:
        person_key = conn.execute(select(jt.numbers.c.person_key).where(
            jt.numbers.c.number == number)).scalar_one()
    mine = hub.person_commit_key(person_key)
    view, index = hub.record_evidence(answer.request_id, 1)
    leaf = log.entry(index).data
    assert leaf == hashlib.sha256(mine + canonical(view)).digest()
    proof = log.inclusion_proof(index, checkpoint.size)
    assert merkle.verify_inclusion(merkle.leaf_hash(leaf or b""), index, checkpoint.size, proof,
                                   checkpoint.root)
    # someone else's key recognises nothing; a rewritten record no longer matches its leaf
    assert leaf != hashlib.sha256(hub.person_commit_key("0" * 32) + canonical(view)).digest()
    forged = view | {"requester": "police"}
    assert leaf != hashlib.sha256(mine + canonical(forged)).digest()


def test_the_provider_checks_the_cited_row_too(world: World) -> None:
    """Even a request signed by the hub is refused if Table 2 does not cover it."""
    from myna.linkage.messages import ProvideRequest
    from myna.netca import node_key_name

    old_id, _ = _moved(world)
    _tax(world.old, old_id)
    code = world.old.intermediate.code_for(_atena(world.old, old_id))
    hub_key = world.system.keys.ed25519(node_key_name("hub"))
    forged = ProvideRequest(uuid.uuid4().hex, world.new.institution, world.new.intermediate.box_key,
                            world.old.institution, code, "T2-0001", CHILD_ALLOWANCE,
                            "生活保護関係情報", dt.datetime.now(dt.UTC).isoformat()).signed(hub_key)
    with pytest.raises(NotInTable2, match="別表第二"):
        world.old.intermediate.provide(forged)


def test_the_rename_to_atena_no_keeps_every_row(tmp_path: Path, backend: str | None) -> None:
    """Migration 0005 renames the column holding the 宛名番号 on SQLite and PostgreSQL
    and keeps what the server held under the old name."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from myna.db import make_engine, node_url

    namespace = f"t{uuid.uuid4().hex[:10]}_"
    engine = make_engine(node_url(tmp_path, "intermediate-x", backend),
                         namespace + "intermediate-x")
    cfg = Config()
    cfg.set_main_option("script_location",
                        str(Path(__file__).parents[1] / "src/myna/intermediate/migrations"))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0004")
            conn.execute(text("INSERT INTO codes (local_ref, code, acquired_at) "
                              "VALUES ('A0000000001', :c, :t)"), {"c": "C" * 32, "t": now})
            conn.execute(text("INSERT INTO outgoing (request_id, local_ref, row_id, affair, "
                              "provider, item, sent_at) VALUES ('r1', 'A0000000001', 'T2-0001', "
                              "'a', 'p', 'i', :t)"), {"t": now})
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT atena_no, code FROM codes")).all() == [
                ("A0000000001", "C" * 32)]
            assert conn.execute(text("SELECT atena_no FROM outgoing")).scalar() == "A0000000001"
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0004")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT local_ref FROM codes")).scalar() == "A0000000001"
    finally:
        engine.dispose()
        if backend:
            from sqlalchemy import create_engine
            admin = create_engine(backend, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                for schema in conn.execute(text(
                        "SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"),
                        {"p": f"myna_{namespace}%"}).scalars().all():
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def test_the_exchange_story_through_the_contracts_in_process(world: World) -> None:
    """The story of :mod:`linkage_story`, against the services themselves (the same story
    runs against the HTTP clients in ``test_http_nodes``)."""
    from linkage_story import exchange_story

    old_rid, new_rid = world.residents[0][0], world.residents[4][0]
    exchange_story(lambda _institution: world.system.hub, world.old.intermediate,
                   world.old.institution, world.old.atena_no(old_rid), world.new.intermediate,
                   world.new.institution, world.new.atena_no(new_rid))


def test_a_request_the_hub_refuses_is_answered_not_left_to_resume(world: World) -> None:
    """A Table 2 refusal is the answer: the request is not left unanswered for ``myna
    check`` to report and :meth:`resume` to send again."""
    from myna.check import check_installation

    ref = _atena(world.old, world.residents[0][0])
    with pytest.raises(NotInTable2):
        world.old.intermediate.request(ref, "T2-0017", "地方税の賦課徴収",
                                       world.old.institution, "年金給付関係情報")
    assert world.old.intermediate.unanswered() == []
    assert world.old.intermediate.resume() == 0
    assert check_installation(world.system).ok
