"""`intake demo`: the whole cycle on loopback mail servers started in this process.

Read in this order: `replies` (the town hall and what its people write back), `photo` (the
JPEG one of them attaches), `servers` (IMAP and SMTP on loopback), `run` (the week, step by
step, through the production code).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import FrameType

from bot.logs import setup_logging

#: the exit status after Ctrl-C (128 + SIGINT), as shells report it
INTERRUPTED = 130


def run_demo(directory: Path, *, keep: bool, start: datetime | None, verbosity: int,
             echo: Callable[[str], None], warn: Callable[[str], None],
             listen: str = "127.0.0.1") -> int:
    """Play the demo; 0 when done, INTERRUPTED after Ctrl-C or SIGTERM (everything the demo
    started is stopped either way). The first signal asks the demo to stop at its next step
    (a fraction of a second); a second one stops it at once."""
    from bot.demo.run import Demo, Interrupted

    # the progress lines tell the story; the bot's own log lines with -v (warnings, e.g.
    # the stranger's mail set aside) and -vv (everything)
    setup_logging("ERROR", verbosity)
    for noisy in ("mail.log", "pymap", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.ERROR if verbosity < 2 else logging.DEBUG)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    # a signal the shell told us to ignore (a background job, nohup) stays ignored
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
                if signal.getsignal(sig) is not signal.SIG_IGN}
    try:
        Demo(directory, keep=keep, start=start, echo=echo, stop=stop, listen=listen).run()
    except (Interrupted, KeyboardInterrupt):
        warn("demo interrupted; its mail servers are stopped and nothing is left running")
        return INTERRUPTED
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
