"""`sentiment` predictor: `{"sentence": "..."}` -> label and class probabilities.

The text goes through the archived dataset reader's `text_to_instance`, so prediction sees exactly
the cleaning, lower-casing and `<s>`/`</s>` of training.

Prediction is per input: `allennlp predict` over a JSON-lines file gives one output line per input
line, and an input that cannot be predicted (invalid JSON, not an object, no "sentence" string)
gives an error record (`{"error": ..., "line": n}`) in its place while every other line is still
predicted, in every batch size.  The line number is the input file's (blank lines count), given by
`predict_lines.number_input_lines`.  Every prediction also says how many of the document's words the
model knows (`known_words`, for models over a word vocabulary) and sets `no_known_words` when there
is none: the label of such a document is only the model's prior.  A document cut at the reader's
`max_tokens` is flagged `truncated`.
"""
import json
from typing import Any, Dict, List, Optional

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.common.util import JsonDict
from allennlp.data import DatasetReader, Instance
from allennlp.data.token_indexers import SingleIdTokenIndexer
from allennlp.models import Model
from allennlp.modules.token_embedders import Embedding
from allennlp.predictors.predictor import Predictor

from rrnn_plugin.text_cleaning import END_SYMBOL, START_SYMBOL

LINE_KEY = "__line__"  # set by predict_lines on each input dict read from a file
ERROR_KEY = "__error__"  # set by load_line when a line is not a JSON object


@Predictor.register("sentiment")
class SentimentPredictor(Predictor):
    """`vectors` (`allennlp predict ... --predictor-args '{"vectors": "FILE"}'`): the model's
    pretrained word vectors (its GloVe file); every word they know that the vocabulary lacks is
    added with its vector, so it is read as itself instead of the unknown token, exactly as an
    `rrnn-export --vectors` folder reads it (rrnn_plugin/export/vectors.py)."""

    def __init__(self, model: Model, dataset_reader: DatasetReader, frozen: bool = True,
                 vectors: Optional[str] = None) -> None:
        super().__init__(model, dataset_reader, frozen)
        if vectors is not None:
            self._extend_vocabulary(vectors)

    def _extend_vocabulary(self, path: str) -> None:
        from rrnn_plugin.export.vectors import vocabulary_extension

        embedders = getattr(self._model._text_field_embedder, "_token_embedders", {})
        embedding = embedders.get("tokens")
        if not isinstance(embedding, Embedding) or len(embedders) != 1:
            raise ConfigurationError("vectors: the model must read words through one `embedding` named 'tokens'")
        namespace = embedding._vocab_namespace or "tokens"
        vocab = self._model.vocab
        vocabulary = [vocab.get_token_from_index(i, namespace) for i in range(vocab.get_vocab_size(namespace))]
        words, rows = vocabulary_extension(embedding.weight, vocabulary, path)
        vocab.add_tokens_to_namespace(words, namespace)
        weight = torch.cat([embedding.weight.detach(), rows.to(embedding.weight)])
        embedding.weight = torch.nn.Parameter(weight, requires_grad=False)
        embedding.num_embeddings = weight.shape[0]

    def predict(self, sentence: str) -> JsonDict:
        return self.predict_json({"sentence": sentence})

    # ----- input lines ---------------------------------------------------------------------------
    def load_line(self, line: str) -> JsonDict:
        """One input line -> a dict; a bad line becomes an error marker instead of an exception."""
        try:
            value = json.loads(line.rstrip("\r\n"))  # the line's own newline would read as a control character
        except json.JSONDecodeError as error:  # inside an unterminated string
            return {ERROR_KEY: f"invalid JSON ({error.msg.removesuffix(' at')}, column {error.colno})"}
        if not isinstance(value, dict):
            return {ERROR_KEY: f"expected a JSON object like {{\"sentence\": \"...\"}}, got {type(value).__name__}"}
        return value

    def dump_line(self, outputs: JsonDict) -> str:
        return json.dumps(outputs) + "\n"

    def _problem(self, json_dict: JsonDict) -> Optional[str]:
        if ERROR_KEY in json_dict:
            return json_dict[ERROR_KEY]
        text = json_dict.get("sentence", json_dict.get("text"))
        if text is None:
            fields = sorted(k for k in json_dict if k != LINE_KEY)
            return f'no "sentence" (or "text") field; the object has {fields}'
        if not isinstance(text, str):
            return f'"sentence" must be a string, got {type(text).__name__}'
        return None

    def _error(self, json_dict: JsonDict, problem: str) -> JsonDict:
        line = json_dict.get(LINE_KEY)
        where = f"line {line}: " if line is not None else ""
        return {"error": where + problem, **({"line": line} if line is not None else {})}

    def _json_to_instance(self, json_dict: JsonDict) -> Instance:
        problem = self._problem(json_dict)
        if problem is not None:
            raise ValueError(self._error(json_dict, problem)["error"])
        return self._dataset_reader.text_to_instance(json_dict.get("sentence", json_dict.get("text")))

    # ----- predicting ----------------------------------------------------------------------------
    def predict_json(self, inputs: JsonDict) -> JsonDict:
        return self.predict_batch_json([inputs])[0]

    def predict_batch_json(self, inputs: List[JsonDict]) -> List[JsonDict]:
        outputs: List[Optional[JsonDict]] = [None] * len(inputs)
        valid, instances = [], []
        for index, json_dict in enumerate(inputs):
            problem = self._problem(json_dict)
            if problem is not None:
                outputs[index] = self._error(json_dict, problem)
                continue
            valid.append(index)
            instances.append(self._json_to_instance(json_dict))
        if instances:
            for index, output in zip(valid, self.predict_batch_instance(instances)):
                if LINE_KEY in inputs[index]:
                    output["line"] = inputs[index][LINE_KEY]
                cut = getattr(self._dataset_reader, "is_cut", None)
                if cut is not None and cut(inputs[index].get("sentence", inputs[index].get("text"))):
                    output["truncated"] = True
                outputs[index] = output
        return outputs  # type: ignore[return-value]

    def predict_instance(self, instance: Instance) -> JsonDict:
        return self.predict_batch_instance([instance])[0]

    def predict_batch_instance(self, instances: List[Instance]) -> List[JsonDict]:
        outputs = super().predict_batch_instance(instances)
        return [self._readable(instance, output) for instance, output in zip(instances, outputs)]

    def _readable(self, instance: Instance, output: JsonDict) -> JsonDict:
        vocab = self._model.vocab
        probs: Dict[str, float] = {
            vocab.get_token_from_index(i, "labels"): float(p) for i, p in enumerate(output["probs"])
        }
        result: Dict[str, Any] = {"label": output["label"], "probs": probs}
        known = self._known_words(instance)
        if known is not None:
            result["known_words"] = known
            if known == 0:
                result["no_known_words"] = True
        return result

    def _known_words(self, instance: Instance) -> Optional[int]:
        """Words of the document in the model's word vocabulary (None for models that read
        subwords or characters, which know every text in their own way)."""
        field = instance.fields["tokens"]
        indexers = [i for i in (field.token_indexers or {}).values() if isinstance(i, SingleIdTokenIndexer)]
        if not indexers:
            return None
        namespace = indexers[0].namespace
        vocab = self._model.vocab
        oov = vocab.get_token_index(vocab._oov_token, namespace)
        words = [t.text for t in field.tokens if t.text not in (START_SYMBOL, END_SYMBOL)]
        if indexers[0].lowercase_tokens:
            words = [w.lower() for w in words]
        return sum(vocab.get_token_index(w, namespace) != oov for w in words)
