"""Run several producers (one per account/region) in threads and consume their items in one place.

The consumer (the ingester, which owns the database connection) stays on the calling thread; at most
``maxsize`` items wait in memory. A producer's exception is delivered as an item, not raised, so one
refused account does not stop the others.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Item(Generic[T]):
    producer: int
    value: T | None = None
    error: BaseException | None = None
    done: bool = False  # the producer finished (normally, or with ``error``)


def interleave(
    producers: list[Callable[[], Iterator[T]]],
    *,
    workers: int = 4,
    maxsize: int = 16,
    stop: threading.Event | None = None,
) -> Iterator[Item[T]]:
    """Yield every producer's items as they come, then one ``done`` item per producer."""
    if not producers:
        return
    q: queue.Queue[Item[T]] = queue.Queue(maxsize=maxsize)
    halt = stop or threading.Event()
    cancelled = threading.Event()

    def put(item: Item[T]) -> bool:
        while not cancelled.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run(index: int) -> None:
        try:
            for value in producers[index]():
                if halt.is_set() or not put(Item(index, value=value)):
                    break
        except BaseException as exc:
            put(Item(index, error=exc, done=True))
            return
        put(Item(index, done=True))

    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(producers))), thread_name_prefix="kmsdiag-pull")
    for i in range(len(producers)):
        pool.submit(run, i)
    finished = 0
    try:
        while finished < len(producers):
            item = q.get()
            if item.done:
                finished += 1
            yield item
    finally:
        cancelled.set()
        pool.shutdown(wait=True, cancel_futures=True)
