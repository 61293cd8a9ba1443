"""Options that decide how source fields map to canonical columns."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from ..errors import InputError
from ..privacy import DEFAULT_SESSION_COOKIE_RE, session_cookie_header_re, session_cookie_name_re
from ..sqltext import literal

CLIENT_IP_SOURCES = ("remote_addr", "xff", "xff-last")


@dataclass(frozen=True)
class FieldOptions:
    """Which source fields fill the canonical columns.

    Attributes:
        session_cookie: the session cookie's name; None means any cookie whose
            name ends in session, sess or sid, or is PHPSESSID.
        version_header: response header carrying the application version.
        edge_header: request header carrying the edge worker's verdict.
        user_header: response header carrying the signed-in user's id.
        client_ip_from: 'remote_addr' (the connecting address), 'xff' (the
            first X-Forwarded-For entry) or 'xff-last' (the last entry that
            is not a private or loopback proxy address).
        keep_raw_ips: store client IPs unhashed (off unless asked for).
        year: the year of timestamps that carry none (syslog's ``Jun 16
            09:29:41``); None: the file's modification year.
        not_before / not_after: the plausible window for timestamps (ISO
            dates or times); a record outside it is rejected. Default: from
            1990 to one day after the ingest.
    """

    session_cookie: str | None = None
    version_header: str = "x-app-version"
    edge_header: str = "x-edge-worker"
    user_header: str = "x-user-id"
    client_ip_from: str = "remote_addr"
    keep_raw_ips: bool = False
    year: int | None = None
    not_before: str | None = None
    not_after: str | None = None

    def __post_init__(self) -> None:
        if self.client_ip_from not in CLIENT_IP_SOURCES:
            raise InputError(f"--client-ip-from must be one of {', '.join(CLIENT_IP_SOURCES)}")
        if self.year is not None and not 1970 <= self.year <= 2100:
            raise InputError(f"--year {self.year} is not a plausible year")
        for name in ("not_before", "not_after"):
            value = getattr(self, name)
            if value is not None:
                try:
                    datetime.fromisoformat(value.replace("Z", "+00:00"))
                except ValueError:
                    raise InputError(f"--{name.replace('_', '-')} {value!r} is not an ISO date or time") from None

    def is_session_cookie(self, name: str) -> bool:
        """Whether a cookie of this name is the session cookie."""
        if self.session_cookie:
            return name.lower() == self.session_cookie.lower()
        return re.match(DEFAULT_SESSION_COOKIE_RE, name) is not None

    @property
    def session_cookie_name_re(self) -> str:
        """Full-match pattern (Python re and RE2) for the session cookie's name, as a JSON key."""
        return session_cookie_name_re(self.session_cookie)

    @property
    def session_cookie_sql_re(self) -> str:
        """RE2 pattern that finds the session cookie in a Cookie header."""
        return session_cookie_header_re(self.session_cookie)

    def session_cookie_sql(self, cookie_header: str) -> str:
        """SQL for the session cookie's value in a Cookie header expression (NULL when absent or empty)."""
        return f"nullif(regexp_extract({cookie_header}, {literal(self.session_cookie_sql_re)}, 1), '')"


def header_var(header: str) -> str:
    """nginx variable suffix for a header name: X-App-Version -> x_app_version."""
    return re.sub(r"[^a-z0-9]+", "_", header.lower())
