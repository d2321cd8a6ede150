"""`sentiment` predictor: `{"sentence": "..."}` -> label and class probabilities.

The text goes through the archived dataset reader's `text_to_instance`, so prediction sees exactly
the cleaning, lower-casing and `<s>`/`</s>` of training.
"""
from typing import Dict, List

from allennlp.common.util import JsonDict
from allennlp.data import Instance
from allennlp.predictors.predictor import Predictor


@Predictor.register("sentiment")
class SentimentPredictor(Predictor):
    def predict(self, sentence: str) -> JsonDict:
        return self.predict_json({"sentence": sentence})

    def _json_to_instance(self, json_dict: JsonDict) -> Instance:
        text = json_dict.get("sentence", json_dict.get("text"))
        if not isinstance(text, str):
            raise ValueError(
                f'each input line needs a "sentence" (or "text") string, got keys {sorted(json_dict)}'
            )
        return self._dataset_reader.text_to_instance(text)

    def predict_instance(self, instance: Instance) -> JsonDict:
        return self._readable(super().predict_instance(instance))

    def predict_batch_instance(self, instances: List[Instance]) -> List[JsonDict]:
        return [self._readable(output) for output in super().predict_batch_instance(instances)]

    def _readable(self, output: JsonDict) -> JsonDict:
        vocab = self._model.vocab
        probs: Dict[str, float] = {
            vocab.get_token_from_index(i, "labels"): float(p) for i, p in enumerate(output["probs"])
        }
        return {"label": output["label"], "probs": probs}
