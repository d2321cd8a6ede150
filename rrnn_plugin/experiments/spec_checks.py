"""Type and range checks of a sweep spec's values, before anything runs.

A spec is untrusted input: its values become folder names (seeds, datasets, baselines), loop
bounds and environment variables.  Without these checks a wrong type surfaced late and far from
its cause (`"datasets": "kitchen"` swept seven one-letter datasets, `"seeds": []` an IndexError,
a NaN target a search that can never succeed), or not at all (a seed such as "a/../../x" named a
folder outside the sweep dir, which a rerun then cleared).  Every message names the key.
"""
import math
import re
from typing import Any, Mapping

SAFE_NAME = re.compile(r"^[A-Za-z0-9_+.-]+$")


class SpecError(ValueError):
    """A sweep spec value of the wrong type or range; the message names the key."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _fail(key: str, problem: str, value: Any) -> None:
    raise SpecError(f"sweep spec key {key!r}: {problem}, got {value!r}")


def plain_name(key: str, name: Any) -> None:
    if not isinstance(name, str) or not SAFE_NAME.match(name) or name in (".", ".."):
        _fail(key, "not a plain name (letters, digits, '_', '-', '+', '.'); names become folders under the sweep "
              "dir and must stay inside it", name)


def check_spec_values(data: Mapping[str, Any]) -> None:
    """SpecError for the first value of `data` (a spec's JSON object) of the wrong type or range."""
    checks = {
        "name": lambda v: plain_name("name", v),
        "datasets": lambda v: _names("datasets", v, allow_empty=False),
        "baselines": lambda v: _names("baselines", [str(b) if _is_int(b) else b for b in v]
                                      if isinstance(v, list) else v, allow_empty=True),
        "seeds": _seeds,
        "targets": _targets,
        "tolerance": lambda v: _number("tolerance", v, minimum=0),
        "start_lambda": _start_lambda,
        "max_tries": lambda v: _integer("max_tries", v, minimum=1),
        "folds": lambda v: v is None or _integer("folds", v, minimum=2),
        "env": _env,
        "input": lambda v: isinstance(v, str) or _fail("input", "must be a string", v),
        "baseline_config": lambda v: isinstance(v, str) or _fail("baseline_config", "must be a path", v),
        "structure_config": lambda v: isinstance(v, str) or _fail("structure_config", "must be a path", v),
    }
    for key in ("overrides", "baseline_overrides", "structure_overrides"):
        checks[key] = lambda v, key=key: isinstance(v, dict) or _fail(key, "must be an object of AllenNLP overrides", v)
    for key, check in checks.items():
        if key in data:
            check(data[key])
    if data.get("tuning") is not None:
        _tuning(data["tuning"])


def _names(key: str, value: Any, allow_empty: bool) -> None:
    if not isinstance(value, list) or (not value and not allow_empty):
        _fail(key, "must be a list of names" + ("" if allow_empty else " (at least one)"), value)
    for name in value:
        plain_name(key, name)


def _seeds(value: Any) -> None:
    if not isinstance(value, list) or not value or not all(_is_int(seed) and seed >= 0 for seed in value):
        _fail("seeds", "must be a non-empty list of integers >= 0", value)
    if len(set(value)) != len(value):
        _fail("seeds", "has a seed twice", value)


def _targets(value: Any) -> None:
    if not isinstance(value, list) or not all(is_finite_number(t) and t > 0 for t in value):
        _fail("targets", "must be a list of positive numbers (transitions)", value)


def _number(key: str, value: Any, minimum: float) -> None:
    if not is_finite_number(value) or value < minimum:
        _fail(key, f"must be a finite number >= {minimum:g}", value)


def _integer(key: str, value: Any, minimum: int) -> None:
    if not _is_int(value) or value < minimum:
        _fail(key, f"must be an integer >= {minimum}", value)


def _start_lambda(value: Any) -> None:
    values = value.values() if isinstance(value, dict) else [value]
    if not all(is_finite_number(v) and v > 0 for v in values):
        _fail("start_lambda", "must be a positive number, or an object of positive numbers by target", value)
    if isinstance(value, dict):
        for target in value:
            try:
                float(target)
            except ValueError:
                _fail("start_lambda", f"key {target!r} is not a target (a number)", value)


def _env(value: Any) -> None:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        _fail("env", "must be an object of strings (environment variables and their values)", value)


def _tuning(value: Any) -> None:
    if not isinstance(value, dict):
        _fail("tuning", "must be an object", value)
    unknown = set(value) - {"trials", "seed", "space"}
    if unknown:
        _fail("tuning", f"unknown keys {sorted(unknown)} (known: trials, seed, space)", value)
    if "trials" in value:
        _integer("tuning.trials", value["trials"], minimum=0)
    if "seed" in value:
        _integer("tuning.seed", value["seed"], minimum=0)
    if "space" in value and not isinstance(value["space"], dict):
        _fail("tuning.space", "must be an object of {low, high, log} ranges by override path", value["space"])
