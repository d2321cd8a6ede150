"""Top-k and bottom-k phrases of every WFSA of a trained model, as plain data (the paper's Table 1).

One implementation for the command line, notebooks and the HTML view: `extract_phrases` runs a
model over instances and returns `WfsaPhrases` (dataclasses of ints, floats, strings and lists;
`to_dict` gives JSON-ready dicts).  Each document contributes its best path per WFSA
(`viterbi.extreme_paths` defines which paths count); the k highest of those best paths are the
top phrases, the k lowest (min-times) the bottom ones.

The transition weights are the model's own: the input of the model's `rational_rnn` encoder is
captured with a forward pre-hook while the model runs in eval mode (so whatever the model does
before the encoder, embedding or contextual features, is what the encoder sees), and
`encoder.transition_weights` turns it into u and f — no dropout.
"""
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy
import torch
from allennlp.data import Batch, Instance
from allennlp.data.fields import TextField
from allennlp.models import Model
from allennlp.nn import util as nn_util

from rrnn_plugin.modules.rational_rnn import RationalRnnLayers
from rrnn_plugin.visualization.viterbi import extreme_paths


@dataclass
class Transition:
    """One main-path transition of a path, and the self-loop tokens consumed just before it."""

    position: int  # index of the main-path token in the document
    token: str
    self_loops: List[int] = field(default_factory=list)  # consumed by the previous state's self-loop
    self_loop_tokens: List[str] = field(default_factory=list)


@dataclass
class PathMatch:
    """The best path of one WFSA in one document (fewer transitions than the WFSA has only when
    paths may end in any final state)."""

    wfsa: int
    document: int  # index of the document in the order the data was read
    score: float
    transitions: List[Transition]
    # tokens after the last transition consumed by the last state's self-loop (0 without trailing)
    trailing_self_loops: int = 0

    @property
    def start(self) -> int:
        return self.transitions[0].position

    @property
    def end(self) -> int:
        return self.transitions[-1].position


@dataclass
class WfsaPhrases:
    """The top and bottom phrases of one WFSA."""

    wfsa: int  # index in the model
    length: int  # number of main-path transitions
    top: List[PathMatch]
    bottom: List[PathMatch]
    original_index: Optional[int] = None  # index before pruning, when a learned structure says so
    documents: int = 0  # documents long enough to hold a full path
    # weight of this WFSA's score in the classifier, per label (what a high score votes for)
    label_weights: Optional[Dict[str, float]] = None

    @property
    def label(self) -> str:
        name = f"WFSA {self.wfsa}"
        if self.original_index is not None and self.original_index != self.wfsa:
            name += f" (was {self.original_index})"
        return name

    def to_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data["label"] = self.label
        return data


def find_encoder(model: Model) -> RationalRnnLayers:
    """The model's `rational_rnn` encoder (the first one, if there are several).

    Phrases are read off WFSAs that consume the token vectors themselves, so only a one-layer,
    forward-only encoder (the paper's setting) can be visualized."""
    for module in model.modules():
        if isinstance(module, RationalRnnLayers):
            if module.num_layers != 1 or module.is_bidirectional():
                raise ValueError(
                    f"phrases can be shown for a one-layer, forward-only `rational_rnn`; this model's has "
                    f"{module.num_layers} layer(s){' and is bidirectional' if module.is_bidirectional() else ''}"
                )
            return module
    raise ValueError(f"the model ({type(model).__name__}) has no `rational_rnn` encoder")


def classifier_weights(model: Model, encoder: RationalRnnLayers) -> Optional[List[Dict[str, float]]]:
    """Per WFSA, its column of the classification layer by label name, when the encoder's output
    goes straight into a linear classification layer (AllenNLP's `basic_classifier` layout)."""
    layer = getattr(model, "_classification_layer", None)
    if (
        getattr(model, "_seq2vec_encoder", None) is not encoder
        or getattr(model, "_feedforward", None) is not None
        or not isinstance(layer, torch.nn.Linear)
        or layer.in_features != encoder.num_wfsas
    ):
        return None
    labels = model.vocab.get_index_to_token_vocabulary(getattr(model, "_label_namespace", "labels"))
    weight = layer.weight.detach().cpu()
    names = [labels.get(i, str(i)) for i in range(weight.shape[0])]
    return [{name: float(weight[i, k]) for i, name in enumerate(names)} for k in range(weight.shape[1])]


def extract_phrases(
    model: Model,
    instances: Iterable[Instance],
    top_k: int = 4,
    wfsas: Optional[Sequence[int]] = None,
    trailing: bool = True,
    batch_size: int = 64,
    progress: bool = False,
    total: Optional[int] = None,
    original_indices: Optional[Sequence[int]] = None,
    distinct: bool = True,
    any_final_state: bool = False,
) -> List[WfsaPhrases]:
    """Top-k and bottom-k phrases of the chosen WFSAs (default: all) over `instances`.

    Instances must be indexable with the model's vocabulary (e.g. read by the archive's reader).
    Documents are batched by length; the model runs in eval mode without gradients.
    `original_indices[i]` (optional) is WFSA i's index before pruning, only used for labels.
    `distinct`: a phrase (same main-path and self-loop tokens) is listed once, with its best
    score, even when several documents have it as their best path.
    `trailing`, `any_final_state`: which paths count, see `viterbi.extreme_paths`.
    """
    encoder = find_encoder(model)
    chosen = _check_wfsas(wfsas, encoder.num_wfsas)
    collector = _TopK(encoder.wfsa_lengths, chosen, top_k, distinct)
    instances = list(instances)
    bar = None
    if progress:
        from allennlp.common.tqdm import Tqdm

        bar = Tqdm.tqdm(total=total if total is not None else len(instances), unit="doc", desc="scoring")
    was_training = model.training
    model.eval()
    try:
        order = sorted(range(len(instances)), key=lambda i: _num_tokens(instances[i]))
        for start in range(0, len(order), batch_size):
            indices = order[start : start + batch_size]
            batch = [instances[i] for i in indices]
            u, f, lengths, texts = _transition_weights(model, encoder, batch)
            additive = encoder.semiring == "max_plus"
            paths = extreme_paths(
                u, f, lengths, encoder.wfsa_lengths, trailing, additive, any_final_state=any_final_state
            )
            collector.add(paths, indices, texts, lengths.tolist(), trailing)
            if bar is not None:
                bar.update(len(batch))
    finally:
        model.train(was_training)
        if bar is not None:
            bar.close()
    phrases = collector.result(original_indices)
    weights = classifier_weights(model, encoder)
    if weights is not None:
        for wfsa in phrases:
            wfsa.label_weights = weights[wfsa.wfsa]
    return phrases


def _check_wfsas(wfsas: Optional[Sequence[int]], num_wfsas: int) -> List[int]:
    if wfsas is None:
        return list(range(num_wfsas))
    bad = [k for k in wfsas if not 0 <= k < num_wfsas]
    if bad:
        raise ValueError(f"no WFSA {bad} in a model with {num_wfsas} WFSAs (0..{num_wfsas - 1})")
    return list(dict.fromkeys(int(k) for k in wfsas))


def _text_field(instance: Instance) -> Optional[TextField]:
    field_ = instance.fields.get("tokens")
    if isinstance(field_, TextField):
        return field_
    return next((f for f in instance.fields.values() if isinstance(f, TextField)), None)


def _num_tokens(instance: Instance) -> int:
    field_ = _text_field(instance)
    return len(field_.tokens) if field_ is not None else 0


def _transition_weights(
    model: Model, encoder: RationalRnnLayers, instances: List[Instance]
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, List[List[str]]]:
    """Run the model on one batch; return the encoder's u, f (real tokens first), lengths, texts."""
    captured: Dict[str, Any] = {}

    def hook(module, args, kwargs):
        captured["tokens"] = args[0] if args else kwargs["tokens"]
        captured["mask"] = args[1] if len(args) > 1 else kwargs.get("mask")

    dataset = Batch(instances)
    dataset.index_instances(model.vocab)
    tensors = nn_util.move_to_device(dataset.as_tensor_dict(), model._get_prediction_device())
    handle = encoder.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        with torch.no_grad():
            model(**tensors)
            if "tokens" not in captured:
                raise ValueError("the model did not call its `rational_rnn` encoder")
            tokens, mask = captured["tokens"], captured["mask"]
            u, f = encoder.transition_weights(tokens)
    finally:
        handle.remove()
    batch, steps = tokens.shape[:2]
    if mask is None:
        mask = torch.ones(batch, steps, dtype=torch.bool, device=tokens.device)
    mask = mask.bool()
    # real tokens first, whatever side the padding is on (a stable sort keeps their order)
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)
    gather = order.view(batch, steps, 1, 1).expand_as(u)
    u, f = u.gather(1, gather), f.gather(1, gather)
    lengths = mask.sum(dim=1)
    texts = []
    for instance, length in zip(instances, lengths.tolist()):
        field_ = _text_field(instance)
        words = [token.text for token in field_.tokens] if field_ is not None else []
        # the encoder's time steps are the TextField's tokens unless the model re-tokenizes
        texts.append(words if len(words) == length else [f"#{i}" for i in range(length)])
    return u, f, lengths, texts


def phrase_key(match: PathMatch) -> Tuple:
    """What makes two matches the same phrase: their main-path and self-loop tokens."""
    return tuple((t.token, tuple(t.self_loop_tokens)) for t in match.transitions)


class _TopK:
    """Running top-k / bottom-k best paths per WFSA over the batches seen so far."""

    def __init__(self, wfsa_lengths: Sequence[int], wfsas: Sequence[int], k: int, distinct: bool) -> None:
        self.distinct = distinct
        self.lengths = list(wfsa_lengths)
        self.wfsas = list(wfsas)
        self.k = max(int(k), 0)
        self.top: Dict[int, List[PathMatch]] = {w: [] for w in self.wfsas}
        self.bottom: Dict[int, List[PathMatch]] = {w: [] for w in self.wfsas}
        self.documents: Dict[int, int] = {w: 0 for w in self.wfsas}

    def add(
        self, paths, documents: List[int], texts: List[List[str]], lengths: List[int], trailing: bool
    ) -> None:
        order_documents = numpy.asarray(documents)
        for mode, kept, sign in (("max", self.top, -1.0), ("min", self.bottom, 1.0)):
            scores = paths[mode].scores.cpu().numpy()
            positions = paths[mode].main_positions.cpu()
            for w in self.wfsas:
                column = scores[:, w]
                valid = numpy.flatnonzero(~numpy.isnan(column))
                if mode == "max":
                    self.documents[w] += len(valid)
                # the batch's best k (distinct) phrases: sign * score ascending, ties by document
                ranked = valid[numpy.lexsort((order_documents[valid], sign * column[valid]))]
                candidates: List[PathMatch] = []
                seen = set()
                for i in ranked.tolist():
                    if len(candidates) >= self.k:
                        break
                    match = self._match(
                        w, documents[i], float(column[i]), positions[i, w], texts[i], lengths[i], trailing
                    )
                    if self.distinct and phrase_key(match) in seen:
                        continue
                    seen.add(phrase_key(match))
                    candidates.append(match)
                merged = sorted(kept[w] + candidates, key=lambda m: (sign * m.score, m.document))
                kept[w] = self._first_k(merged)

    def _first_k(self, matches: List[PathMatch]) -> List[PathMatch]:
        """The first k matches, skipping repeated phrases when `distinct`."""
        result, seen = [], set()
        for match in matches:
            if len(result) >= self.k:
                break
            if self.distinct and phrase_key(match) in seen:
                continue
            seen.add(phrase_key(match))
            result.append(match)
        return result

    def _match(self, w: int, document: int, score: float, positions: torch.Tensor, words: List[str],
               length: int, trailing: bool) -> PathMatch:
        mains = [p for p in positions[: self.lengths[w]].tolist() if p >= 0]  # -1: ended earlier
        transitions = []
        for j, position in enumerate(mains):
            loops = list(range(mains[j - 1] + 1, position)) if j > 0 else []
            transitions.append(Transition(position, words[position], loops, [words[t] for t in loops]))
        trailing_count = length - 1 - mains[-1] if trailing else 0
        return PathMatch(w, document, score, transitions, trailing_count)

    def result(self, original_indices: Optional[Sequence[int]]) -> List[WfsaPhrases]:
        return [
            WfsaPhrases(
                wfsa=w,
                length=self.lengths[w],
                top=self.top[w],
                bottom=self.bottom[w],
                original_index=None if original_indices is None else int(original_indices[w]),
                documents=self.documents[w],
            )
            for w in self.wfsas
        ]
