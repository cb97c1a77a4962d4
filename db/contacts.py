"""Query functions for departments and contacts. They take a Session and never commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import Contact, Department


class ContactSpec(Protocol):
    """What the contacts file says about one department (bot.contacts.ContactEntry)."""

    @property
    def department(self) -> str: ...
    @property
    def email(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def salutation(self) -> str | None: ...
    @property
    def deputies(self) -> tuple[str, ...]: ...
    @property
    def active(self) -> bool: ...


@dataclass
class SyncSummary:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    reactivated: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.deactivated or self.reactivated)


class MassDeactivation(Exception):
    """The sync would deactivate more than half of the active departments.

    Far more often a wrong, truncated or half-saved contacts file than a real
    reorganisation; nothing was changed. `names` are the departments it would deactivate.
    """

    def __init__(self, names: list[str], active: int) -> None:
        super().__init__(f"the sync would deactivate {len(names)} of {active} active "
                         f"departments")
        self.names = names
        self.active = active


def departments_to_deactivate(session: Session, specs: Sequence[ContactSpec]) -> tuple[
        list[str], int]:
    """(names of the active departments the sync would deactivate, active departments)."""
    wanted = {spec.department.casefold(): spec.active for spec in specs}
    active = list(session.scalars(select(Department.name).where(Department.active.is_(True))
                                  .order_by(Department.name)))
    going = [name for name in active if not wanted.get(name.casefold(), False)]
    return going, len(active)


def sync_contacts(session: Session, specs: Sequence[ContactSpec], now: datetime, *,
                  confirmed: bool = False) -> SyncSummary:
    """Make the database agree with the contacts file without deleting history.

    A contact or department no longer in the file is deactivated (its requests, topics
    and mails stay); one that comes back is reactivated. An address that moves to another
    department moves with its row, so its past stays linked to the person.

    A sync that would deactivate more than half of the active departments raises
    MassDeactivation and changes nothing, unless `confirmed`.
    """
    if not confirmed:
        going, active = departments_to_deactivate(session, specs)
        if going and len(going) * 2 > active:
            raise MassDeactivation(going, active)
    summary = SyncSummary()
    departments = {d.name.casefold(): d for d in session.scalars(select(Department))}
    contacts = {c.email: c for c in session.scalars(select(Contact))}
    wanted: set[str] = set()
    wanted_departments: set[str] = set()

    for spec in specs:
        key = spec.department.casefold()
        department = departments.get(key)
        if department is None:
            department = Department(name=spec.department, active=True, created_at=now)
            session.add(department)
            departments[key] = department
        elif department.name != spec.department:
            department.name = spec.department  # spelling corrected in the file
        department_active = spec.active
        if department.active != department_active:
            department.active = department_active
        wanted_departments.add(key)

        people = [(spec.email, "primary", spec.name, spec.salutation, spec.active)]
        people += [(d, "deputy", None, None, spec.active) for d in spec.deputies]
        for email, role, name, salutation, active in people:
            email = email.lower()
            wanted.add(email)
            contact = contacts.get(email)
            if contact is None:
                contact = Contact(
                    department=department, email=email, role=role, name=name,
                    salutation=salutation, active=active, created_at=now, updated_at=now,
                    deactivated_at=None if active else now,
                )
                session.add(contact)
                contacts[email] = contact
                summary.added.append(email)
                continue
            changes = {
                "department": department, "role": role, "name": name,
                "salutation": salutation,
            }
            dirty = False
            for attr, value in changes.items():
                if getattr(contact, attr) is not value and getattr(contact, attr) != value:
                    setattr(contact, attr, value)
                    dirty = True
            if contact.active != active:
                if active:
                    summary.reactivated.append(email)
                    contact.deactivated_at = None
                else:
                    summary.deactivated.append(email)
                    contact.deactivated_at = now
                contact.active = active
                dirty = True
            elif dirty:
                summary.updated.append(email)
            if dirty:
                contact.updated_at = now

    for email, contact in contacts.items():
        if email not in wanted and contact.active:
            contact.active = False
            contact.deactivated_at = now
            contact.updated_at = now
            summary.deactivated.append(email)
    for key, department in departments.items():
        if key not in wanted_departments and department.active:
            department.active = False
    session.flush()
    return summary


def sync_contacts_retrying(session: Session, specs: Sequence[ContactSpec], now: datetime,
                           attempts: int = 3, *, confirmed: bool = False) -> SyncSummary:
    """sync_contacts in a savepoint, retried when a concurrent process inserted the same
    department or address first (unique constraints); the retry then finds its rows."""
    for attempt in range(attempts):
        try:
            with session.begin_nested():
                return sync_contacts(session, specs, now, confirmed=confirmed)
        except IntegrityError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def active_primary_contacts(session: Session) -> list[Contact]:
    """The contacts that get requests: one active primary per active department."""
    stmt = (
        select(Contact)
        .join(Department)
        .where(Contact.active.is_(True), Department.active.is_(True), Contact.role == "primary")
        .order_by(Department.name)
    )
    return list(session.scalars(stmt))


def known_since(session: Session) -> datetime | None:
    """When the first department came into the database (None: none yet)."""
    return session.scalar(select(func.min(Department.created_at)))


def contact_by_address(session: Session, address: str) -> Contact | None:
    """The (active or inactive) contact with this address, case-insensitively."""
    return session.scalar(select(Contact).where(Contact.email == address.lower()))
