"""`rational_classifier`: AllenNLP's `basic_classifier` that also reports the encoder's size.

The paper's x-axis is model size (main-path transitions), so every training and evaluation run
logs it next to accuracy; the only thing missing from `basic_classifier` for that is metrics.
The classifier is a linear layer on dropout(h(T)) with cross-entropy loss, as in docs/method.md §1.

For structure learning (docs/method.md §2) it also reports `live_states` (states whose group norm is
> `live_state_eps`, i.e. that pruning at that threshold would not remove for being small) and,
when a `state_group_lasso` regularizer is configured, `group_lasso_penalty` (its current value).
"""
from typing import Dict

import torch
from allennlp.models import BasicClassifier, Model

from rrnn_plugin.modules.rational_rnn import RationalRnnLayers

from rrnn_plugin.training.regularizers import group_lasso_penalty


@Model.register("rational_classifier")
class RationalClassifier(BasicClassifier):
    default_predictor = "sentiment"
    # threshold of the `live_states` metric; `prune_and_finetune` sets it to its own eps
    live_state_eps: float = 0.1

    def structure_metrics(self) -> Dict[str, float]:
        """Size of the WFSA encoders (Seq2Seq and/or Seq2Vec, all layers) and of the whole model."""
        encoders = [m for m in (self._seq2seq_encoder, self._seq2vec_encoder) if isinstance(m, RationalRnnLayers)]
        metrics: Dict[str, float] = {}
        if encoders:
            metrics["transitions"] = float(sum(e.num_transitions for e in encoders))
            metrics["wfsas"] = float(sum(e.num_wfsas for e in encoders))
            metrics["encoder_parameters"] = float(sum(e.num_parameters for e in encoders))
            norms = torch.cat([e.state_group_norms().detach() for e in encoders])
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
