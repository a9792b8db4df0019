"""A fake wall clock for the corpus, installed before any client library is imported:
`time.time`, `time.time_ns` and `datetime.datetime.now`/`utcnow` read it, so span times,
LiteLLM's start and end times and the fake server's `created` fields are the same on
every run. It moves 1 ms each time it is read (so a span's end follows its start), 2 s for
each request the fake server answers, and as far as a driver tells it between requests.
"""

import datetime as _datetime
import threading
import time as _time

_lock = threading.Lock()
_now_ns = 0


def set_utc(text):
    """Sets the clock to an RFC 3339 UTC time (`2026-11-16T09:00:00Z`)."""
    global _now_ns
    when = _datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    with _lock:
        _now_ns = int(when.timestamp()) * 1_000_000_000


def advance(seconds=0.0):
    global _now_ns
    with _lock:
        _now_ns += int(seconds * 1_000_000_000)


def _read_ns():
    global _now_ns
    with _lock:
        _now_ns += 1_000_000
        return _now_ns


def now_s():
    return _read_ns() // 1_000_000_000


def now_rfc3339():
    ns = _read_ns()
    when = _datetime.datetime.fromtimestamp(ns // 1_000_000_000, _datetime.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{(ns % 1_000_000_000) // 1000:06d}Z"


_RealDateTime = _datetime.datetime


class FakeDateTime(_RealDateTime):
    @classmethod
    def now(cls, tz=None):
        ns = _read_ns()
        utc = _RealDateTime.fromtimestamp(ns / 1e9, _datetime.timezone.utc)
        if tz is None:
            local = utc.replace(tzinfo=None)  # the corpus machine's zone is UTC
            return cls.combine(local.date(), local.time())
        moved = utc.astimezone(tz)
        return cls.combine(moved.date(), moved.time(), moved.tzinfo)

    @classmethod
    def utcnow(cls):
        return cls.now()

    @classmethod
    def today(cls):
        return cls.now()


def install():
    """Makes the fake clock the process's wall clock (call before importing the libraries)."""
    _time.time = lambda: _read_ns() / 1e9
    _time.time_ns = _read_ns
    _datetime.datetime = FakeDateTime
