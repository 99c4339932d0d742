"""trailalerts: raise alerts from AWS CloudTrail activity.

A native (Rust) engine with a catalog of built-in alerts, custom alerts as dicts/JSON,
CloudWatch filter patterns, thresholds, ignores, and SQLite results storage.

    import trailalerts
    engine = trailalerts.Engine(alerts=[{"id": "root", "name": "Root used", "risk": "critical",
                                         "users": ["root"]}], builtin=False)
    for r in engine.evaluate(event):
        print(r.risk, r.alert_id, r.user)

Every error derives from :class:`TrailAlertsError` and carries a stable ``code``.
"""

from typing import Any, Iterable, Protocol, runtime_checkable

from ._native import (
    ChannelNotifier,
    Engine,
    InvalidAlertError,
    InvalidEventError,
    MemoryStorage,
    NotFoundError,
    NotificationError,
    Result,
    Scan,
    ScanError,
    SqliteStorage,
    Storage,
    StorageError,
    TrailAlertsError,
    __version__,
    builtin_alerts,
)


@runtime_checkable
class Notifier(Protocol):
    """Anything with ``send(result)`` can receive results from :func:`notify`."""

    def send(self, result: Result) -> None: ...


@runtime_checkable
class ResultSink(Protocol):
    """A user-written storage: anything with ``save(results) -> int`` works with :func:`notify`."""

    def save(self, results: list[Result]) -> int: ...


def notify(results: Iterable[Result], notifiers: Iterable[Notifier], storage: "ResultSink | Storage | None" = None) -> int:
    """Saves ``results`` to ``storage`` (native or any object with ``save``), then hands each
    result to every notifier. Returns how many results were sent. A notifier that raises stops
    nothing: its error is re-raised as :class:`NotificationError` after all were tried."""
    results = list(results)
    if storage is not None:
        storage.save(results)
    failures: list[str] = []
    sent = 0
    for n in notifiers:
        for r in results:
            try:
                n.send(r)
                sent += 1
            except Exception as e:  # noqa: BLE001 - reported below with the notifier's name
                failures.append(f"{type(n).__name__}: {e}")
    if failures:
        raise NotificationError("; ".join(failures))
    return sent


__all__ = [
    "Engine",
    "Result",
    "Scan",
    "Storage",
    "MemoryStorage",
    "SqliteStorage",
    "Notifier",
    "ChannelNotifier",
    "ResultSink",
    "notify",
    "builtin_alerts",
    "TrailAlertsError",
    "InvalidAlertError",
    "InvalidEventError",
    "StorageError",
    "NotFoundError",
    "ScanError",
    "NotificationError",
    "__version__",
]

_ = Any
