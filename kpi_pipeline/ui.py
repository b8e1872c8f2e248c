"""``make ui``: the Dagster UI (``dg dev``) in a process that stops on SIGTERM or SIGINT.

Why this exists: ``dg dev`` (Dagster's ``dev_command_impl``) maps SIGTERM onto whatever
handles SIGINT when it starts. A shell starts a background job (``make ui &`` in a script,
CI, a service wrapper) with SIGINT ignored, and an ignored signal stays ignored across
``exec``; Python then installs no KeyboardInterrupt handler, so ``dg dev`` ignored SIGINT
*and* SIGTERM. ``make`` forwards SIGTERM to its child and waits for it, so the whole tree
(make, dg, the webserver, the daemon and the code server) stayed up, and stopping it
meant killing each process by hand.

Restoring the default disposition of both signals and then replacing this process with
``dg dev`` (``exec``: same pid, so the signal ``make`` forwards reaches it) lets Python
install its handler again: SIGINT or SIGTERM raises KeyboardInterrupt in ``dg dev``, which
shuts down the webserver, the daemon and the code server it started, and exits.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn


def dg_executable() -> Path:
    """The ``dg`` of the virtual environment this Python runs in."""
    return Path(sys.executable).with_name("dg")


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Exec ``dg dev <argv>`` with SIGINT and SIGTERM at their defaults."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)
    dg = dg_executable()
    args = list(sys.argv[1:] if argv is None else argv)
    os.execv(dg, [str(dg), "dev", *args])


if __name__ == "__main__":
    main()
