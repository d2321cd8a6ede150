"""The authors' damped bracketing search for the group-lasso strength lambda (docs/method.md §4).

Pure logic, no training: given the tries so far (lambda, transitions), say what to do next.
Keeping it free of I/O lets the tests drive it with a fake objective, and lets a resumed search
*replay* its log through the same code, so an interrupted search continues exactly where it was.

The rule: start at `start`; if a try leaves too few transitions (more than `tolerance` below the
target) lambda was too strong, so divide it by `rate`; too many, multiply.  `rate` starts at 2
and becomes (rate + 1) / 2 after every overshoot (the direction of the step changes), so the
steps shrink once the target is bracketed.  Stop at the first try within the tolerance; give up
after `max_tries` tries or when the next lambda would leave [`min_lambda`, `max_lambda`].
"""
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from rrnn_plugin.experiments.spec_checks import is_finite_number

RUN = "run"  # train with `next_lambda`
FOUND = "found"  # `chosen` is within tolerance
GAVE_UP = "gave_up"  # `chosen` is only the closest try


@dataclass
class SearchDecision:
    status: str
    next_lambda: Optional[float] = None  # set when status == RUN
    chosen: Optional[int] = None  # index into the history (FOUND: the hit; GAVE_UP: the closest)
    rate: float = 2.0  # the rate the next step would use (for the log)
    reason: str = ""


@dataclass
class LambdaSearch:
    """Search settings; `decide(history)` is the whole algorithm."""

    target: float
    tolerance: float = 10.0
    start: float = 8e-6  # the authors' start (300d GloVe); our 50d configs need another, see docs/results.md
    initial_rate: float = 2.0
    max_tries: int = 25
    min_lambda: float = 1e-9
    max_lambda: float = 1e2

    def __post_init__(self) -> None:
        for name in ("target", "start"):
            value = getattr(self, name)
            if not (is_finite_number(value) and value > 0):
                raise ValueError(f"lambda search: {name} must be a positive finite number, got {value!r}")
        if not (is_finite_number(self.tolerance) and self.tolerance >= 0):
            raise ValueError(f"lambda search: tolerance must be a finite number >= 0, got {self.tolerance!r}")
        if not isinstance(self.max_tries, int) or self.max_tries < 1:
            raise ValueError(f"lambda search: max_tries must be an integer >= 1, got {self.max_tries!r}")

    def within(self, transitions: float) -> bool:
        return abs(transitions - self.target) <= self.tolerance

    def decide(self, history: Sequence[Tuple[float, float]]) -> SearchDecision:
        """`history`: (lambda, transitions) of every try so far, in order.

        Raises ValueError if a logged lambda is not the one this search would have proposed (a
        log written with other settings must not be silently continued)."""
        proposed = self.start
        rate = self.initial_rate
        direction = 0  # +1: lambda went up, -1: down, 0: no step yet
        for index, (lam, transitions) in enumerate(history):
            if not math.isclose(lam, proposed, rel_tol=1e-9):
                raise ValueError(
                    f"try {index} used lambda={lam!r} but this search proposes {proposed!r} "
                    "(different start, target or tolerance?)"
                )
            if self.within(transitions):
                return SearchDecision(FOUND, chosen=index, rate=rate,
                                      reason=f"{transitions:g} transitions within {self.target:g}±{self.tolerance:g}")
            step = 1 if transitions > self.target else -1  # too many transitions: regularize harder
            if direction and step != direction:
                rate = (rate + 1.0) / 2.0  # overshoot: damp
            direction = step
            proposed = lam * rate if step > 0 else lam / rate
        if len(history) >= self.max_tries:
            return self._give_up(history, rate, f"no try within tolerance after {len(history)} tries")
        if not self.min_lambda <= proposed <= self.max_lambda:
            return self._give_up(
                history, rate, f"next lambda {proposed:.3g} outside [{self.min_lambda:g}, {self.max_lambda:g}]"
            )
        return SearchDecision(RUN, next_lambda=proposed, rate=rate)

    def _give_up(self, history: Sequence[Tuple[float, float]], rate: float, reason: str) -> SearchDecision:
        closest = min(range(len(history)), key=lambda i: abs(history[i][1] - self.target)) if history else None
        return SearchDecision(GAVE_UP, chosen=closest, rate=rate, reason=reason)


def run_fake_search(search: LambdaSearch, transitions_of) -> Tuple[SearchDecision, List[Tuple[float, float]]]:
    """Drive `search` with a function lambda -> transitions (for tests and quick what-ifs)."""
    history: List[Tuple[float, float]] = []
    while True:
        decision = search.decide(history)
        if decision.status != RUN:
            return decision, history
        history.append((decision.next_lambda, float(transitions_of(decision.next_lambda))))
