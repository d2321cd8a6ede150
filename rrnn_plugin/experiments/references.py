"""The linear models a user would try first, on exactly the folds the sweep used.

Figure 3 draws them as horizontal lines, so that the rational RNN's accuracy can be judged against
what a few lines of scikit-learn give on the same documents:

* `tfidf_lr`: TF-IDF of unigrams and bigrams of the reader's tokens (sublinear tf), logistic
  regression;
* `pooled_glove_lr`: the mean and the max of the frozen GloVe vectors of the document's tokens
  (the same vectors the GloVe models read), standardized, logistic regression;
* `pooled_features_lr`, instead of `pooled_glove_lr` on a panel whose models read contextual
  features: the same on the mean and max of those features (pooled_input.py).

Each trains on the fold's training part and choose C on its validation part (the neural models
early-stop on the same part), then predict the test fold.  Deterministic (liblinear, fixed seed).
"""
import logging
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from allennlp.common.checks import ConfigurationError

logger = logging.getLogger(__name__)

REFERENCES = {
    "tfidf_lr": "TF-IDF uni+bigram LR",
    "pooled_glove_lr": "mean+max GloVe LR",
    "pooled_features_lr": "mean+max contextual features LR",
}
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)

Outcomes = Dict[str, int]  # document id -> 1 right / 0 wrong


def _fold_parts(data_dir: str, dataset: str, folds: int, fold: int, seed: int) -> Dict[str, Tuple[List[str], List[List[str]], List[str]]]:
    """{part: (ids, token lists, labels)} of one fold, tokenized as the GloVe configs' reader does."""
    from rrnn_plugin.dataset_readers import BlitzerReviewsReader
    from rrnn_plugin.text_cleaning import END_SYMBOL, START_SYMBOL

    reader = BlitzerReviewsReader(folds=folds, fold=fold, seed=seed)
    parts = {}
    for part in ("train", "validation", "test"):
        reviews = reader.reviews(f"{os.path.join(data_dir, dataset)}#{part}")
        tokens = [[t for t in reader.tokenize(reader.review_text(r)) if t not in (START_SYMBOL, END_SYMBOL)]
                  for r in reviews]
        parts[part] = ([r.review_id for r in reviews], tokens, [r.label for r in reviews])
    return parts


def fit_predict(train_x, train_y, val_x, val_y, test_x) -> np.ndarray:
    """Logistic regression with C chosen on validation accuracy (ties: the smaller C)."""
    from sklearn.linear_model import LogisticRegression

    best = None
    for c in C_GRID:
        model = LogisticRegression(C=c, solver="liblinear", max_iter=2000, random_state=0)
        model.fit(train_x, train_y)
        accuracy = float(np.mean(model.predict(val_x) == np.asarray(val_y)))
        if best is None or accuracy > best[0]:
            best = (accuracy, model)
    return best[1].predict(test_x)


def standardized_fit_predict(x: Mapping[str, np.ndarray], labels: Mapping[str, Sequence[str]]) -> np.ndarray:
    """`fit_predict` on dense features ({part: matrix}) standardized with the training part's statistics."""
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x["train"])
    return fit_predict(scaler.transform(x["train"]), labels["train"], scaler.transform(x["validation"]),
                       labels["validation"], scaler.transform(x["test"]))


def tfidf_predictions(parts) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer=lambda tokens: tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:])],
                                 sublinear_tf=True)
    train_x = vectorizer.fit_transform(parts["train"][1])
    return fit_predict(train_x, parts["train"][2], vectorizer.transform(parts["validation"][1]),
                        parts["validation"][2], vectorizer.transform(parts["test"][1]))


def read_vectors(path: str, words: set) -> Dict[str, np.ndarray]:
    """The rows of a GloVe-format text file whose word is in `words`."""
    vectors = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            word, _, rest = line.rstrip("\n").partition(" ")
            if word in words:
                vectors[word] = np.array(rest.split(), dtype=np.float32)
    return vectors


def pooled_vectors(token_lists: Sequence[Sequence[str]], vectors: Mapping[str, np.ndarray], dim: int) -> np.ndarray:
    """[mean, max] of the known words' vectors per document (zeros for a document with none)."""
    features = np.zeros((len(token_lists), 2 * dim), dtype=np.float32)
    for row, tokens in enumerate(token_lists):
        known = [vectors[t] for t in tokens if t in vectors]
        if known:
            stacked = np.stack(known)
            features[row, :dim] = stacked.mean(axis=0)
            features[row, dim:] = stacked.max(axis=0)
    return features


def pooled_predictions(parts, glove_file: str) -> np.ndarray:
    words = {t for part in parts.values() for tokens in part[1] for t in tokens}
    vectors = read_vectors(glove_file, words)
    if not vectors:
        raise ValueError(f"{glove_file}: none of the documents' words has a vector")
    dim = len(next(iter(vectors.values())))
    x = {p: pooled_vectors(parts[p][1], vectors, dim) for p in parts}
    return standardized_fit_predict(x, {p: parts[p][2] for p in parts})


def record_fold(result: Tuple[Outcomes, Dict[str, int]], fold: int, ids: Sequence[str], gold: Sequence[str],
                predicted: Sequence[str]) -> None:
    """Add one test fold's documents to (document id -> right/wrong, document id -> fold)."""
    outcomes, fold_of = result
    for doc_id, g, p in zip(ids, gold, predicted):
        outcomes[doc_id] = int(g == p)
        fold_of[doc_id] = fold


def reference_outcomes(data_dir: str, dataset: str, folds: int, glove_file: Optional[str] = None,
                       seed: int = 13) -> Dict[str, Tuple[Outcomes, Dict[str, int]]]:
    """{reference: (document id -> right/wrong, document id -> fold)} over all folds of `dataset`.
    `pooled_glove_lr` needs `glove_file` and is left out without it."""
    results: Dict[str, Tuple[Outcomes, Dict[str, int]]] = {}
    for fold in range(folds):
        parts = _fold_parts(data_dir, dataset, folds, fold, seed)
        ids, _, gold = parts["test"]
        predicted = {"tfidf_lr": tfidf_predictions(parts)}
        if glove_file:
            predicted["pooled_glove_lr"] = pooled_predictions(parts, glove_file)
        for name, labels in predicted.items():
            record_fold(results.setdefault(name, ({}, {})), fold, ids, gold, labels)
        logger.info("references on %s fold %d: %s", dataset, fold,
                    ", ".join(f"{n} {np.mean(np.asarray(gold) == l):.3f}" for n, l in predicted.items()))
    return results


def add_references(store, panels: Dict[str, Tuple[str, int]], data_dir: str, glove_file: Optional[str] = None,
                   seed: int = 13, contextual: Optional[Mapping[str, Any]] = None, required: bool = False) -> List[str]:
    """Compute the reference models of every panel (panel -> (dataset, folds)) that does not have
    them yet and put them into the PredictionStore; return the panels computed.  Each dataset is
    computed once, whichever inputs' panels share it.  `contextual` (panel -> `ContextualInput`)
    names the panels whose models read contextual features: they get `pooled_features_lr` instead
    of `pooled_glove_lr` (an older store's GloVe line on such a panel is dropped).
    Where that cannot be computed (the model folder is missing, say) the panel goes without it
    and a warning says why, unless `required`."""
    from rrnn_plugin.experiments.pooled_input import pooled_features_outcomes
    from rrnn_plugin.experiments.predictions import REFERENCE_PREFIX, run_key

    contextual = contextual or {}
    shared = [name for name in ("tfidf_lr", "pooled_glove_lr") if name != "pooled_glove_lr" or glove_file]
    computed: Dict[Tuple[str, int], Dict[str, Tuple[Outcomes, Dict[str, int]]]] = {}
    done = []
    for panel, (dataset, folds) in panels.items():
        if panel in contextual:  # its pooled line pools its own input, not GloVe
            store.drop_run(panel, run_key(REFERENCE_PREFIX + "pooled_glove_lr", 0))
            wanted = ["tfidf_lr", "pooled_features_lr"]
        else:
            wanted = shared
        have = {run.rsplit("/seed_", 1)[0] for run in store.runs(panel)}
        missing = [name for name in wanted if REFERENCE_PREFIX + name not in have]
        results: Dict[str, Tuple[Outcomes, Dict[str, int]]] = {}
        if any(name in shared for name in missing):
            if (dataset, folds) not in computed:
                computed[(dataset, folds)] = reference_outcomes(data_dir, dataset, folds, glove_file, seed)
            results.update(computed[(dataset, folds)])
        if "pooled_features_lr" in missing:
            try:
                results["pooled_features_lr"] = pooled_features_outcomes(contextual[panel], data_dir, dataset, folds)
            except (ConfigurationError, OSError, ValueError) as error:
                if required:
                    raise
                logger.warning("%s: no pooled-features reference (%s)", panel, error)
                missing.remove("pooled_features_lr")
        for name in missing:
            outcomes, fold_of = results[name]
            store.add(panel, run_key(REFERENCE_PREFIX + name, 0), outcomes, fold_of)
        if missing:
            done.append(panel)
    return done
