"""Login throttling, counted in the database so that every process shares the limits.

Three counts of failed logins, each over a window that starts at its first failure:

- per source address (`ip:`): an address that keeps failing, whatever usernames it tries
  (invented ones included), must wait longer and longer between attempts;
- per account and address (`user-ip:`): the same for one username from one address, so a
  person who mistypes is slowed, but nobody elsewhere can lock them out;
- per account (`user:`): an account failing from many addresses takes one attempt at a
  time, `pace` seconds apart. A right password is slowed, never refused outright.

Pure domain: takes a database session and the time, never Flask.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from callcenter.db import UTCDateTime
from callcenter.models import LoginFailures


@dataclass(frozen=True)
class ThrottlePolicy:
    """The limits (failures within `window` seconds before attempts are slowed)."""

    address_limit: int = 20
    pair_limit: int = 5
    account_limit: int = 10
    window: float = 300.0
    first_delay: float = 2.0  # then doubled after each further failure
    max_delay: float = 300.0
    pace: float = 2.0  # seconds between attempts at an account under attack


def keys(username: str, address: str) -> tuple[str, str, str]:
    """(address, account-and-address, account) counter keys."""
    name = username.strip().lower()[:256]
    address = address[:64]
    return f"ip:{address}", f"user-ip:{name}|{address}", f"user:{name}"


def _backoff(row: LoginFailures | None, limit: int, policy: ThrottlePolicy, now: datetime) -> float:
    """Seconds to wait before the next attempt counted by `row` (0: go ahead)."""
    if row is None or row.failures < limit:
        return 0.0
    if row.first_at <= now - timedelta(seconds=policy.window):
        return 0.0  # the counting window is over; the next failure starts a new one
    delay = min(policy.max_delay, policy.first_delay * 2 ** (row.failures - limit))
    return max(0.0, (row.last_at - now).total_seconds() + delay)


def wait_seconds(
    session: Session, policy: ThrottlePolicy, username: str, address: str, now: datetime
) -> float:
    """Seconds before this login may be tried (0: now). Takes the account's turn if paced."""
    ip_key, pair_key, user_key = keys(username, address)
    rows = {
        row.key: row
        for row in session.scalars(
            select(LoginFailures).where(LoginFailures.key.in_([ip_key, pair_key, user_key]))
        )
    }
    wait = max(
        _backoff(rows.get(ip_key), policy.address_limit, policy, now),
        _backoff(rows.get(pair_key), policy.pair_limit, policy, now),
    )
    account = rows.get(user_key)
    under_attack = (
        account is not None
        and account.failures >= policy.account_limit
        and account.first_at > now - timedelta(seconds=policy.window)
    )
    if wait or not under_attack:
        return wait
    # One attempt at a time for the account: claim the turn in one UPDATE (every process).
    claimed = session.execute(
        update(LoginFailures)
        .where(
            LoginFailures.key == user_key,
            or_(LoginFailures.next_attempt_at.is_(None), LoginFailures.next_attempt_at <= now),
        )
        .values(next_attempt_at=now + timedelta(seconds=policy.pace))
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount:  # type: ignore[attr-defined]
        return 0.0
    turn = session.scalar(
        select(LoginFailures.next_attempt_at).where(LoginFailures.key == user_key)
    )
    return max(0.1, (turn - now).total_seconds()) if turn else policy.pace


def record_failure(
    session: Session, policy: ThrottlePolicy, username: str, address: str, now: datetime
) -> None:
    """Count a failed login against the address, the account and both."""
    table = LoginFailures.__table__
    dialect = session.get_bind().dialect.name
    insert = sqlite_insert if dialect == "sqlite" else postgresql_insert
    at = literal(now, UTCDateTime())
    stale = table.c.first_at <= now - timedelta(seconds=policy.window)
    for key in keys(username, address):
        statement = insert(table).values(key=key, failures=1, first_at=now, last_at=now)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=[table.c.key],
                set_={
                    "failures": case((stale, 1), else_=table.c.failures + 1),
                    "first_at": case((stale, at), else_=table.c.first_at),
                    "last_at": at,
                },
            )
        )
    forgotten = now - timedelta(seconds=policy.window + policy.max_delay + 60)
    session.execute(delete(LoginFailures).where(LoginFailures.last_at < forgotten))


def record_success(session: Session, username: str, address: str) -> None:
    """Forgive this address its typos for the account (the other counts stay)."""
    _ip_key, pair_key, _user_key = keys(username, address)
    session.execute(delete(LoginFailures).where(LoginFailures.key == pair_key))
