"""The alert outbox: what is left to deliver, claiming an attempt, and its outcome.

An alert's status says what really happened to it:

- `stored`: no channel was configured when it was raised; it is kept and listed, not sent;
- `pending`: waiting for its first delivery attempt;
- `retrying`: tried and not delivered yet; later runs try again;
- `sent`: delivered;
- `failed`: given up after `NEWSWATCH_ALERT_MAX_ATTEMPTS`; only `newswatch alerts retry` sends
  it again.

An alert is written with its event (`db.store.save_alert`); delivery happens afterwards, so a
channel that is down only delays it. A sent alert is never selected again, and an attempt is
claimed with a compare-and-set on `attempts`, so two runs never both send the same alert.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, case, func, select, update
from sqlalchemy.orm import Session

from newswatch.db.models import AlertRow



@dataclass(frozen=True)
class AlertToDeliver:
    """A stored alert still to deliver, with the attempts counted so far."""

    id: int
    channel: str
    message: str
    attempts: int


#: Statuses a delivery run picks up by itself.
TO_DELIVER = ("pending", "retrying")
#: Statuses `alerts retry` and `alerts drop` act on: everything not delivered.
UNDELIVERED = ("stored", "pending", "retrying", "failed")


def select_undelivered_alerts(
    channels: Sequence[str] | None = None, limit: int = 1000
) -> Select[AlertRow]:
    """Build the statement for alerts a run should deliver (pending or retrying), oldest first.

    With `channels`, only alerts for those channels (a channel removed from the settings is
    left alone rather than retried forever).
    """
    stmt = select(AlertRow).where(AlertRow.status.in_(TO_DELIVER))
    if channels is not None:
        stmt = stmt.where(AlertRow.channel.in_(list(channels)))
    return stmt.order_by(AlertRow.id).limit(limit)


def list_undelivered_alerts(
    session: Session, *, channels: Sequence[str] | None = None, limit: int = 1000
) -> list[AlertToDeliver]:
    """Return the alerts a delivery run should try, oldest first."""
    return [
        AlertToDeliver(id=r.id, channel=r.channel, message=r.message, attempts=r.attempts)
        for r in session.scalars(select_undelivered_alerts(channels, limit))
    ]


def claim_alert(session: Session, alert_id: int, attempts: int) -> bool:
    """Count one delivery attempt; False when another run claimed or sent the alert first."""
    result = session.execute(
        update(AlertRow)
        .where(AlertRow.id == alert_id, AlertRow.attempts == attempts, AlertRow.status != "sent")
        .values(attempts=attempts + 1)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def save_alert_sent(session: Session, alert_id: int) -> None:
    """Record that an alert was delivered."""
    session.execute(
        update(AlertRow)
        .where(AlertRow.id == alert_id)
        .values(status="sent", sent_at=dt.datetime.now(dt.timezone.utc), last_error=None)
    )


def save_alert_failed(session: Session, alert_id: int, error: str, *, max_attempts: int) -> None:
    """Record a failed attempt: `retrying`, or `failed` (given up) once `max_attempts` are used."""
    session.execute(
        update(AlertRow)
        .where(AlertRow.id == alert_id, AlertRow.status != "sent")
        .values(
            status=case((AlertRow.attempts >= max_attempts, "failed"), else_="retrying"),
            last_error=error[:2000],
        )
    )


def list_alerts_since(session: Session, since: dt.datetime) -> Sequence[AlertRow]:
    """Return the alerts raised at or after `since` (one run's alerts), oldest first."""
    return session.scalars(
        select(AlertRow).where(AlertRow.created_at >= since).order_by(AlertRow.id)
    ).all()


def count_delivery(session: Session, since: dt.datetime) -> tuple[int, int]:
    """Return (alerts delivered since `since`, alerts tried but still undelivered)."""
    sent = session.scalar(
        select(func.count())
        .select_from(AlertRow)
        .where(AlertRow.status == "sent", AlertRow.sent_at >= since, AlertRow.channel != "")
    )
    waiting = session.scalar(
        select(func.count())
        .select_from(AlertRow)
        .where(AlertRow.status == "retrying")
    )
    return int(sent or 0), int(waiting or 0)


def find_alerts(session: Session, ids: Sequence[int]) -> list[AlertRow]:
    """The alerts with these ids that are not delivered, oldest first (all of them without ids)."""
    stmt = select(AlertRow).where(AlertRow.status.in_(UNDELIVERED))
    if ids:
        stmt = stmt.where(AlertRow.id.in_(list(ids)))
    return list(session.scalars(stmt.order_by(AlertRow.id)))


def reroute_alert(session: Session, alert: AlertRow, channels: Sequence[str]) -> list[int]:
    """Queue an undelivered alert again, on the channels configured now; return the alert ids.

    An alert keeps the channel it was raised for only while that channel is still configured;
    otherwise it moves to the current ones (a corrected `NEWSWATCH_NOTIFY`), one alert each.
    A channel that already has this event's alert for the topic gets no second one.
    """
    if alert.channel in channels:
        targets = [alert.channel]
    else:
        taken = set(session.scalars(
            select(AlertRow.channel).where(AlertRow.event_id == alert.event_id,
                                           AlertRow.topic == alert.topic, AlertRow.id != alert.id)
        ))
        targets = [c for c in dict.fromkeys(channels) if c not in taken]
    if not targets:
        return []
    first, *others = targets
    alert.channel, alert.status, alert.attempts, alert.last_error = first, "pending", 0, None
    ids = [alert.id]
    for channel in others:
        copy = AlertRow(event_id=alert.event_id, topic=alert.topic, channel=channel, message=alert.message,
                        status="pending", attempts=0, created_at=alert.created_at)
        session.add(copy)
        session.flush()
        ids.append(copy.id)
    return ids


def drop_alerts(session: Session, ids: Sequence[int]) -> int:
    """Delete undelivered alerts by id; return how many were dropped (a sent one stays)."""
    rows = find_alerts(session, ids) if ids else []
    for row in rows:
        session.delete(row)
    return len(rows)

