"""How the sandbox's list endpoint scales with the number of services, against a bare SQLite SELECT.

Seeds N services into an in-memory sandbox through the app (POSTs over the ASGI transport), then
times `GET /services` with and without a label filter (median over --repeat runs) and, as the floor,
the same rows read by a bare `SELECT` on the sandbox's own connection. Prints a markdown table.

    python benchmarks/sandbox_scale.py [--sizes 100,1000,10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx

from ubiops_services_mcp.sandbox import create_app
from ubiops_services_mcp.sandbox.store import LIST_COLUMNS, Store

SERVICES = "/projects/demo/services"
SHARDS = 10  # each service gets label shard:<n % SHARDS>, so one label matches 1/SHARDS of them
FILTER = "shard:3"
RAW_ALL = f"SELECT {LIST_COLUMNS} FROM services s WHERE s.project = ? ORDER BY s.name"
RAW_LABEL = (
    f"SELECT {LIST_COLUMNS} FROM services s WHERE s.project = ? AND s.id IN"
    " (SELECT l.service_id FROM service_labels l WHERE l.project = ? AND l.key = ? AND l.value = ?)"
    " ORDER BY s.name"
)


def median_ms(samples: list[float]) -> float:
    """Median in milliseconds: robust to one slow run on a shared machine."""
    return statistics.median(samples) * 1000


async def timed(repeat: int, action: Callable[[], Awaitable[Any]]) -> float:
    """Median duration of `action` over `repeat` runs."""
    samples: list[float] = []
    for _ in range(repeat):
        started = time.perf_counter()
        await action()
        samples.append(time.perf_counter() - started)
    return median_ms(samples)


def raw_select(store: Store, repeat: int, sql: str, params: tuple[str, ...]) -> float:
    """Median duration of a bare SELECT + fetchall on the sandbox's own connection (the floor)."""
    conn = store._conn  # deliberately private: the same database and page cache the app reads
    samples: list[float] = []
    for _ in range(repeat):
        started = time.perf_counter()
        conn.execute(sql, params).fetchall()
        samples.append(time.perf_counter() - started)
    return median_ms(samples)


async def seed(client: httpx.AsyncClient, size: int) -> float:
    """Create `size` services through the API; returns seconds taken."""
    started = time.perf_counter()
    for n in range(size):
        body = {"name": f"svc-{n:06d}", "deployment": "hello-world", "port": 8080}
        response = await client.post(SERVICES, json={**body, "labels": {"shard": str(n % SHARDS)}})
        response.raise_for_status()
    return time.perf_counter() - started


async def measure(size: int, repeat: int) -> dict[str, float]:
    """One row of the table: a fresh sandbox of `size` services."""
    app = create_app()
    store: Store = app.state.store
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": "Token bench"}
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox/v2.1", headers=headers) as client:
            seconds = await seed(client, size)

            async def list_all() -> None:
                assert len((await client.get(SERVICES)).json()) == size

            async def list_label() -> None:
                (await client.get(SERVICES, params={"labels": FILTER})).raise_for_status()

            app_all, app_label = await timed(repeat, list_all), await timed(repeat, list_label)
        key, value = FILTER.split(":")
        raw_all = raw_select(store, repeat, RAW_ALL, ("demo",))
        raw_label = raw_select(store, repeat, RAW_LABEL, ("demo", "demo", key, value))
    finally:
        store.close()
    return {
        "seed": seconds,
        "app_all": app_all,
        "app_label": app_label,
        "raw_all": raw_all,
        "raw_label": raw_label,
    }


def table(rows: dict[int, dict[str, float]]) -> str:
    """The results as a markdown table."""
    lines = [
        "| services | seed (s) | list (ms) | raw SELECT (ms) | app/raw | list ?labels (ms) | raw (ms) | app/raw |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size, r in rows.items():
        ratio_all = r["app_all"] / max(r["raw_all"], 1e-6)
        ratio_label = r["app_label"] / max(r["raw_label"], 1e-6)
        lines.append(
            f"| {size} | {r['seed']:.2f} | {r['app_all']:.2f} | {r['raw_all']:.2f} | {ratio_all:.1f}x"
            f" | {r['app_label']:.2f} | {r['raw_label']:.2f} | {ratio_label:.1f}x |"
        )
    return "\n".join(lines)


async def main(sizes: list[int], repeat: int) -> None:
    """Measure every size in turn, smallest first, and print the table."""
    rows = {size: await measure(size, repeat) for size in sorted(sizes)}
    print(f"list latency, median of {repeat} runs; label filter {FILTER!r} matches 1/{SHARDS}\n")
    print(table(rows))


def parse_args() -> argparse.Namespace:
    """--sizes and --repeat; the defaults are the scale the sandbox promises."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000", help="comma-separated service counts")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median is reported)")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    anyio.run(main, [int(size) for size in args.sizes.split(",")], max(args.repeat, 1))
