"""Work in lanes: items that must not run at the same time share a lane, lanes run side by side.

Ingest uses it to load files of different raw tables at once. Each DuckDB statement of a small
file costs milliseconds of planning in which DuckDB does not hold Python's lock, and a second
lane fills that time (the 2,000 demo's 127 files: see ingest/loader.py). Files of one raw table
stay in one lane, in order, so two transactions never alter or supersede the same table.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def group_into_lanes(keys: Sequence[Sequence[Hashable]]) -> list[list[int]]:
    """Indices of `keys` grouped so that two items sharing any key are in one lane; each lane
    keeps the items' order. Lanes are returned largest first."""
    parent = list(range(len(keys)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[Hashable, int] = {}
    for i, item_keys in enumerate(keys):
        for key in item_keys:
            if key in first:
                parent[root(i)] = root(first[key])
            else:
                first[key] = i
    lanes: dict[int, list[int]] = {}
    for i in range(len(keys)):
        lanes.setdefault(root(i), []).append(i)
    return sorted(lanes.values(), key=len, reverse=True)


def run_in_lanes(
    items: Sequence[T],
    lanes: list[list[int]],
    work: Callable[[T], R],
    workers: int,
    on_done: Callable[[R], None] | None = None,
) -> list[R]:
    """`work(item)` for every item, lane by lane on `workers` threads; results in the items'
    order. `on_done` is called on the calling thread as each result comes in. The first error
    stops every lane before its next item and is raised once the lanes have stopped."""
    results: list[R | None] = [None] * len(items)
    finished: queue.Queue[int | BaseException] = queue.Queue()
    stop = threading.Event()

    def run_lane(lane: list[int]) -> None:
        for i in lane:
            if stop.is_set():
                return
            try:
                results[i] = work(items[i])
            except BaseException as exc:  # handed to the calling thread, which raises it
                stop.set()
                finished.put(exc)
                return
            finished.put(i)

    with ThreadPoolExecutor(max(1, min(workers, len(lanes))), "cif-lane") as pool:
        for lane in lanes:
            pool.submit(run_lane, lane)
        try:
            for _ in range(len(items)):
                done = finished.get()
                if isinstance(done, BaseException):
                    raise done
                if on_done:
                    on_done(results[done])  # type: ignore[arg-type]
        finally:  # an error here or in a lane (or an interrupt): no lane starts another item
            stop.set()
    return results  # type: ignore[return-value]
