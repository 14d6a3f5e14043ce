"""A municipality as one organisation: its registry, 統合宛名 and intermediate server.

This is the town's own orchestration across its systems; it reaches J-LIS
and the hub only through their interfaces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from myna.atena.service import AtenaService
from myna.contracts.check import NodeCheck, backlog_check
from myna.contracts.intermediate import IntermediateApi, PendingRequest, Received
from myna.contracts.jlis import JlisApi, Progress
from myna.contracts.notify import BatchSummary, NotifyApi
from myna.registry.domain import Staff
from myna.registry.notices import household_notices
from myna.registry.service import MunicipalityRegistry

ROLE = "市町村長"


def institution_id(code: str) -> str:
    """The network id of a municipality, e.g. ``municipality-132152``."""
    return f"municipality-{code}"


@dataclass
class Municipality:
    registry: MunicipalityRegistry
    atena: AtenaService
    intermediate: IntermediateApi
    jlis: JlisApi

    @property
    def code(self) -> str:
        return self.registry.code

    @property
    def institution(self) -> str:
        return institution_id(self.code)

    def consistency(self) -> NodeCheck:
        """The town's 住民票 against J-LIS's numbers and against its 統合宛名, and the
        events it has not delivered (``myna check``); residents named by resident id."""
        code = self.code
        report = NodeCheck()
        carried = self.registry.carried_numbers()
        report.compared[f"registry-{code}"] = len(carried)
        at_jlis = self.registry.jlis.carried_numbers(code)  # asked as the town
        name = f"住民基本台帳({code}) ↔ J-LIS"
        by_code = {c: (rid, n) for rid, c, n in carried}
        report.add(name, "個人番号のない住民", "residents without a number",
                   [f"住民ID {rid}" for rid, _, n in carried if n is None])
        report.add(name, "J-LIS に登録されていない（または異なる）番号の住民",
                   "residents whose number J-LIS does not hold (or holds another)",
                   [f"住民ID {rid}" for rid, c, n in carried
                    if n is not None and at_jlis.get(c) != n])
        report.add(name, "どの住民票にも記載されていない J-LIS の番号",
                   "numbers at J-LIS that no 住民票 of the town carries",
                   [f"J-LIS の登録 {i + 1}" for i, c in enumerate(sorted(at_jlis))
                    if c not in by_code])
        report.add(name, "J-LIS に依頼した住民票コードを受け取っていない（再実行で受け取ります）",
                   "resident codes asked of J-LIS not received yet (run again to receive them)",
                   [], count=self.registry.open_code_requests())
        atena = self.atena.numbers()
        report.add(f"住民基本台帳({code}) ↔ 統合宛名", "統合宛名の番号が住民票と異なる",
                   "the 統合宛名 maps a resident to another number",
                   [f"住民ID {rid}" for rid, _, n in carried
                    if n is not None and rid in atena and atena[rid] != n])
        atena_nos = self.atena.numbers_by_resident()
        acquired = self.intermediate.acquired_refs()
        lost = acquired - self.intermediate.coded_refs()
        report.compared[f"atena-{code}"] = len(atena_nos)
        report.add(f"統合宛名({code}) ↔ 中間サーバー({self.institution})",
                   "取得した符号が中間サーバーにない統合宛名",
                   "統合宛名 entries whose 符号 was delivered but is no longer held",
                   [f"住民ID {rid}" for rid, a in sorted(atena_nos.items()) if a in lost])
        report.add(f"統合宛名({code}) ↔ 中間サーバー({self.institution})",
                   "中間サーバーが符号を取得した、統合宛名にない宛名番号",
                   "宛名番号 with a 符号 at the intermediate server that the 統合宛名 does "
                   "not know", sorted(f"宛名番号 {a}" for a in acquired
                                      - set(atena_nos.values())))
        return report.merge(backlog_check([(f"住民基本台帳({code})", self.registry.outbox),
                                           (f"統合宛名({code})", self.atena.outbox)]))

    def acquire_codes(
        self, resident_ids: Sequence[int] | None = None, progress: Progress | None = None,
    ) -> int:
        """符号の取得 for residents (all numbered ones by default) through J-LIS.

        Residents get a 宛名番号 first; the intermediate server learns the 符号
        against the 宛名番号 only.
        """
        people = self.registry.numbered_residents(resident_ids)
        if not people:
            return 0
        atena_nos = self.atena.assign(people)
        refs = self.intermediate.begin_acquisition(atena_nos)
        self.jlis.request_codes(
            self.institution, [(number, ref) for (_, number), ref in zip(people, refs,
                                                                          strict=True)],
            progress,
        )
        return len(people)

    def acquire_new_codes(self, progress: Progress | None = None) -> int:
        """符号 for residents who arrived or were born since the last acquisition, and for
        those whose acquisition a crash interrupted (running it again completes it)."""
        atena = self.atena.numbers_by_resident()
        coded = self.intermediate.coded_refs()
        fresh = [rid for rid, _ in self.registry.numbered_residents()
                 if atena.get(rid) not in coded]
        return self.acquire_codes(fresh, progress) if fresh else 0

    def request_linkage(
        self, staff: Staff, resident_id: int, purpose: str, row_id: str, affair: str,
        provider: str, item: str, request_id: str | None = None,
    ) -> Received:
        """情報照会 for a resident by a member of staff, for an affair their role performs
        (``purpose`` is its id; the view of the record is logged with it)."""
        self.registry.view(staff, resident_id, purpose, note=f"情報照会: {item}")
        answer = self.intermediate.request(self.atena_no(resident_id), row_id, affair,
                                           provider, item, request_id)
        return self.intermediate.open(answer)

    def pending_for_staff(self, staff: Staff, purpose: str
                          ) -> list[tuple[PendingRequest, int | None]]:
        """The approval queue, with the resident each request is about; each resident
        listed is logged as shown to ``staff`` for ``purpose`` (an affair id)."""
        out = []
        for waiting in self.intermediate.pending():
            rid = self.atena.resident_for(waiting.atena_no) if waiting.atena_no else None
            out.append((waiting, rid))
        self.registry.list_view(staff, [rid for _, rid in out if rid is not None], purpose,
                                note="情報提供の承認待ち一覧")
        return out

    def notify_numbers(self, notify: NotifyApi) -> BatchSummary:
        """番号通知: hand the town's numbered households to J-LIS's notification node."""
        return notify.prepare_batch(self.code, self.registry.municipality.name,
                                    household_notices(self.registry.current_residents()))

    def atena_no(self, resident_id: int) -> str:
        return self.atena.atena_for_resident(resident_id)
