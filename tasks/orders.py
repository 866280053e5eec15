"""Reactions to orders: the subscribers of the incoming event "order.created".

Publishing "order.created" (POST /api/v1/events, or the console's test form) enqueues both tasks below
with the event's payload as keyword arguments, so they take the same parameters: a payload key one of
them did not know would be refused for both (nothing is enqueued then).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

from .notifications import send_email_notification, validate_address
from .registry import task
from .settings import reports_dir

ORDER_CREATED = "order.created"
Currency = Literal["EUR", "USD", "GBP"]
LEDGER = "orders-ledger.csv"
# Order ids go into a subject line and a CSV cell: a plain token keeps both unambiguous.
_ORDER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
MAX_TOTAL = 10_000_000


def _check(order_id: str, total: float) -> None:
    if not _ORDER_ID.match(order_id):
        raise ValueError(f"order_id: letters, digits, - and _ only (at most 64), got {order_id[:80]!r}")
    if not 0 <= total <= MAX_TOTAL:
        raise ValueError(f"total: must be between 0 and {MAX_TOTAL:,}, got {total!r}")


@task(queue="high", timeout=60, on=ORDER_CREATED)
def send_order_confirmation(order_id: str, customer: str, total: float, currency: Currency = "EUR") -> dict:
    """E-mail the customer that their order was received.

    - order_id: the shop's order number (letters, digits, - and _)
    - customer: the customer's e-mail address
    - total: the order's total amount
    - currency: EUR, USD or GBP

    Delivered like send_email_notification (SMTP when configured, else the local outbox).
    """
    _check(order_id, total)
    body = f"Thank you for your order {order_id}.\n\nTotal: {total:,.2f} {currency}\n"
    delivery = send_email_notification(customer, f"Order {order_id} received", body)
    return {"order_id": order_id, **delivery}


@task(queue="default", timeout=60, on=ORDER_CREATED)
def record_order(order_id: str, customer: str, total: float, currency: Currency = "EUR") -> dict:
    """Append the order to the revenue ledger (orders-ledger.csv in the reports folder).

    - order_id: the shop's order number (letters, digits, - and _)
    - customer: the customer's e-mail address
    - total: the order's total amount (0 to 10,000,000)
    - currency: EUR, USD or GBP
    """
    _check(order_id, total)
    _, email = validate_address(customer, "customer")
    line = f"{datetime.now(UTC).isoformat(timespec='seconds')},{order_id},{email},{total:.2f},{currency}\n"
    path = reports_dir() / LEDGER
    # One write of one short line in append mode: concurrent workers never interleave inside a line.
    with open(path, "a", encoding="utf-8") as ledger:
        ledger.write(line)
    return {"order_id": order_id, "ledger": LEDGER, "total": round(total, 2), "currency": currency}
