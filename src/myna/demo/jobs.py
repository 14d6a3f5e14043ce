"""J-LIS's own jobs of the demo across processes, each run as J-LIS's process.

``python -m myna.demo.jobs mail-fates <data-dir> <seed> <batch id>…`` records the
SYNTHETIC fates of mailed 番号通知 letters in J-LIS's notification database (as
:func:`myna.demo.world.simulate_mail` does in one process) and prints the national
delivery figures as JSON.  It opens that one database and nothing else.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from myna.config import read_config
from myna.demo.world import simulate_mail
from myna.notify.service import NotificationService


def mail_fates(data_dir: Path, seed: int, batches: list[int]) -> dict[str, object]:
    config = read_config(data_dir)
    notify = NotificationService(config.engine(data_dir, "notify"))
    try:
        return simulate_mail(notify, batches, seed)
    finally:
        notify.engine.dispose()


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] != "mail-fates":
        sys.stderr.write("usage: python -m myna.demo.jobs mail-fates <data-dir> <seed> <batch>…\n")
        return 2
    figures = mail_fates(Path(argv[1]), int(argv[2]), [int(b) for b in argv[3:]])
    sys.stdout.write(json.dumps(figures, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
