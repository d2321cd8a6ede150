"""The three semirings of the rational RNN (docs/method.md §1).

A semiring fixes how the scores of one path are combined (times) and how the scores of different
paths are combined (plus).  Plus-times gives the Forward algorithm (the paper's model); max-plus and
max-times give Viterbi variants used as options and for visualization.  Each semiring also fixes how
the main-path weight u is computed from the projection: plus-times uses the paper's
u = (w·x)(1 - f), the max semirings use u = sigmoid(w·x).
"""
from dataclasses import dataclass
from typing import Callable, Dict

import torch


@dataclass(frozen=True)
class Semiring:
    name: str
    zero: float  # score of "no path"
    one: float  # score of the empty path (the start state's implicit self-loop)
    plus: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    times: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    # reduces the final-state scores of each WFSA (all states are final, with weight one)
    sum_states: Callable[[torch.Tensor], torch.Tensor]

    def weights(self, main_proj: torch.Tensor, loop_proj: torch.Tensor):
        """Projection outputs (w·x and v·x + b) -> transition weights (u, f)."""
        f = torch.sigmoid(loop_proj)
        if self.name == "plus_times":
            return main_proj * (1.0 - f), f
        return torch.sigmoid(main_proj), f


def _max_states(c: torch.Tensor) -> torch.Tensor:
    return c.max(dim=-1).values


SEMIRINGS: Dict[str, Semiring] = {
    "plus_times": Semiring("plus_times", 0.0, 1.0, torch.add, torch.mul, lambda c: c.sum(dim=-1)),
    "max_times": Semiring("max_times", 0.0, 1.0, torch.maximum, torch.mul, _max_states),
    "max_plus": Semiring("max_plus", float("-inf"), 0.0, torch.maximum, torch.add, _max_states),
}


def get_semiring(name: str) -> Semiring:
    try:
        return SEMIRINGS[name]
    except KeyError:
        raise ValueError(f"semiring must be one of {sorted(SEMIRINGS)}, got {name!r}") from None
