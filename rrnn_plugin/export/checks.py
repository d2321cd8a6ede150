"""Checks of an export folder's files before `load` builds a model from them.

An export folder is untrusted input (copied between machines, edited by hand): a config.json key
of the wrong type, a duplicated vocabulary line or a NaN weight gave a bare KeyError, a torch size
mismatch, or, worst, a confident label computed from NaN.  Each check raises `ExportError` naming
the file (and the key, line or tensor).
"""
import math
from pathlib import Path
from typing import Any, Dict, List

import torch

from rrnn_plugin.export.errors import ExportError

_TOKENIZER_FLAGS = ("lowercase", "clean", "add_boundary_tokens", "lowercase_ids")


def check_config(path: Path, config: Dict[str, Any]) -> None:
    def fail(key: str, problem: str) -> None:
        raise ExportError(f"{path}: {key!r} {problem}, got {config.get(key)!r}")

    for key in ("vocab_size", "embedding_dim"):
        value = config.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            fail(key, "must be a positive integer")
    labels = config.get("labels")
    if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) for x in labels):
        fail("labels", "must be a list of two or more label strings")
    if len(set(labels)) != len(labels):
        fail("labels", "has a label twice")
    if not isinstance(config.get("encoder"), dict):
        fail("encoder", "must be an object of the encoder's options")
    tokenizer = config.get("tokenizer")
    if not isinstance(tokenizer, dict) or not all(isinstance(tokenizer.get(k), bool) for k in _TOKENIZER_FLAGS):
        fail("tokenizer", f"must be an object with true/false {list(_TOKENIZER_FLAGS)} and max_tokens")
    cut = tokenizer.get("max_tokens")
    if cut is not None and (isinstance(cut, bool) or not isinstance(cut, int) or cut < 1):
        raise ExportError(f"{path}: 'tokenizer.max_tokens' must be a positive integer or null, got {cut!r}")


def read_vocabulary(path: Path, expected: int) -> List[str]:
    """The vocabulary's lines; ExportError naming a line that repeats an earlier one (the second
    would never be looked up, and ids after it would shift against the weights' rows)."""
    try:
        words = path.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as error:
        raise ExportError(f"{path}: cannot read it ({error})") from error
    if words and words[-1] == "":
        words.pop()
    if len(words) != expected:
        raise ExportError(f"{path}: {len(words)} words, but config.json's vocab_size is {expected}")
    first: Dict[str, int] = {}
    for number, word in enumerate(words, start=1):
        if word in first:
            raise ExportError(f"{path}, line {number}: {word!r} repeats line {first[word]}")
        first[word] = number
    return words


def check_weights(path: Path, state: Dict[str, torch.Tensor]) -> None:
    """Floating-point tensors only, every value finite."""
    for name, tensor in state.items():
        if not tensor.is_floating_point():
            raise ExportError(f"{path}: tensor {name!r} is {tensor.dtype}, not floating point")
        if not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise ExportError(f"{path}: tensor {name!r} has {bad} NaN or infinite values; the weights are corrupt")


def check_probabilities(probs: List[float]) -> None:
    if not all(math.isfinite(p) for p in probs):
        raise ValueError(f"the model computed non-finite probabilities {probs}; its weights or inputs are broken")
