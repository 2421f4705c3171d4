"""How the data of events that are not stored whole is rendered when read.

A ``transaction.created`` event names its ledger entry, which never changes, instead of
keeping a copy of it: the ledger (``transactions``) registers here how to render entries
as its API answers them, so that this app need not import the ledger."""
from __future__ import annotations

from collections.abc import Callable

# event type -> function(ids of the rows the events name) -> {id: the data to show}
Renderer = Callable[[list[int]], dict[int, dict]]
_renderers: dict[str, Renderer] = {}


def register(event_type: str, renderer: Renderer) -> None:
    _renderers[event_type] = renderer


def renderer(event_type: str) -> Renderer:
    return _renderers[event_type]


# Jobs the delivery worker runs every so many seconds (name -> (function, seconds)): the
# apps that need one register it (the ledger's expiry of holds), so that the worker, one
# process to run beside the web server, need not know them.
_periodic: dict[str, tuple[Callable[[], object], Callable[[], float]]] = {}


def register_periodic(name: str, job: Callable[[], object], every: Callable[[], float]) -> None:
    """``every()`` is read each time, so that settings can change it (tests)."""
    _periodic[name] = (job, every)


def periodic() -> dict[str, tuple[Callable[[], object], Callable[[], float]]]:
    return dict(_periodic)
