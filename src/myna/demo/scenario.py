"""The demo scenario: two municipalities, numbering and a few life events."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from myna.clock import backdated, jst_date, utcnow
from myna.db import drop_schemas
from myna.errors import Conflict, Unavailable
from myna.notify.domain import DEFAULT_HOLDING_MONTHS
from myna.notify.simulate import simulation_days
from myna.numbers import individual
from myna.registry.affairs import RESIDENT_REGISTRY
from myna.registry.domain import HouseholdPlacement, PersonDetails, Resident, Role
from myna.registry.service import MunicipalityRegistry
from myna.system import MynaSystem

from . import linkage
from .card_story import card_story
from .cards import sample_cards
from .synthetic import SyntheticPopulation
from .world import DemoWorld, LocalWorld, NodesWorld

MAIN = "132152"  # 東京都国立市
NEIGHBOUR = "132144"  # 東京都国分寺市
MARKER = "demo.json"

# A progress reporter: (task name, total) -> advance(n)
ProgressFactory = Callable[[str, int], Callable[[int], None]]


def _no_progress(_name: str, _total: int) -> Callable[[int], None]:
    return lambda _n: None


@dataclass
class DemoResult:
    data_dir: str
    seed: int
    municipalities: list[dict[str, Any]] = field(default_factory=list)
    jlis: dict[str, int] = field(default_factory=dict)
    events: list[dict[str, str]] = field(default_factory=list)
    staff: list[dict[str, str]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    moves: list[tuple[int, int, str]] = field(default_factory=list)
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    institutions: list[dict[str, str]] = field(default_factory=list)
    notification: dict[str, Any] = field(default_factory=dict)
    cards: dict[str, Any] = field(default_factory=dict)
    audit: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "data_dir": self.data_dir,
            "seed": self.seed,
            "municipalities": self.municipalities,
            "jlis": self.jlis,
            "events": self.events,
            "staff": self.staff,
            "timings_seconds": self.timings,
            "institutions": self.institutions,
            "exchanges": self.exchanges,
            "notification": self.notification,
            "cards": self.cards,
            "audit": self.audit,
        }


def demo_namespace(data_dir: Path) -> str:
    """The schema prefix of the demo in ``data_dir`` on PostgreSQL: ``demo_<hash>_``.

    Derived from the directory's absolute path, so a re-run finds (and replaces)
    its own schemas and never another installation's in the same database.
    """
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:8]
    return f"demo_{digest}_"


def prepare_data_dir(data_dir: Path, database_url: str | None = None) -> str:
    """Start from an empty directory; an earlier demo's directory is replaced.

    On PostgreSQL the earlier demo's schemas (of this directory only) are dropped
    too.  Returns the namespace of the demo's schemas ("" on SQLite).
    """
    if data_dir.exists() and any(data_dir.iterdir()):
        if not (data_dir / MARKER).exists():
            raise Conflict(
                f"{data_dir} は空ではなく、デモのデータでもありません。"
                "別の --data-dir を指定してください",
                f"{data_dir} is not empty and holds no demo data; choose another --data-dir",
            )
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if not database_url:
        return ""
    namespace = demo_namespace(data_dir)
    try:
        drop_schemas(database_url, namespace)
    except SQLAlchemyError as exc:
        raise Unavailable(
            f"PostgreSQL に接続できません（{type(exc).__name__}）。"
            "--database-url を確認してください",
            f"cannot reach PostgreSQL ({type(exc).__name__}); check --database-url",
        ) from None
    return namespace


def run_demo(
    data_dir: Path, residents: int, seed: int, progress: ProgressFactory = _no_progress,
    database_url: str | None = None, processes: bool = False,
) -> DemoResult:
    """Build the demo installation and return its summary.

    With ``processes`` every organisation runs as its own ``myna serve --node``
    process on 127.0.0.1 (:class:`~myna.demo.world.NodesWorld`) and the demo acts as
    the towns' staff on the towns' own databases, reaching the others over HTTP.
    """
    if residents < 50:
        from myna.errors import ValidationError

        raise ValidationError(
            "住民数は50人以上を指定してください", "--residents must be at least 50"
        )
    namespace = prepare_data_dir(data_dir, database_url)
    (data_dir / MARKER).write_text(json.dumps({"seed": seed}), encoding="utf-8")
    result = DemoResult(str(data_dir), seed)
    # The installation's history starts months ago: residents registered and numbered
    # and the 番号通知 mailed back then, so that every letter's (synthetic) fate has
    # happened by today; today's 届出, linkage and cards happen today.  Nothing the
    # demo records lies after the day it is run.
    start = utcnow() - dt.timedelta(days=simulation_days(DEFAULT_HOLDING_MONTHS) + 7)
    today = jst_date(utcnow())
    with backdated(start):  # the organisations are set up and registered with each other
        system = MynaSystem(data_dir, database_url, namespace=namespace)
        for code in (MAIN, NEIGHBOUR):
            system.add_municipality(code)
        system.add_institution(*linkage.PENSION)
        result.staff = _create_staff(system, data_dir, seed)
    opened: contextlib.AbstractContextManager[DemoWorld] = (
        NodesWorld.start(system, start) if processes
        else contextlib.nullcontext(LocalWorld(system)))
    try:
        with opened as world:
            _run(world, result, residents, seed, progress, start, today)
    finally:
        system.dispose()
    return result


def _run(world: DemoWorld, result: DemoResult, residents: int, seed: int,
         progress: ProgressFactory, start: dt.datetime, today: dt.date) -> None:
    with backdated(start):  # (the towns' certificates date from then too)
        main, neighbour = world.towns[MAIN].registry, world.towns[NEIGHBOUR].registry
        for registry, count in ((main, residents), (neighbour, max(10, residents // 10))):
            t0 = time.perf_counter()
            population = SyntheticPopulation(registry.code, seed + int(registry.code),
                                             jst_date(start))
            records = [r for h in population.households(count) for r in h]
            advance = progress(f"{registry.title}: 住民の登録", len(records))
            registry.register_initial(records, advance)
            result.timings[f"{registry.code}_register"] = round(time.perf_counter() - t0, 3)
            t0 = time.perf_counter()
            advance = progress(f"{registry.title}: 初期一斉指定（個人番号）", len(records))
            registry.initial_numbering(advance)
            result.timings[f"{registry.code}_numbering"] = round(time.perf_counter() - t0, 3)
        t0 = time.perf_counter()
        batches = _mail_notifications(world)
        world.settle()
        world.present()  # the history is built: every node to the present, as this process
    result.notification = {"overall": world.simulate_mail(batches, seed), "follow_up": {
        code: len(world.notify(code).follow_up(code)) for code in world.towns}}
    result.timings["notification"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    linkage.go_live(world, progress, seed)
    _life_events(main, neighbour, result, today)
    world.settle()
    result.exchanges = linkage.child_allowance(world, world.towns[MAIN],
                                               world.towns[NEIGHBOUR], result.moves)
    result.timings["linkage"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    result.cards = dict(sample_cards(world, per_municipality=5, seed=seed))
    result.cards["story"] = card_story(world, MAIN, seed)
    result.timings["cards"] = round(time.perf_counter() - t0, 3)
    world.settle()
    result.institutions = [
        {"id": i.institution_id, "name": i.name, "role": i.role}
        for i in (world.institution(x) for x in world.institution_ids())
    ]
    for registry in (main, neighbour):
        result.municipalities.append(
            {"code": registry.code, "name": registry.title} | registry.stats()
        )
    result.jlis = world.jlis_stats()
    result.audit = _commission_audit(world)


def _commission_audit(world: DemoWorld) -> dict[str, Any]:
    """The protection commission's audit of the hub, through the hub's audit interface."""
    from myna.commission.audit import audit_hub

    report = audit_hub(world.hub_audit(), world.witness())
    return {"ok": report.ok, "records": report.records.records,
            "leaves": report.records.leaves, "checkpoints": report.log.checkpoints_checked,
            "problems": [str(p) for p in (*report.log.problems, *report.records.problems)]
            + ([] if not report.unchecked else report.notes)}


def _mail_notifications(world: DemoWorld) -> list[int]:
    """番号通知 for every household of every town, mailed (the batches' ids)."""
    batches = []
    for code, town in world.towns.items():
        notify = world.notify(code)
        batch = town.notify_numbers(notify)
        notify.mark_mailed(batch.batch_id)
        batches.append(batch.batch_id)
    return batches


def _create_staff(system: MynaSystem, data_dir: Path, seed: int) -> list[dict[str, str]]:
    """Staff accounts of every town (the towns' own setup, before the network runs)."""
    staff = []
    names = {"clerk": "窓口 花子", "supervisor": "係長 一郎", "administrator": "管理 太郎"}
    for registry in system.registries.values():
        for role in Role:
            password = f"myna-{role.value}-{secrets.token_hex(3)}"
            staff_id = role.value
            registry.create_staff(staff_id, names[role.value], role, password)
            staff.append({"municipality": registry.code, "municipality_name": registry.title,
                          "staff_id": staff_id, "role": role.label, "password": password})
    path = data_dir / "demo-staff.json"
    path.write_text(json.dumps(staff, ensure_ascii=False, indent=2), encoding="utf-8")
    path.chmod(0o600)
    return staff


def _life_events(
    main: MunicipalityRegistry, neighbour: MunicipalityRegistry, result: DemoResult,
    today: dt.date,
) -> None:
    clerk = main.get_staff("clerk")
    supervisor = main.get_staff("supervisor")
    n_clerk = neighbour.get_staff("clerk")

    def note(kind: str, who: str, detail: str) -> None:
        result.events.append({"event": kind, "resident": who, "detail": detail})

    found: list[Resident] = []
    for page in range(1, 9):  # the clerk pages through up to 400 residents of the town
        hits = main.search(clerk, RESIDENT_REGISTRY, address=main.municipality.name, page=page,
                           note="デモ")
        found += hits.results
        if not hits.has_next:
            break
    families = [r for r in found if r.relationship == "世帯主" and r.nationality is None]
    # births into three households
    babies = (("陽葵", "ヒマリ", "女"), ("蓮", "レン", "男"), ("結菜", "ユイナ", "女"))
    for head, (given, given_kana, sex) in zip(families, babies, strict=False):
        family = head.name.split("\u3000")[0]
        kana = head.furigana.split("\u3000")[0]
        baby = main.register_birth(
            clerk,
            PersonDetails(f"{family}\u3000{given}", f"{kana}\u3000{given_kana}",
                          today - dt.timedelta(days=7), sex),
            HouseholdPlacement("子", household_number=head.household_number),
        )
        note("出生", baby.name, f"個人番号 {individual.mask(baby.individual_number or '')}")
    # a household moves from 国立市 to 国分寺市, keeping its numbers
    pool = families[3:]
    mover = next((f for f in pool if len(main.household_members(f.household_number)) >= 3),
                 pool[0])
    pool.remove(mover)
    members = main.household_members(mover.household_number)
    destination_postcode, destination = SyntheticPopulation(
        neighbour.code, result.seed, today
    ).address()
    new_household: str | None = None
    for member in sorted(members, key=lambda m: m.relationship != "世帯主"):
        certificate = main.move_out(clerk, member.resident_id, destination, today)
        placement = (
            HouseholdPlacement("世帯主", postcode=destination_postcode, address=destination)
            if new_household is None
            else HouseholdPlacement(member.relationship, household_number=new_household)
        )
        moved = neighbour.move_in(n_clerk, certificate, placement, today)
        new_household = moved.household_number
        result.moves.append((member.resident_id, moved.resident_id, member.name))
        kept = moved.individual_number == member.individual_number
        same = "番号は変わらず" if kept else "番号変更"
        note("転出→転入", member.name, f"{main.municipality.name} → "
             f"{neighbour.municipality.name}（{same}）")
    # a move within the town
    within = pool[0]
    postcode, address = SyntheticPopulation(main.code, result.seed + 1, today).address()
    main.move_within(clerk, within.resident_id,
                     HouseholdPlacement("世帯主", postcode=postcode, address=address), today)
    note("転居", within.name, address)
    # a death
    elder = min(pool[3:], key=lambda r: r.birth_date)
    main.record_death(clerk, elder.resident_id, today - dt.timedelta(days=2))
    note("死亡", elder.name, "除票として保存")
    # a number change after a leak
    leaked = pool[1]
    old_number = dict(main.numbered_residents([leaked.resident_id])).get(leaked.resident_id, "")
    changed = main.change_number(
        clerk, leaked.resident_id,
        "個人番号が記載された書類が誤って第三者に送付され、不正に用いられるおそれがある",
        approved_by=supervisor,
    )
    note("個人番号変更", leaked.name,
         f"{individual.mask(old_number) if old_number else '―'} → "
         f"{individual.mask(changed.individual_number or '')}（旧番号は永久に欠番）")
    # a 住民票の写し without and with the number
    main.issue_copy(clerk, pool[2].resident_id, "本人からの交付請求")
    main.issue_copy(clerk, pool[2].resident_id, "本人からの交付請求",
                    include_number=True, number_reason="勤務先への提出（本人の特別な請求）")
    note("住民票の写し", pool[2].name, "個人番号の記載は特別な請求として記録")
