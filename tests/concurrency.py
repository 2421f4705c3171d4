"""Helpers to fire real concurrent requests: threads that start together, each with its
own database connection (Django connections are per thread)."""
from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.db import connections
from rest_framework.test import APIClient

from users.services import token_issue

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


def token_client(key: str) -> APIClient:
    """An API client sending ``key`` as its token (one per thread: clients are not shared)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def owner_client(account) -> APIClient:
    """An API client for the owner of ``account``, with a fresh token."""
    return token_client(token_issue(user=account.user)[1])
