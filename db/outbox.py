"""The alert outbox: what is left to deliver, claiming an attempt, and its outcome.

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


def select_undelivered_alerts(
    channels: Sequence[str] | None = None, limit: int = 1000
) -> Select[AlertRow]:
    """Build the statement for alerts not yet delivered (pending, or failed earlier), oldest first.

    With `channels`, only alerts for those channels (a channel removed from the settings is
    left alone rather than retried forever).
    """
    stmt = select(AlertRow).where(AlertRow.status.in_(("pending", "failed")))
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
    """Record a failed attempt: still pending, or failed once `max_attempts` are used up.

    Failed alerts are still tried by later runs; the status tells people the channel has been
    down for a while.
    """
    session.execute(
        update(AlertRow)
        .where(AlertRow.id == alert_id, AlertRow.status != "sent")
        .values(
            status=case((AlertRow.attempts >= max_attempts, "failed"), else_="pending"),
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
        .where(AlertRow.status.in_(("pending", "failed")), AlertRow.attempts > 0)
    )
    return int(sent or 0), int(waiting or 0)

