"""A background worker process, as the supervisor starts it (``python -m dockyard.background``).

It rebuilds the settings ``dockyard serve`` or ``dockyard worker`` resolved, builds the
background half of the composition root (``bootstrap.build_background``) and runs the
worker loops (``dockyard.workers.runtime``) until SIGTERM or SIGINT, which let a running
job finish within ``shutdown_grace_seconds``.
"""

from __future__ import annotations

import asyncio
import os
import signal

from dockyard import logging as dlogging
from dockyard.bootstrap import build_background
from dockyard.settings import Settings
from dockyard.supervisor import WORKER_SETTINGS_ENV


async def run(settings: Settings) -> None:
    background = build_background(settings)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, background.worker.stop)
    try:
        await background.worker.run()
    finally:
        await background.stop()


def main() -> None:
    settings = Settings.model_validate_json(os.environ[WORKER_SETTINGS_ENV])
    dlogging.configure(settings.log_level)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
