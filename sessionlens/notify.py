"""Telling people: a webhook post (Slack-compatible), a PagerDuty event, a command hook.

``nightly`` posts its summary and ``watch`` its alerts through here. Every
sender returns None or one line saying why it failed, and never raises: an
alert that cannot be delivered is reported, and the job goes on. Each has
one total deadline: a server answering a byte at a time, a DNS lookup that
hangs or a hook that never exits cannot hold the caller past it.
"""

from __future__ import annotations

import email.utils
import json
import math
import os
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone

from .errors import InputError

WEBHOOK_TIMEOUT = 30.0  # seconds, all attempts and waits included
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"  # Events API v2
HOOK_TIMEOUT = 30.0


def check_url(url: str, option: str) -> None:
    """Raises InputError unless ``url`` is an http(s) URL (checked before any work, not at the first alert)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(f"{option} {url}: not an http(s) URL")


def _plural(n: int) -> str:
    return f"{n} attempt{'' if n == 1 else 's'}"


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After header as seconds from now: delta-seconds or an HTTP-date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _send(url: str, body: bytes, timeout: float, box: dict) -> None:
    """One POST; runs in a daemon thread and leaves its outcome in ``box``."""
    try:
        req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            box["status"], box["retry_after"] = resp.status, resp.headers.get("Retry-After")
    except urllib.error.HTTPError as exc:
        box["status"], box["retry_after"] = exc.code, exc.headers.get("Retry-After") if exc.headers else None
        exc.close()
    except Exception as exc:  # noqa: BLE001 - connection errors of every kind; nothing may escape the thread
        box["error"] = str(getattr(exc, "reason", None) or exc) or type(exc).__name__


def _retryable(status: int | None) -> bool:
    """Connection errors, 429 and 5xx are worth another try; any other answer is final."""
    return status is None or status == 429 or status >= 500


def post_webhook(url: str, text: str, timeout: float = WEBHOOK_TIMEOUT, attempts: int = 3,
                 backoff: float = 1.0) -> str | None:
    """Posts {"text": ...} (Slack-compatible); returns None, or why it failed (see :func:`post_json`)."""
    return post_json(url, {"text": text}, timeout=timeout, attempts=attempts, backoff=backoff)


def post_json(url: str, payload: dict, timeout: float = WEBHOOK_TIMEOUT, attempts: int = 3,
              backoff: float = 1.0) -> str | None:
    """Posts ``payload`` as JSON; returns None, or why it failed.

    ``timeout`` is the total deadline in seconds, retries and waits included.
    Each attempt runs in a daemon thread joined with the time left, so a
    server that answers one byte at a time (or a DNS lookup that hangs)
    cannot hold the caller past the deadline; an abandoned attempt ends with
    the process. A 4xx answer (other than 429) is final; 429, 5xx and
    connection errors are retried, after ``Retry-After`` (seconds or an
    HTTP-date) when the server sends one, else after an exponential backoff,
    and only while the deadline allows.
    """
    deadline = time.monotonic() + timeout
    body = json.dumps(payload).encode()
    error = "no attempt made"
    for attempt in range(1, attempts + 1):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return f"webhook failed after {_plural(attempt - 1)}: {error}; the {timeout:g}s deadline passed"
        box: dict = {}
        worker = threading.Thread(target=_send, args=(url, body, remaining, box), name="sessionlens-webhook",
                                  daemon=True)
        worker.start()
        worker.join(remaining)
        if worker.is_alive():
            return f"webhook failed after {_plural(attempt)}: no complete answer within the {timeout:g}s deadline"
        status = box.get("status")
        if status is not None and 200 <= status < 300:
            return None
        error = f"HTTP {status}" if status is not None else box.get("error", "unknown error")
        if not _retryable(status):
            return f"webhook failed after {_plural(attempt)}: {error} (not retried)"
        if attempt == attempts:
            break
        wait = retry_after_seconds(box.get("retry_after"))
        if wait is None:
            wait = backoff * (2 ** (attempt - 1))
        if time.monotonic() + wait >= deadline:
            return (f"webhook failed after {_plural(attempt)}: {error}; the next try (in {wait:g}s) "
                    f"would pass the {timeout:g}s deadline")
        time.sleep(wait)
    return f"webhook failed after {_plural(attempts)}: {error}"


def slack_escape(text: str) -> str:
    """Slack reads <...> as links and mentions: its docs ask for &, < and > as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def pagerduty_event(routing_key: str, action: str, dedup_key: str, summary: str, *, source: str,
                    severity: str = "error", details: dict | None = None, url: str = PAGERDUTY_URL,
                    timeout: float = WEBHOOK_TIMEOUT) -> str | None:
    """Sends a PagerDuty Events API v2 event (``trigger`` or ``resolve``); returns None, or why it failed.

    ``dedup_key`` ties the trigger to its resolve, and makes a trigger sent
    twice (a restart between sending and recording it) one incident.
    PagerDuty limits the summary to 1,024 characters.
    """
    event: dict = {"routing_key": routing_key, "event_action": action, "dedup_key": dedup_key}
    if action == "trigger":
        event["payload"] = {"summary": summary[:1024], "source": source, "severity": severity,
                            "component": "sessionlens", "custom_details": details or {}}
    return post_json(url, event, timeout=timeout)


def run_hook(command: str, payload: dict, timeout: float = HOOK_TIMEOUT) -> str | None:
    """Runs ``command`` in the shell with the alert as JSON on its standard input; None, or why it failed.

    The hook also gets ``SESSIONLENS_EVENT`` (``onset`` or ``resolved``) and
    ``SESSIONLENS_SUMMARY`` (the one-line text) in its environment.
    """
    env = {**os.environ, "SESSIONLENS_EVENT": str(payload.get("event", "")),
           "SESSIONLENS_SUMMARY": str(payload.get("summary", ""))}
    try:
        done = subprocess.run(command, shell=True, input=json.dumps(payload).encode(), env=env, timeout=timeout,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    except subprocess.TimeoutExpired:
        return f"hook did not finish within {timeout:g}s"
    except OSError as exc:
        return f"hook could not run: {exc.strerror or exc}"
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        return f"hook exited {done.returncode}" + (f": {said[-1][:200]}" if said else "")
    return None
