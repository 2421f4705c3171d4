"""Helpers to fire real concurrent requests: threads that start together, each with its
own database connection (Django connections are per thread)."""
from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.db import connections

T = TypeVar("T")


def run_concurrently(workers: int, task: Callable[[int], T], *, timeout: float = 120) -> list[T]:
    """Run ``task(i)`` for i in range(workers), all released at the same instant."""
    barrier = threading.Barrier(workers)

    def worker(index: int) -> T:
        try:
            barrier.wait(timeout=timeout)
            return task(index)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(worker, i) for i in range(workers)]
        return [f.result(timeout=timeout) for f in futures]
