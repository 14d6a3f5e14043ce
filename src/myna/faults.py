"""Named points where a test may kill the process, to prove that work resumes.

A multi-node operation must complete when simply run again after a crash at
any point.  The tests prove it by starting the operation in a subprocess with
``MYNA_KILL_AT=<point>``: when the process reaches that point it sends itself
SIGKILL — no clean-up, no ``finally``, exactly like a power cut.  Without the
variable a point does nothing.
"""

from __future__ import annotations

import os
import signal

ENV = "MYNA_KILL_AT"


def fault_point(name: str) -> None:
    """Die here, at once, if this run was asked to (``MYNA_KILL_AT=name``)."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
