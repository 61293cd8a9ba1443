"""Privacy: keyed hashes, cookie formats and redaction.

Raw session cookies, tokens, user ids and client IPs never reach the lake.
Each is replaced, inside the SQL that normalises a batch, by a keyed hash
(SHA-256 of a secret key kept beside the lake, plus a namespace, plus the
value), so one session or client can still be followed across requests
while the value itself cannot be recovered without the key.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path

from .sqltext import literal

KEY_FILE = "_key"
HASH_HEX_CHARS = 16  # 64 bits: collisions are negligible at a lake's scale

# Namespaces keep a user id "42" and a session "42" from hashing alike.
NAMESPACES = ("ip", "session", "user", "device", "origin")

# Cookie formats, most specific first; each is a full-match RE2 pattern.
# The value may be URL-encoded (%2B, %3D, %2F) as cookies often are.
_B64 = r"[A-Za-z0-9+/=%_-]"
COOKIE_FORMATS: list[tuple[str, str]] = [
    ("rails-signed-sha1", rf"{_B64}+--[0-9a-f]{{40}}"),
    ("rails-signed-sha256", rf"{_B64}+--[0-9a-f]{{64}}"),
    ("rails-encrypted-gcm", rf"{_B64}+--{_B64}+--{_B64}+"),
    ("rails-encrypted-cbc", rf"{_B64}+--{_B64}+"),
    ("jwt", r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),
    ("php", r"[a-z0-9,-]{26,40}"),
]

# Default session cookie names, defined here once: a name ending in one of
# these (in any case), or one of the whole names.
SESSION_COOKIE_ENDINGS = ("session", "sess", "sid")
SESSION_COOKIE_NAMES = ("PHPSESSID",)
# A whole cookie name (Python re and RE2): r"(?i)^(.*(session|sess|sid)|phpsessid)$".
DEFAULT_SESSION_COOKIE_RE = (
    rf"(?i)^(.*({'|'.join(SESSION_COOKIE_ENDINGS)})|{'|'.join(n.lower() for n in SESSION_COOKIE_NAMES)})$"
)


def _any_case(word: str) -> str:
    """RE2 for a word in any case, for a pattern that is case-sensitive elsewhere: sid -> [Ss][Ii][Dd]."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word)


# The default names inside a Cookie header (RE2): the name's characters stop
# at "=" and ";", and the case-insensitive part is the ending only.
DEFAULT_SESSION_COOKIE_IN_HEADER_RE = (
    rf"[A-Za-z0-9_.-]*(?:{'|'.join(map(_any_case, SESSION_COOKIE_ENDINGS))})"
    rf"|{'|'.join(map(re.escape, SESSION_COOKIE_NAMES))}"
)


def session_cookie_name_re(name: str | None = None) -> str:
    """A full-match pattern (Python re and RE2) for the session cookie's name.

    Args:
        name: the cookie's name, matched in any case; None: the default names.
    """
    return f"(?i)^{re.escape(name)}$" if name else DEFAULT_SESSION_COOKIE_RE


def session_cookie_header_re(name: str | None = None) -> str:
    """RE2 whose group 1 is the session cookie's value in a Cookie header.

    Args:
        name: the cookie's name (exactly); None: the default names.
    """
    return rf"(?:^|;\s*)(?:{re.escape(name) if name else DEFAULT_SESSION_COOKIE_IN_HEADER_RE})=([^;\s]*)"

# What a redacted excerpt hides. Order matters: cookies before tokens.
_REDACTIONS: list[tuple[str, str]] = [
    # header or scheme forms with a space: "Bearer X", "token X", "x-api-key X", "Basic X"
    (r"(?i)\b((?:bearer|basic|digest|token|x-api-key|api-key|apikey|x-auth-token|otp)[\"']?:?\s+)[^\s\"',;]+",
     r"\1<redacted>"),
    # name=value pairs (also JSON "name": "value") whose name looks like a secret or an identity
    (
        r"(?i)((?:session|sess|sid|token|auth|cookie|password|passwd|secret|key|user|uid|email|account|device|ip|otp|"
        r"jwt|csrf|nonce|bearer|signature|sig|credential)"
        r"[A-Za-z0-9_.-]*[\"']?\s*(?:=>|[=:])\s*[\"']?)[^\s\"';&,}]+",
        r"\1<redacted>",
    ),
    # email addresses
    (r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+", "<email>"),
    # IPv4, also glued to other text (no \b: '198.51.100.2130' or 'x10.0.0.1'
    # must not keep an address whole)
    (r"\d{1,3}(?:\.\d{1,3}){3}", "<ip>"),
    # IPv6: eight groups, or '::' with groups on both sides, or the loopback;
    # not a time of day (2023:16:09:14) nor a Ruby constant (Admin::Book)
    (
        r"\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b"
        r"|\b(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}:){0,5}[0-9A-Fa-f]{1,4}\b|::1\b",
        "<ip>",
    ),
    # long token-like runs: base64, hex, JWT parts. A run starts with 20
    # characters other than '/', so a path keeps its shape (/account/confirm/
    # <redacted>) while a base64 value with slashes is hidden from its first
    # long run on.
    (r"[A-Za-z0-9+_=%-]{20,}(?:/[A-Za-z0-9+_=%-]*)*", "<redacted>"),
]
EXCERPT_CHARS = 160


def load_or_create_key(lake: Path) -> str:
    """Returns the lake's hashing key, creating it (mode 0600) on first use."""
    path = Path(lake) / KEY_FILE
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # O_EXCL: two processes creating the key at once must not both win.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def keyed_hash(key: str, namespace: str, value: str | None) -> str | None:
    """Python twin of :func:`hash_sql`, for tests and for looking values up."""
    if value is None or value in ("", "-"):
        return None
    digest = hashlib.sha256(f"{key}{namespace}:{value}".encode()).hexdigest()
    return digest[:HASH_HEX_CHARS]


def hash_sql(expr: str, namespace: str) -> str:
    """SQL for the keyed hash of ``expr``; the key is a DuckDB variable.

    The key is set with ``SET VARIABLE sl_key`` so it never appears in query
    text (and so never in an error message).
    """
    assert namespace in NAMESPACES
    return (
        f"CASE WHEN nullif(nullif({expr}, ''), '-') IS NULL THEN NULL "
        f"ELSE left(sha256(getvariable('sl_key') || {literal(namespace + ':')} || {expr}), {HASH_HEX_CHARS}) END"
    )


def cookie_format_sql(expr: str) -> str:
    """SQL CASE that names a cookie value's format from its shape."""
    arms = " ".join(
        f"WHEN regexp_full_match({expr}, {literal(pattern)}) THEN {literal(name)}" for name, pattern in COOKIE_FORMATS
    )
    return f"CASE WHEN nullif(nullif({expr}, ''), '-') IS NULL THEN 'none' {arms} ELSE 'opaque' END"


def cookie_format(value: str | None) -> str:
    """Python twin of :func:`cookie_format_sql`."""
    if value is None or value in ("", "-"):
        return "none"
    for name, pattern in COOKIE_FORMATS:
        if re.fullmatch(pattern, value):
            return name
    return "opaque"


# --- secrets inside URLs: path, route, referer ------------------------------
# Path segments that follow one of these carry one-time secrets
# (/password/reset/<token>, /invite/<code>, /magic/<link>).
SECRET_AFTER = (
    "reset|resets|token|tokens|confirm|confirmation|confirmations|magic|magic_link|magic-link|invite|invites|"
    "invitation|invitations|activate|activation|verify|verification|unlock|unsubscribe|otp|auth|sso|login|signin|"
    "sign_in|password|passwords|share|download|oauth|callback|key|secret|api_key|apikey|session|sessions"
)
# Replacements applied in order to a path or URL (RE2, global). Each is a
# shape a secret takes in URLs that logs keep.
URL_SCRUBS: list[tuple[str, str]] = [
    # user:password@ before the host
    (r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@?#]*@", r"\1"),
    # a fragment (#access_token=... from OAuth implicit flows)
    (r"#.*$", ""),
    # path parameters: ;jsessionid=..., ;sid=...
    (r";[^/?#]*", ""),
    # e-mail addresses, plain or %40-encoded
    (r"[A-Za-z0-9._+-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}", ":email"),
    # JWTs anywhere
    (r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*", ":secret"),
]
_SCRUB_TRIGGER = (
    rf"(?i)[;#@]|%40|eyJ|/(?:{SECRET_AFTER})/|/[A-Za-z0-9_~+=-]{{24,}}"
)


def scrub_url_sql(expr: str) -> str:
    """SQL removing secrets from a path or URL (see ``URL_SCRUBS``).

    Most paths hold none of the shapes: one cheap test skips the rewrites.
    """
    out = expr
    for pattern, repl in URL_SCRUBS:
        out = f"regexp_replace({out}, {literal(pattern)}, {literal(repl)}, 'g')"
    # Per segment (RE2 has no lookahead): after a secret-bearing word, a
    # segment of 16+ characters, or of 6+ mixing letters and digits, is a
    # token; anywhere, a 24+ character segment mixing upper and lower case
    # and digits is one too (slugs are lower case, ids are numbers).
    segments = f"string_split({out}, '/')"
    mixed = "(regexp_matches(x, '[A-Za-z]') AND regexp_matches(x, '[0-9]'))"
    after = f"regexp_full_match(lower(coalesce(s[i - 1], '')), {literal(SECRET_AFTER)})"
    token = (f"lambda x, i: CASE WHEN {after} AND (length(x) >= 16 OR (length(x) >= 6 AND {mixed})) THEN ':secret' "
             "WHEN length(x) >= 24 AND regexp_full_match(x, '[A-Za-z0-9_~+=.-]+') AND regexp_matches(x, '[a-z]') "
             "AND regexp_matches(x, '[A-Z]') AND regexp_matches(x, '[0-9]') THEN ':secret' ELSE x END")
    out = f"(SELECT array_to_string(list_transform(s, {token}), '/') FROM (SELECT {segments} AS s))"
    return f"CASE WHEN regexp_matches({expr}, {literal(_SCRUB_TRIGGER)}) THEN {out} ELSE {expr} END"


def redact_sql(expr: str) -> str:
    """SQL that turns a raw line into a short excerpt with secrets removed."""
    out = expr
    for pattern, repl in _REDACTIONS:
        out = f"regexp_replace({out}, {literal(pattern)}, {literal(repl)}, 'g')"
    return f"left({out}, {EXCERPT_CHARS})"


def redact(text: str) -> str:
    """Python twin of :func:`redact_sql`, for messages built outside SQL."""
    out = text
    for pattern, repl in _REDACTIONS:
        out = re.sub(pattern, repl.replace("\\1", r"\1"), out)
    return out[:EXCERPT_CHARS]
