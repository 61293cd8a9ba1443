"""What the anomaly detectors report: one dataclass per kind, with a size and its unit.

Each anomaly has the common fields (``kind``, ``start``, ``end``,
``explained_by``, ``evidence``), the counts of its kind, and a headline
``size`` with its ``unit``:

============================  ==============================================  ===========
kind                          size                                            unit
============================  ==============================================  ===========
``session_sharing``           distinct users on the shared sessions (browsers  ``users``
                              counted as users where the logs name nobody);
                              the sessions when there are none
``logout_loop``               clients caught in the loop                      ``clients``
``mass_invalidation``         users hit (browsers where the logs name          ``users``
                              nobody); the sessions when there are none
``cross_account_enrollment``  accounts the one device is enrolled on          ``accounts``
============================  ==============================================  ===========

``to_json()`` gives the object of the ``anomalies`` list in
``../shared/spec/analysis-json.md``: the keys, their order and their values
are part of the contract (times as ISO 8601 UTC text).

Each kind also owns its wording: ``describe()`` is its size in words with its
period (what ``text.anomaly_size`` shows everywhere), built from the kind's
``size_text()``; ``headline_counts()`` are the counts a one-line finding names.
A new kind that overrides neither is shown by its ``size`` and ``unit``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from ...changes.model import iso
from ..text import duration, plural


@dataclass(kw_only=True)
class Anomaly(ABC):
    """A session problem a rate alone does not show.

    Attributes:
        start: when it began.
        end: when it was last seen (``start`` for a single moment).
        explained_by: the id of the change that most likely caused it, or None.
        evidence: sentences a reader can check.
    """

    kind: ClassVar[str] = "anomaly"
    start: datetime
    end: datetime
    explained_by: str | None = None
    evidence: list[str] = field(default_factory=list)

    @property
    @abstractmethod
    def size(self) -> int:
        """The headline size, in ``unit``."""

    @property
    @abstractmethod
    def unit(self) -> str:
        """What ``size`` counts (plural): ``users``, ``clients``, ``accounts``, ``sessions``."""

    @property
    def period_seconds(self) -> int | None:
        """The window the counts are taken over, when the detector counts in one (else None)."""
        return None

    def size_text(self) -> str:
        """The size in words, without its period: ``1 session used by 33 distinct users``."""
        return f"{self.unit.replace('_', ' ')} {self.size:,}"

    def describe(self) -> str:
        """The size in words, with its unit and period.

        For example ``412 clients looping, up to 57 logout/login cycles per client within 10 min``.

        The period is the detector's counting window when it has one
        (``period_seconds`` of a logout loop), else the anomaly's own span from
        ``start`` to ``end`` (nothing for a single moment).
        """
        period = self.period_seconds
        if period:
            within = f"within {duration(period)}"
        else:
            within = f"over {duration((self.end - self.start).total_seconds())}" if self.end > self.start else ""
        text = self.size_text()
        return f"{text} {within}".strip() if text else within

    def headline_counts(self) -> dict[str, int]:
        """The counts a one-line finding names (``users=33``), keyed as the JSON keys them.

        Counts the kind does not know (None) are left out.
        """
        return {self.unit: self.size}

    def _counts(self) -> dict[str, Any]:
        """The kind's own keys, written between ``end`` and ``explained_by``."""
        return {}

    def _trailer(self) -> dict[str, Any]:
        """The kind's keys written after ``evidence``."""
        return {}

    def to_json(self) -> dict[str, Any]:
        """The contract's object for this anomaly."""
        return {"kind": self.kind, "start": iso(self.start), "end": iso(self.end), **self._counts(),
                "explained_by": self.explained_by, "evidence": self.evidence, **self._trailer()}


@dataclass(kw_only=True)
class SessionSharingAnomaly(Anomaly):
    """One session (or several close together) used by several distinct users.

    Attributes:
        sessions: the shared sessions.
        users: distinct users on them; where the logs name nobody, the distinct
            browsers (address + user agent) on the cookie, each taken for a person.
        users_estimated: whether ``users`` counts browsers.
        clients: distinct client addresses.
        user_keys: keyed hashes of the users (who to tell, without naming anyone).
    """

    kind: ClassVar[str] = "session_sharing"
    sessions: int
    users: int
    users_estimated: bool
    clients: int
    user_keys: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return self.users or self.sessions

    @property
    def unit(self) -> str:
        return "users" if self.users else "sessions"

    def size_text(self) -> str:
        sessions = plural(self.sessions or 1, "session")
        if self.users:
            return f"{sessions} used by {plural(self.users, 'distinct user')}"
        if self.clients:
            return f"{sessions} used from up to {plural(self.clients, 'client address', 'client addresses')} at once"
        return sessions

    def headline_counts(self) -> dict[str, int]:
        return {"sessions": self.sessions, "users": self.users, "clients": self.clients}

    def _counts(self) -> dict[str, Any]:
        return {"sessions": self.sessions, "users": self.users, "users_estimated": self.users_estimated,
                "clients": self.clients}

    def _trailer(self) -> dict[str, Any]:
        return {"user_keys": self.user_keys}


@dataclass(kw_only=True)
class LogoutLoopAnomaly(Anomaly):
    """Clients cycling rejected request -> logout -> login many times within minutes.

    Attributes:
        clients: clients looping.
        users: users among them (each client counted as one person where the logs name nobody).
        sessions: session keys seen on their logouts, or None.
        max_cycles: the most logouts one client made in any ``window_seconds``.
        window_seconds: the counting window (``period_seconds`` in the JSON).
        total_cycles: every logout of the looping clients while looping.
    """

    kind: ClassVar[str] = "logout_loop"
    clients: int
    users: int
    sessions: int | None
    max_cycles: int
    window_seconds: int
    total_cycles: int

    @property
    def size(self) -> int:
        return self.clients

    @property
    def unit(self) -> str:
        return "clients"

    @property
    def period_seconds(self) -> int | None:
        return self.window_seconds

    def size_text(self) -> str:
        return (f"{plural(self.clients, 'client')} looping, "
                f"up to {plural(self.max_cycles, 'logout/login cycle')} per client")

    def headline_counts(self) -> dict[str, int]:
        return _known({"sessions": self.sessions, "users": self.users, "clients": self.clients,
                       "max_cycles": self.max_cycles})

    def _counts(self) -> dict[str, Any]:
        return {"clients": self.clients, "users": self.users, "sessions": self.sessions,
                "max_cycles": self.max_cycles, "period_seconds": self.window_seconds,
                "total_cycles": self.total_cycles}


@dataclass(kw_only=True)
class MassInvalidationAnomaly(Anomaly):
    """Valid sessions wiped at once.

    Attributes:
        users: users hit (from app events, or browsers where access logs name nobody).
        users_estimated: whether ``users`` counts browsers; None (not written) when
            app events name the users.
        sessions: sessions hit, or None when unknown.
        clients: client addresses, or None when unknown.
        peak_users: the most users hit in one window (app events; not written when None).
        peak_sessions: the most sessions hit in one window (access logs; not written when None).
        peak_window_seconds: that window's length.
        sources: ``app_events``, ``access_logs`` or both.
    """

    kind: ClassVar[str] = "mass_invalidation"
    users: int
    users_estimated: bool | None = None
    sessions: int | None = None
    clients: int | None = None
    peak_users: int | None = None
    peak_sessions: int | None = None
    peak_window_seconds: int
    sources: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return self.users or self.sessions or 0

    @property
    def unit(self) -> str:
        return "users" if self.users or not self.sessions else "sessions"

    def size_text(self) -> str:
        return f"{plural(self.users, 'user')} hit by session errors"

    def headline_counts(self) -> dict[str, int]:
        return _known({"sessions": self.sessions, "users": self.users, "clients": self.clients})

    def _counts(self) -> dict[str, Any]:
        out: dict[str, Any] = {"users": self.users}
        if self.users_estimated is not None:
            out["users_estimated"] = self.users_estimated
        out |= {"sessions": self.sessions, "clients": self.clients}
        if self.peak_users is not None:
            out["peak_users"] = self.peak_users
        if self.peak_sessions is not None:
            out["peak_sessions"] = self.peak_sessions
        out["peak_window_seconds"] = self.peak_window_seconds
        return out

    def _trailer(self) -> dict[str, Any]:
        return {"sources": self.sources}


@dataclass(kw_only=True)
class CrossAccountEnrollmentAnomaly(Anomaly):
    """One MFA device or factor attached to many accounts.

    Attributes:
        device: the device key (a keyed hash).
        users: the accounts it was enrolled on.
    """

    kind: ClassVar[str] = "cross_account_enrollment"
    device: str
    users: int

    @property
    def size(self) -> int:
        return self.users

    @property
    def unit(self) -> str:
        return "accounts"

    def size_text(self) -> str:
        return f"one device on {plural(self.users, 'account')}"

    def headline_counts(self) -> dict[str, int]:
        return {"users": self.users}  # the JSON's name: the accounts are users

    def _counts(self) -> dict[str, Any]:
        return {"device": self.device, "users": self.users}


def _known(counts: dict[str, int | None]) -> dict[str, int]:
    """The counts that are known (not None), in their order."""
    return {k: v for k, v in counts.items() if v is not None}
