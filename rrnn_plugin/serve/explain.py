"""Why a trained model decided: label, probabilities and, per WFSA, what it matched in the text.

`Explainer(archive).explain(text)` is what `allennlp rrnn-serve` answers with (and what a notebook
can call): the prediction of the `sentiment` predictor, and for every WFSA of the model's one-layer
`rational_rnn` encoder

* its score h(T) for this document and its contribution to the predicted label (the classifier's
  weight for that label × the score), the WFSAs sorted by contribution;
* the best-scoring path through the document (Viterbi in the model's own semiring, exactly as
  `rrnn-visualize` computes the Table-1 phrases: `visualization.phrases.extract_phrases` on this
  one document), as token positions: main-path tokens, and the self-loop tokens before each;
* its top phrases over a dataset, when a phrase file written by `rrnn-visualize --format json` is
  given.
"""
import json
import os
import tempfile
from typing import Any, Dict, List, Optional

import torch


class Explainer:
    def __init__(self, archive_path: str, phrases_file: Optional[str] = None) -> None:
        from allennlp.predictors import Predictor

        from rrnn_plugin.archives import load_model_archive
        from rrnn_plugin.visualization.phrases import classifier_weights, find_encoder

        archive = load_model_archive(archive_path)  # ArchiveError: one line naming the archive
        self.model = archive.model.eval()
        self.predictor = Predictor.from_archive(archive, "sentiment")
        self.encoder = find_encoder(self.model)
        self.weights = classifier_weights(self.model, self.encoder)
        self.structure_svg = _structure_svg(archive_path)
        self.dataset_phrases = _read_phrases(phrases_file) if phrases_file else {}

    def explain(self, text: str) -> Dict[str, Any]:
        from rrnn_plugin.visualization.phrases import extract_phrases

        prediction = self.predictor.predict_json({"sentence": text})
        instance = self.predictor._dataset_reader.text_to_instance(text)
        tokens = [token.text for token in instance.fields["tokens"].tokens]
        scores = self._scores(instance)
        paths = {p.wfsa: p.top[0] if p.top else None for p in extract_phrases(self.model, [instance], top_k=1)}
        label = prediction["label"]
        wfsas = []
        for k, length in enumerate(self.encoder.wfsa_lengths):
            weight = self.weights[k].get(label) if self.weights else None
            path = paths.get(k)
            wfsas.append({
                "wfsa": k,
                "length": length,
                "score": scores[k],
                "weight": weight,
                "contribution": None if weight is None else weight * scores[k],
                "path": None if path is None else {
                    "score": path.score,
                    "transitions": [{"position": t.position, "token": t.token, "self_loops": t.self_loops}
                                    for t in path.transitions],
                    "trailing_self_loops": path.trailing_self_loops,
                },
                "dataset_phrases": self.dataset_phrases.get(k, []),
            })
        wfsas.sort(key=lambda w: -(w["contribution"] if w["contribution"] is not None else abs(w["score"])))
        return {**prediction, "tokens": tokens, "semiring": self.encoder.semiring, "wfsas": wfsas,
                "has_structure_picture": self.structure_svg is not None}

    def _scores(self, instance) -> List[float]:
        """h(T) of every WFSA for this document (the encoder's output, captured by a hook)."""
        captured: Dict[str, torch.Tensor] = {}
        handle = self.encoder.register_forward_hook(lambda module, args, output: captured.update(out=output))
        try:
            self.model.forward_on_instance(instance)
        finally:
            handle.remove()
        return [float(v) for v in captured["out"][0]]


def _read_phrases(path: str) -> Dict[int, List[str]]:
    """WFSA index -> its top phrases as strings, from `rrnn-visualize --format json` output."""
    with open(path, encoding="utf-8") as handle:
        try:
            data = json.load(handle)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}, line {error.lineno}: not valid JSON ({error.msg}); expected the output of "
                             "`allennlp rrnn-visualize ... --format json`") from None
    entries = data.get("wfsas") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise ValueError(f"{path}: no list of WFSAs (expected `rrnn-visualize --format json` output)")
    phrases = {}
    for entry in entries:
        try:
            phrases[int(entry["wfsa"])] = [" ".join(
                (" ".join(t.get("self_loop_tokens", [])) + " " if t.get("self_loop_tokens") else "") + t["token"]
                for t in match["transitions"]) for match in entry.get("top", [])]
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: malformed WFSA entry ({type(error).__name__}: {error})") from None
    return phrases


def _structure_svg(archive_path: str) -> Optional[str]:
    """The `rrnn-draw-structure` picture (SVG text) of the model's learned structure: the
    `learned_structure.json` inside the archive, or beside it (the run's serialization dir)."""
    from rrnn_plugin.visualization.drawing import draw_structure
    from rrnn_plugin.visualization.structure import find_structure_file, read_structure_file, structure_in_archive

    try:
        structure = structure_in_archive(archive_path)
        if structure is None and find_structure_file(archive_path) is not None:
            structure = read_structure_file(find_structure_file(archive_path))
    except ValueError:  # a structure of a stacked or bidirectional model: no picture
        return None
    if structure is None:
        return None
    with tempfile.TemporaryDirectory() as work:
        path = draw_structure(structure, os.path.join(work, "structure.svg"))
        with open(path, encoding="utf-8") as handle:
            return handle.read()
