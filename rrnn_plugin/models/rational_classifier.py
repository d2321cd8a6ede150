"""`rational_classifier`: AllenNLP's `basic_classifier` that also reports the encoder's size.

The paper's x-axis is model size (main-path transitions), so every training and evaluation run
logs it next to accuracy; the only thing missing from `basic_classifier` for that is metrics.
The classifier is a linear layer on dropout(h(T)) with cross-entropy loss, as in method.md §1.
"""
from typing import Dict

from allennlp.models import BasicClassifier, Model


@Model.register("rational_classifier")
class RationalClassifier(BasicClassifier):
    default_predictor = "sentiment"

    def structure_metrics(self) -> Dict[str, float]:
        """Size of the encoder (if it is a WFSA layer) and of the whole model."""
        encoder = self._seq2vec_encoder
        metrics: Dict[str, float] = {}
        if hasattr(encoder, "num_transitions"):
            metrics["transitions"] = float(encoder.num_transitions)
            metrics["wfsas"] = float(encoder.num_wfsas)
            metrics["encoder_parameters"] = float(encoder.num_parameters)
        metrics["trainable_parameters"] = float(
            sum(p.numel() for p in self.parameters() if p.requires_grad)
        )
        return metrics

    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        metrics = super().get_metrics(reset)
        metrics.update(self.structure_metrics())
        return metrics
