"""`state_group_lasso`: the group-lasso penalty of structure learning (docs/method.md §2).

AllenNLP's `RegularizerApplicator` calls a `Regularizer` once per parameter tensor whose name
matches a regex.  `rational_rnn` keeps every parameter in one `state_params` matrix whose row s is
exactly the group of state s (everything that enters it: [w_s, v_s, b_s]), so the penalty is simply

    alpha * sum over rows of ||row||_2

and it is configured like any other regularizer:

    regularizer: {regexes: [['.*state_params', {type: 'state_group_lasso', alpha: 1e-3}]]}

It is plain subgradient descent (the authors found proximal updates unstable): at an all-zero row
the subgradient used is 0 (`row_group_norms` gives 0, not NaN, there), so a state that
reached exactly zero stays finite and simply stops being pushed.
"""
import math
import os
import re
from typing import Any, List, Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.models import Model
from allennlp.nn.regularizers import Regularizer, RegularizerApplicator

from rrnn_plugin.modules.wfsa_layer import row_group_norms


@Regularizer.register("state_group_lasso")
class StateGroupLasso(Regularizer):
    """
    # Parameters

    alpha : `float`, optional (default = `0.01`)
        The strength lambda of docs/method.md §2 (the authors search it from 8e-6 upwards, §4).
    """

    def __init__(self, alpha: float = 0.01) -> None:
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha) or alpha < 0:
            source = " (from the environment variable RRNN_LAMBDA)" if _from_env(alpha) else ""
            raise ConfigurationError(
                f"state_group_lasso: alpha (the group-lasso strength lambda) must be a finite number >= 0, "
                f"got {alpha!r}{source}"
            )
        self.alpha = float(alpha)

    def __call__(self, parameter: torch.Tensor) -> torch.Tensor:
        if parameter.dim() != 2:
            # Better a clear error than a silent, different grouping of a vector or a 4-d kernel.
            raise ValueError(
                "state_group_lasso penalizes the rows of a matrix (one row per state); its regex "
                f"matched a parameter of shape {tuple(parameter.shape)}. Narrow the regex, e.g. "
                "'.*state_params'."
            )
        return self.alpha * row_group_norms(parameter).sum()


def _from_env(alpha: Any) -> bool:
    """Whether RRNN_LAMBDA holds this value (the structure-learning configs read lambda from it)."""
    try:
        return float(os.environ.get("RRNN_LAMBDA", "")) == float(alpha)
    except (TypeError, ValueError):
        return False


def _regexes(model: Model) -> List:
    applicator = getattr(model, "_regularizer", None)
    if not isinstance(applicator, RegularizerApplicator):
        return []
    return list(applicator._regularizers)


def group_lasso_rules(model: Model) -> Tuple[List[StateGroupLasso], List[str]]:
    """(the `state_group_lasso` regularizers that apply to some trainable parameter, the regexes
    of those that apply to none), with the applicator's rule: the first regex that matches a
    parameter's name wins.  A rule applying to nothing is a typo or a rule shadowed by an earlier
    one: its strength would be recorded but never used."""
    regexes = _regexes(model)
    applied = set()
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            for index, (regex, _) in enumerate(regexes):
                if re.search(regex, name):
                    applied.add(index)
                    break
    rules = [(i, regex, reg) for i, (regex, reg) in enumerate(regexes) if isinstance(reg, StateGroupLasso)]
    return [reg for i, _, reg in rules if i in applied], [regex for i, regex, _ in rules if i not in applied]


def group_lasso_alphas(model: Model) -> List[float]:
    """The `alpha` of every `state_group_lasso` that applies to a parameter (empty if none)."""
    return [reg.alpha for reg in group_lasso_rules(model)[0]]


def group_lasso_penalty(model: Model) -> Optional[float]:
    """The current value of the model's `state_group_lasso` terms alone, or None if it has none.

    AllenNLP logs `reg_loss`, the sum of *all* regularizers averaged over an epoch's batches; this
    is the group-lasso part at this moment, with the applicator's own matching rule (the first
    regex that matches a trainable parameter's name wins).
    """
    regexes = _regexes(model)
    if not any(isinstance(reg, StateGroupLasso) for _, reg in regexes):
        return None
    total = 0.0
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if not parameter.requires_grad:
                continue
            for regex, regularizer in regexes:
                if re.search(regex, name):
                    if isinstance(regularizer, StateGroupLasso):
                        total += float(regularizer(parameter))
                    break
    return total
