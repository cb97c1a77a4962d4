"""Parsing stored mail, here or in helper processes, ahead of the unit of work that uses it.

The parser is pure (bytes and options in, frozen values out), so the result of a mail can be
computed before its row is claimed, by another process, and simply handed over. A pass with
many mails starts a few helper processes (`python -c`, importing only the parsers, so they
share nothing with this process: no database connection, no thread, no lock) and parses in
them while this process talks to IMAP and the database; a small pass parses in-line (a helper
would take longer to start than the mail takes to parse).

A helper that dies (out of memory, killed) costs nothing but time: what it was given is
parsed here instead. Parsing twice gives the same result, so a result that is not used (the
row was taken by another worker meanwhile) is simply dropped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import date
from email.utils import getaddresses
from typing import IO, Any

from bot.errors import one_line
from parsers import ParseOptions, ParseResult, parse_message
from parsers.authres import verdict
from parsers.fields import header_fields

log = logging.getLogger("intake.listening")

#: mails per job handed to a helper: large enough that the pipe's cost does not count,
#: small enough that the helpers stay evenly busy
CHUNK = 8
#: below this many mails in a pass, parse in-line
POOL_MIN = 100


@dataclass(frozen=True)
class Parsed:
    """What processing needs from a mail's bytes, computed without the database."""

    result: ParseResult
    #: what the municipality's own server reported as failed (DMARC/SPF/DKIM); () unchecked
    auth_failed: tuple[str, ...]
    #: every address the From fields name (RFC 5322 allows several authors)
    authors: tuple[str, ...]
    #: the result as `intake parse` prints it (the row's `parsed` column)
    document: dict[str, Any]
    #: sha256 of each attachment's bytes (None: no bytes kept), in the result's order
    digests: tuple[str | None, ...]
    #: the day the parser took for "today" when the mail has no date (a result is used on
    #: that day only)
    day: date


def parse_stored(inbound_id: int, raw: bytes, options: ParseOptions,
                 authserv_id: str) -> Parsed:
    """Parse one stored mail (`options.fallback_today` set: the day of processing)."""
    assert options.fallback_today is not None
    result = parse_message(raw, options)
    document = json.loads(json.dumps(result.to_json_dict(f"inbound:{inbound_id}"),
                                     ensure_ascii=False))
    digests = tuple(hashlib.sha256(a.content).hexdigest()
                    if not a.truncated and a.content else None for a in result.attachments)
    if digests:
        # the bytes stay in the stored mail (bot.blobs): a helper need not send them back
        result = replace(result, attachments=tuple(replace(a, content=b"")
                                                   for a in result.attachments))
    if result.kind == "bounce":  # matched by what came back, not by who sent it
        return Parsed(result, (), (), document, digests, options.fallback_today)
    return Parsed(result, tuple(verdict(raw, authserv_id).failed), tuple(authors(raw)),
                  document, digests, options.fallback_today)


def authors(raw: bytes) -> list[str]:
    """Every address the mail's From fields name (RFC 5322 allows several authors)."""
    values = [one_line(value) for value in header_fields(raw, ["from"])["from"]]
    return [address for _name, address in getaddresses(values) if "@" in address]


#: a batch's results by row id, waited for when called
Results = Callable[[], dict[int, Parsed]]


class Parsing:
    """Parses in this process, when asked for the results (nothing runs ahead)."""

    def __init__(self, options: ParseOptions, authserv_id: str) -> None:
        self.options = options
        self.authserv_id = authserv_id

    @property
    def helpers(self) -> int:
        """How many helper processes parse (0: this one)."""
        return 0

    def submit(self, items: Sequence[tuple[int, bytes]], day: date) -> Results:
        """The results of these mails (id, bytes), parsed for `day`."""
        options = replace(self.options, fallback_today=day)
        wanted = list(items)
        return lambda: {i: parse_stored(i, raw, options, self.authserv_id) for i, raw in wanted}

    def close(self) -> None:
        pass

    def __enter__(self) -> Parsing:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def parsing_for(count: int, options: ParseOptions, authserv_id: str) -> Parsing:
    """In-line for a few mails, helper processes for many (one per core, at most four)."""
    workers = min(4, os.cpu_count() or 1)
    if count < POOL_MIN or workers < 2:
        return Parsing(options, authserv_id)
    return ParsingPool(options, authserv_id, workers)


# --- helper processes ---------------------------------------------------------------------

#: the helper's program: take sys.path from the parent, keep stdout for results only
_HELPER = """\
import pickle, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
source, sink = sys.stdin.buffer, sys.stdout.buffer
sys.stdout = sys.stderr
sys.path[:] = pickle.load(source)
from bot.listening.parsing import serve
serve(source, sink)
"""


def serve(source: IO[bytes], sink: IO[bytes]) -> None:
    """A helper's loop: options once, then jobs (day, [(id, raw), ...]) until the pipe
    closes; each answered with [(id, Parsed | None), ...] (None: parse it yourself)."""
    options, authserv_id = pickle.load(source)
    while True:
        try:
            day, items = pickle.load(source)
        except EOFError:
            return
        dated = replace(options, fallback_today=day)
        out: list[tuple[int, Parsed | None]] = []
        for inbound_id, raw in items:
            try:
                out.append((inbound_id, parse_stored(inbound_id, raw, dated, authserv_id)))
            except Exception:  # the parser never raises for bad mail; this is a bug, here
                out.append((inbound_id, None))
        try:
            pickle.dump(out, sink, protocol=pickle.HIGHEST_PROTOCOL)
            sink.flush()
        except BrokenPipeError:  # the poller is gone
            return


@dataclass
class _Job:
    day: date
    items: list[tuple[int, bytes]]
    future: Future[dict[int, Parsed | None]]


class ParsingPool(Parsing):
    """Parses in helper processes; one feeding thread per helper hands it the next job."""

    def __init__(self, options: ParseOptions, authserv_id: str, workers: int) -> None:
        super().__init__(options, authserv_id)
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._alive = 0
        self._procs: list[subprocess.Popen[bytes]] = []
        self._threads: list[threading.Thread] = []
        setup = pickle.dumps(list(sys.path)) + pickle.dumps((options, authserv_id))
        for n in range(workers):
            try:
                proc = subprocess.Popen([sys.executable, "-c", _HELPER], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE)
                assert proc.stdin is not None
                proc.stdin.write(setup)
                proc.stdin.flush()
            except OSError as exc:
                log.warning("parser helper could not be started (%s); parsing here", exc)
                break
            self._procs.append(proc)
            thread = threading.Thread(target=self._feed, args=(proc,), daemon=True,
                                      name=f"parser-{n}")
            self._threads.append(thread)
            self._alive += 1
            thread.start()

    @property
    def helpers(self) -> int:
        return self._alive

    def submit(self, items: Sequence[tuple[int, bytes]], day: date) -> Results:
        wanted = list(items)
        jobs = [_Job(day, wanted[i:i + CHUNK], Future()) for i in range(0, len(wanted), CHUNK)]
        with self._lock:
            alive = self._alive > 0
            if alive:
                for job in jobs:
                    self._jobs.put(job)
        if not alive:
            return super().submit(wanted, day)
        return lambda: self._collect(jobs)

    def _collect(self, jobs: list[_Job]) -> dict[int, Parsed]:
        """The results the helpers gave; a mail without one (a helper died, or hit a bug)
        is parsed by whoever processes it, so that an error shows there."""
        out: dict[int, Parsed] = {}
        for job in jobs:
            try:
                parsed: dict[int, Parsed | None] = job.future.result()
            except Exception:
                continue
            out.update({i: p for i, p in parsed.items() if p is not None})
        return out

    def _feed(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                pickle.dump((job.day, job.items), proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                proc.stdin.flush()
                job.items = []  # the bytes are the helper's now
                answer = pickle.load(proc.stdout)
            except Exception as exc:  # the helper died (out of memory, killed)
                job.future.set_exception(exc)
                log.warning("parser helper %s stopped (%s); parsing here", proc.pid,
                            type(exc).__name__)
                self._retire()
                return
            job.future.set_result(dict(answer))

    def _retire(self) -> None:
        """One helper fewer; with none left, the waiting jobs are answered as failed (and
        parsed here)."""
        with self._lock:
            self._alive -= 1
            if self._alive > 0:
                return
            while True:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    return
                if job is not None:
                    job.future.set_exception(RuntimeError("no parser helper left"))

    def close(self) -> None:
        while True:  # what nobody will wait for any more (the pass ended early)
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job.future.cancel()
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join(timeout=30)
        for proc in self._procs:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        self._procs.clear()
        self._threads.clear()
