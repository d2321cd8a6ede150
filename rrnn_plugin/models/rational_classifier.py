"""`rational_classifier`: AllenNLP's `basic_classifier` that also reports the encoder's size.

The paper's x-axis is model size (main-path transitions), so every training and evaluation run
logs it next to accuracy; the only thing missing from `basic_classifier` for that is metrics.
The classifier is a linear layer on dropout(h(T)) with cross-entropy loss, as in method.md §1.

For structure learning (method.md §2) it also reports `live_states` (states whose group norm is
> `live_state_eps`, i.e. that pruning at that threshold would not remove for being small) and,
when a `state_group_lasso` regularizer is configured, `group_lasso_penalty` (its current value).
"""
from typing import Dict

from allennlp.models import BasicClassifier, Model

from rrnn_plugin.training.regularizers import group_lasso_penalty


@Model.register("rational_classifier")
class RationalClassifier(BasicClassifier):
    default_predictor = "sentiment"
    # threshold of the `live_states` metric; `prune_and_finetune` sets it to its own eps
    live_state_eps: float = 0.1

    def structure_metrics(self) -> Dict[str, float]:
        """Size of the encoder (if it is a WFSA layer) and of the whole model."""
        encoder = self._seq2vec_encoder
        metrics: Dict[str, float] = {}
        if hasattr(encoder, "num_transitions"):
            metrics["transitions"] = float(encoder.num_transitions)
            metrics["wfsas"] = float(encoder.num_wfsas)
            metrics["encoder_parameters"] = float(encoder.num_parameters)
        if hasattr(encoder, "state_group_norms"):
            norms = encoder.state_group_norms().detach()
            metrics["live_states"] = float((norms > self.live_state_eps).sum())
        penalty = group_lasso_penalty(self)
        if penalty is not None:
            metrics["group_lasso_penalty"] = penalty
        metrics["trainable_parameters"] = float(
            sum(p.numel() for p in self.parameters() if p.requires_grad)
        )
        return metrics

    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        metrics = super().get_metrics(reset)
        metrics.update(self.structure_metrics())
        return metrics
