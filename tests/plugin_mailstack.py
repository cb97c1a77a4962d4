"""pytest plugin: the loopback Postfix + Dovecot stack (tests/mailstack.py) as fixtures.

Register with ``pytest_plugins = ["tests.plugin_mailstack"]`` in tests/conftest.py.

- ``mailstack`` (session): one stack for the whole test session, stopped at the end.
- ``clean_mailboxes`` (function): the same stack after ``MailStack.reset()``: both
  servers running, Postfix queue empty, every mailbox empty.

A stack that cannot be started is a test failure, never a skip: in CI (CI=true) and
locally alike; locally the message says how to install the servers.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mailstack import INSTALL_HINT, MailStack

# Set to keep the stack directory (config, logs, Maildirs) after the session.
KEEP_ENV = "INTAKE_TEST_KEEP_MAILSTACK"


def _failure_message(exc: BaseException, workdir: Path) -> str:
    reason = f"{type(exc).__name__}: {exc}"
    if os.environ.get("CI") == "true":
        return (
            "The loopback mail stack (Postfix + Dovecot) could not be started; in CI this is "
            f"a failure, not a skip.\n{reason}\nFiles kept in {workdir}"
        )
    return (
        "The loopback mail stack (Postfix + Dovecot) could not be started.\n"
        f"{reason}\nFiles kept in {workdir}\n"
        f"The harness installs the servers itself when it runs as root. {INSTALL_HINT}"
    )


@pytest.fixture(scope="session")
def mailstack() -> Iterator[MailStack]:
    # Not tmp_path_factory: its base directory is 0700, and Dovecot and Postfix run
    # as other users that must reach their files.
    workdir = Path(tempfile.mkdtemp(prefix="intake-mailstack-"))
    failure = None
    try:
        stack = MailStack.start(workdir)
    except Exception as exc:
        failure = _failure_message(exc, workdir)
    if failure is not None:  # outside the except block: no chained traceback noise
        pytest.fail(failure, pytrace=False)
    try:
        yield stack
    finally:
        stack.stop()
        if not os.environ.get(KEEP_ENV):
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def clean_mailboxes(mailstack: MailStack) -> MailStack:
    mailstack.reset()
    return mailstack
