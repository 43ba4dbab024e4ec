"""Fault-injection rules: which request misbehaves, how, and how often (seeded RNG)."""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass
from typing import Any

ROUTES = ("create", "query", "cancel", "list", "upload_policy", "upload", "video", "*")

#: kind -> the routes it can apply to ("*" rules apply a kind only where it makes sense).
KIND_ROUTES: dict[str, frozenset[str]] = {
    "error": frozenset(ROUTES[:-1]),
    "drop": frozenset(ROUTES[:-1]),
    "slow": frozenset(ROUTES[:-1]),
    "truncate": frozenset({"video"}),
    "moderate_input": frozenset({"create"}),
    "fail_task": frozenset({"create"}),
    "expire_url": frozenset({"video"}),
}


@dataclass
class FaultRule:
    """One rule; see :meth:`FaultRules.add` for the fields."""

    id: int
    route: str
    kind: str
    times: int | None = None
    probability: float | None = None
    every: int | None = None
    status: int | None = None
    code: str | None = None
    message: str | None = None
    retry_after: float | None = None
    delay: float | None = None
    after: bool = False
    match: str | None = None
    seen: int = 0
    fired: int = 0

    def applies_to(self, route: str, prompt: str | None) -> bool:
        """Whether a request on ``route`` (with this prompt, if known) is one this rule counts."""
        if self.route not in ("*", route) or route not in KIND_ROUTES[self.kind]:
            return False
        if self.match is not None:
            return prompt is not None and self.match in prompt
        return True

    @property
    def spent(self) -> bool:
        """A ``times=N`` rule that has fired N times."""
        return self.times is not None and self.fired >= self.times

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (for the admin endpoint)."""
        return asdict(self)


class FaultRules:
    """The live rule list. Thread-safe; the first rule that fires for a request wins."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._rng = random.Random(f"faults:{seed}")
        self._next_id = 1
        self.fired_total = 0

    def add(
        self,
        route: str,
        kind: str,
        *,
        times: int | None = None,
        probability: float | None = None,
        every: int | None = None,
        status: int | None = None,
        code: str | None = None,
        message: str | None = None,
        retry_after: float | None = None,
        delay: float | None = None,
        after: bool = False,
        match: str | None = None,
    ) -> int:
        """Add a rule and return its id.

        ``route``: one of :data:`ROUTES`. ``kind``: error, drop, slow, truncate, moderate_input,
        fail_task, expire_url. ``times=N`` fires N times then is spent, ``probability=p`` fires
        with probability p, ``every=k`` on every k-th matching request; none of them: always.
        ``match`` limits the rule to requests whose prompt contains that text.
        ``after=True`` (create only): the task is created first, then the connection is
        dropped (``drop``) or the answer waits ``delay`` seconds (``slow``).
        """
        _check_rule(route, kind, times, probability, every, status, retry_after, delay, after)
        if match is not None and not isinstance(match, str):
            raise ValueError("match must be a string")
        for name, value in (("code", code), ("message", message)):
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be a string")
        with self._lock:
            rule = FaultRule(
                self._next_id,
                route,
                kind,
                times=times,
                probability=probability,
                every=every,
                status=status,
                code=code,
                message=message,
                retry_after=retry_after,
                delay=delay,
                after=bool(after),
                match=match,
            )
            self._next_id += 1
            self._rules.append(rule)
            return rule.id

    def remove(self, rule_id: int) -> bool:
        """Remove one rule; ``False`` if there was no such rule."""
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) != before

    def clear(self) -> int:
        """Remove every rule; returns how many there were."""
        with self._lock:
            n = len(self._rules)
            self._rules.clear()
            return n

    def rules(self) -> list[dict[str, Any]]:
        """Snapshots of the current rules."""
        with self._lock:
            return [r.to_dict() for r in self._rules]

    def check(self, route: str, *, prompt: str | None = None) -> FaultRule | None:
        """Count this request against the rules; return a copy of the rule that fires, if any."""
        with self._lock:
            for rule in self._rules:
                if rule.spent or not rule.applies_to(route, prompt):
                    continue
                rule.seen += 1
                if rule.every is not None and rule.seen % rule.every:
                    continue
                if rule.probability is not None and self._rng.random() >= rule.probability:
                    continue
                rule.fired += 1
                self.fired_total += 1
                return FaultRule(**asdict(rule))
        return None


def _check_rule(
    route: str,
    kind: str,
    times: int | None,
    probability: float | None,
    every: int | None,
    status: int | None,
    retry_after: float | None,
    delay: float | None,
    after: bool,
) -> None:
    if route not in ROUTES:
        raise ValueError(f"unknown route {route!r}; use one of {', '.join(ROUTES)}")
    if kind not in KIND_ROUTES:
        raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(KIND_ROUTES)}")
    if route != "*" and route not in KIND_ROUTES[kind]:
        allowed = ", ".join(sorted(KIND_ROUTES[kind]))
        raise ValueError(f"kind {kind!r} applies only to route(s) {allowed}, not {route!r}")
    if times is not None and (not _is_int(times) or times < 1):
        raise ValueError("times must be a positive integer")
    if every is not None and (not _is_int(every) or every < 1):
        raise ValueError("every must be a positive integer")
    if probability is not None and (not _is_num(probability) or not 0 <= probability <= 1):
        raise ValueError("probability must be between 0 and 1")
    if status is not None and (not _is_int(status) or not 400 <= status <= 599):
        raise ValueError("status must be an HTTP error status (400-599)")
    if retry_after is not None and (not _is_num(retry_after) or retry_after < 0):
        raise ValueError("retry_after must be a non-negative number of seconds")
    if kind == "slow" and (delay is None or not _is_num(delay) or delay < 0):
        raise ValueError("a 'slow' rule needs delay= (seconds, >= 0)")
    if delay is not None and (not _is_num(delay) or delay < 0):
        raise ValueError("delay must be a non-negative number of seconds")
    if after and not (kind in ("drop", "slow") and route in ("create", "*")):
        raise ValueError("after=True is only for kinds 'drop' and 'slow' on route 'create'")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x == x
