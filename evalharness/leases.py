"""Leases: work being executed is owned, in the store, by one process at a time.

A lease names a run and a scope (``run``, ``shard:0/2``, ``chunk:<task>:<lo>-<hi>``) and its
owner (``host:pid:uuid``); a background thread renews its heartbeat every ``ttl/3`` seconds.
A second process asking for a held lease is refused with one line naming the holder; a lease
whose heartbeat stopped (``expires_at`` passed), or whose process on this host is gone, can be
taken over, which is
also how a dead run shows as ``interrupted``. Taking over is a compare-and-swap on the old
owner and expiry, and a first claim relies on the unique (run_id, scope) key, so two processes
racing for one lease never both win.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import DateTime, Integer, String, UniqueConstraint, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from evalharness.errors import StoreError
from evalharness.store import Base, Run, Store, now

DEFAULT_TTL_S = 30.0


class LeaseRow(Base):
    __tablename__ = "leases"
    __table_args__ = (UniqueConstraint("run_id", "scope"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(32), index=True)
    scope: Mapped[str] = mapped_column(String(256))
    owner: Mapped[str] = mapped_column(String(256))
    heartbeat_at: Mapped[Any] = mapped_column(DateTime)
    expires_at: Mapped[Any] = mapped_column(DateTime)


def ttl_s() -> float:
    """``$EVALHARNESS_LEASE_TTL_S``: seconds without a heartbeat before a lease is stale."""
    try:
        return max(0.5, float(os.environ.get("EVALHARNESS_LEASE_TTL_S", DEFAULT_TTL_S)))
    except ValueError:
        return DEFAULT_TTL_S


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Lease:
    store: Store
    run_id: str
    scope: str
    owner: str
    ttl_s: float
    lost: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def heartbeat(self) -> bool:
        """Renew; False (and ``lost`` set) when another process has taken the lease over."""
        stamp = now()
        with self.store.session() as s, s.begin():
            done = s.execute(
                update(LeaseRow)
                .where(
                    LeaseRow.run_id == self.run_id,
                    LeaseRow.scope == self.scope,
                    LeaseRow.owner == self.owner,
                )
                .values(heartbeat_at=stamp, expires_at=stamp + timedelta(seconds=self.ttl_s))
            )
        if done.rowcount != 1:
            self.lost.set()
        return not self.lost.is_set()

    def start(self) -> Lease:
        def beat() -> None:
            while not self._stop.wait(self.ttl_s / 3):
                try:
                    if not self.heartbeat():
                        return
                except Exception:  # a busy store: try again at the next beat
                    continue

        self._thread = threading.Thread(target=beat, name=f"lease:{self.scope}", daemon=True)
        self._thread.start()
        return self

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self.store.session() as s, s.begin():
            s.execute(
                delete(LeaseRow).where(
                    LeaseRow.run_id == self.run_id,
                    LeaseRow.scope == self.scope,
                    LeaseRow.owner == self.owner,
                )
            )


def owner_is_dead(owner: str) -> bool:
    """The holder ran on this host and its process is gone (``kill -9``): no need to wait."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, owned by someone else
        return False
    return False


def _stale(row: LeaseRow, stamp: Any) -> bool:
    return row.expires_at <= stamp or owner_is_dead(row.owner)


def _refusal(run_id: str, scope: str, row: LeaseRow) -> StoreError:
    age = (now() - row.heartbeat_at).total_seconds()
    return StoreError(
        f"run {run_id} ({scope}) is being executed by {row.owner} "
        f"(last heartbeat {age:.0f} s ago); wait for it to finish or stop that process"
    )


def acquire(store: Store, run_id: str, scope: str = "run", ttl: float | None = None) -> Lease:
    """The lease on (run, scope), taken over if stale; a ``StoreError`` if someone holds it."""
    ttl = ttl_s() if ttl is None else ttl
    owner = new_owner()
    stamp = now()
    expires = stamp + timedelta(seconds=ttl)
    values = {"owner": owner, "heartbeat_at": stamp, "expires_at": expires}
    with store.session() as s:
        held = s.scalars(
            select(LeaseRow).where(LeaseRow.run_id == run_id, LeaseRow.scope == scope)
        ).first()
    if held is None:
        try:
            with store.session() as s, s.begin():
                s.add(LeaseRow(run_id=run_id, scope=scope, **values))
        except IntegrityError:  # another process claimed it first
            with store.session() as s:
                held = s.scalars(
                    select(LeaseRow).where(LeaseRow.run_id == run_id, LeaseRow.scope == scope)
                ).one()
            raise _refusal(run_id, scope, held) from None
    elif not _stale(held, stamp):
        raise _refusal(run_id, scope, held)
    else:  # stale: take over, unless another process did so first
        with store.session() as s, s.begin():
            done = s.execute(
                update(LeaseRow)
                .where(
                    LeaseRow.id == held.id,
                    LeaseRow.owner == held.owner,
                    LeaseRow.expires_at == held.expires_at,
                )
                .values(**values)
            )
        if done.rowcount != 1:
            with store.session() as s:
                raise _refusal(run_id, scope, s.get(LeaseRow, held.id) or held)
    return Lease(store, run_id, scope, owner, ttl).start()


@contextmanager
def holding(store: Store, run_id: str, scope: str = "run") -> Iterator[Lease]:
    lease = acquire(store, run_id, scope)
    try:
        yield lease
    finally:
        lease.release()


def run_state(store: Store, run: Run) -> str:
    """The run's status as stored, except that a "running" run nobody holds is "interrupted"."""
    if run.status != "running":
        return run.status
    with store.session() as s:
        held = s.scalars(
            select(LeaseRow).where(LeaseRow.run_id == run.id, LeaseRow.scope == "run")
        ).first()
    return "running" if held is not None and not _stale(held, now()) else "interrupted"
