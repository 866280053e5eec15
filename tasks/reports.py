"""Sales report generation from deterministic sample order data."""

from __future__ import annotations

import csv
import os
import random
from datetime import date, datetime, timedelta
from typing import Literal

from .registry import task
from .settings import reports_dir

REGIONS = ("north", "south", "east", "west")
Region = Literal["north", "south", "east", "west", "all"]
CSV_HEADER = ["date", "region", "orders", "units", "revenue"]
MAX_DAYS = 366


def _sample_orders(days: int, seed: int, end: date):
    """Yield (day, region, units, cents) for every simulated order.

    All regions are always simulated, in a fixed order, so a region's figures
    for a given seed are the same whether or not the report is filtered.
    """
    rng = random.Random(seed)
    for offset in range(days - 1, -1, -1):
        day = end - timedelta(days=offset)
        for region in REGIONS:
            for _ in range(rng.randint(5, 40)):
                units = rng.randint(1, 5)
                unit_cents = rng.randint(500, 25_000)
                yield day, region, units, units * unit_cents


@task(queue="low", timeout=600)
def generate_sales_report(days: int = 7, region: Region = "all", seed: int = 0) -> dict:
    """Build a CSV sales report of orders, units and revenue per day and region.

    The order data is generated sample data: the same seed always gives the
    same figures, so reports can be compared across runs. The CSV is written to
    the reports folder of the data directory.

    - days: how many days back from today to include (1-366)
    - region: one region, or "all" for every region
    - seed: picks the sample data set
    """
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be a whole number from 1 to {MAX_DAYS}, got {days!r}")
    if region not in (*REGIONS, "all"):
        raise ValueError(f"region must be one of {', '.join((*REGIONS, 'all'))}; got {region!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be a whole number, got {seed!r}")

    end = date.today()
    # (day, region) -> [orders, units, cents]; insertion order is the row order.
    totals: dict[tuple[date, str], list[int]] = {}
    for day, order_region, units, cents in _sample_orders(days, seed, end):
        if region != "all" and order_region != region:
            continue
        bucket = totals.setdefault((day, order_region), [0, 0, 0])
        bucket[0] += 1
        bucket[1] += units
        bucket[2] += cents

    stamp = datetime.now().strftime("%Y%m%dT%H%M%S%f")
    path = reports_dir() / f"sales_{region}_{days}d_seed{seed}_{stamp}.csv"
    # Write then rename so a reader (or the clean-up task) never sees half a file.
    tmp = path.with_suffix(".csv.part")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_HEADER)
        for (day, row_region), (orders, units, cents) in totals.items():
            writer.writerow([day.isoformat(), row_region, orders, units, f"{cents / 100:.2f}"])
    os.replace(tmp, path)

    total_cents = sum(b[2] for b in totals.values())
    return {
        "path": str(path),
        "rows": len(totals),
        "total": round(total_cents / 100, 2),
        "orders": sum(b[0] for b in totals.values()),
        "units": sum(b[1] for b in totals.values()),
        "days": days,
        "region": region,
        "seed": seed,
        "period": [(end - timedelta(days=days - 1)).isoformat(), end.isoformat()],
    }
