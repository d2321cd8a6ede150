"""Every test prediction of a sweep, kept small enough to commit: which documents each run got right.

Per panel (input, dataset) the store holds the sorted document ids, the fold each id was tested in,
and per run (`<point>/seed_<s>`, all folds together) a string with one character per id: "1"
right, "0" wrong, "-" not tested.  A 2,000-document panel with 18 runs is ~40 KB of text, so a
whole cross-validated Figure 3 fits in a JSON file of about a megabyte, and the report's paired
tests can be recomputed from the committed file without the run folders.

Reference models (references.py) are stored as runs of points named `reference:<name>`.
"""
import json
import os
from collections import defaultdict
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from rrnn_plugin.experiments.trial import read_predictions

FORMAT = 1
REFERENCE_PREFIX = "reference:"


def panel_key(input_label: str, dataset: str) -> str:
    return f"{input_label}|{dataset}"


def run_key(point: str, seed: Any) -> str:
    return f"{point}/seed_{seed}"


class PredictionStore:
    """{panel: {"ids": [...], "folds": {id: fold}, "runs": {run: {id: 0/1}}}} with save/load."""

    def __init__(self) -> None:
        self.panels: Dict[str, Dict[str, Any]] = {}

    def add(self, panel: str, run: str, outcomes: Mapping[str, int], folds: Mapping[str, int]) -> None:
        """Record `outcomes` (id -> 1 right / 0 wrong) of one run; `folds`: id -> fold tested in."""
        data = self.panels.setdefault(panel, {"folds": {}, "runs": defaultdict(dict)})
        data["runs"].setdefault(run, {})
        for doc_id, fold in folds.items():
            known = data["folds"].setdefault(doc_id, fold)
            if known != fold:
                raise ValueError(f"{panel}: document {doc_id} tested in fold {known} and in fold {fold}")
        for doc_id, outcome in outcomes.items():
            if doc_id in data["runs"][run]:
                raise ValueError(f"{panel} {run}: document {doc_id} predicted twice")
            data["runs"][run][doc_id] = int(outcome)

    def drop_run(self, panel: str, run: str) -> bool:
        """Forget one run's outcomes; whether there were any."""
        return self.panels.get(panel, {}).get("runs", {}).pop(run, None) is not None

    def drop_references(self) -> int:
        """Forget every reference model's outcomes (so that they are computed again); return how many."""
        dropped = 0
        for data in self.panels.values():
            for run in [r for r in data["runs"] if r.startswith(REFERENCE_PREFIX)]:
                del data["runs"][run]
                dropped += 1
        return dropped

    def runs(self, panel: str) -> List[str]:
        return sorted(self.panels.get(panel, {}).get("runs", {}))

    def accuracies(self, panel: str, point: str) -> Tuple[List[str], np.ndarray]:
        """(ids, per-document accuracy averaged over the point's seeds), for the documents that
        every seed of the point was tested on."""
        data = self.panels.get(panel)
        if data is None:
            return [], np.zeros(0)
        runs = [outcomes for name, outcomes in data["runs"].items() if name.rsplit("/seed_", 1)[0] == point]
        if not runs:
            return [], np.zeros(0)
        ids = sorted(set.intersection(*(set(r) for r in runs)), key=_id_order)
        return ids, np.array([sum(r[i] for r in runs) / len(runs) for i in ids], dtype=float)

    def partial_runs(self, expected: Iterable[Tuple[str, str]] = ()) -> List[Tuple[str, str, int, int]]:
        """(panel, run, documents tested, documents in the panel) of every model run (not reference)
        that lacks some of its panel's documents — a point with a fold not run yet, or a run folder
        without its predictions — and of every `expected` (panel, run) with none at all.  Such a
        point and its paired tests use only the documents every seed of it was tested on (a run
        with none drops out), so the report lists them."""
        partial = set()
        for panel, run in expected:
            if panel in self.panels and run not in self.panels[panel]["runs"]:
                partial.add((panel, run, 0, len(self.panels[panel]["folds"])))
        for panel, data in self.panels.items():
            total = len(data["folds"])
            for run, outcomes in data["runs"].items():
                if not run.startswith(REFERENCE_PREFIX) and len(outcomes) < total:
                    partial.add((panel, run, len(outcomes), total))
        return sorted(partial)

    def fold_of(self, panel: str, doc_id: str) -> Optional[int]:
        return self.panels.get(panel, {}).get("folds", {}).get(doc_id)

    # ----- files ------------------------------------------------------------------------------
    def to_json(self) -> Dict[str, Any]:
        panels = {}
        for panel, data in sorted(self.panels.items()):
            ids = sorted(data["folds"], key=_id_order)
            panels[panel] = {
                "ids": ids,
                "folds": "".join(_fold_char(data["folds"][i]) for i in ids),
                "runs": {run: "".join(str(outcomes[i]) if i in outcomes else "-" for i in ids)
                         for run, outcomes in sorted(data["runs"].items())},
            }
        return {"format": FORMAT, "panels": panels}

    def save(self, path: str) -> None:
        with open(path + ".tmp", "w") as handle:
            json.dump(self.to_json(), handle, separators=(",", ":"))
            handle.write("\n")
        os.replace(path + ".tmp", path)

    @classmethod
    def load(cls, path: str) -> "PredictionStore":
        with open(path) as handle:
            data = json.load(handle)
        if data.get("format") != FORMAT:
            raise ValueError(f"{path}: prediction store format {data.get('format')!r}, expected {FORMAT}")
        store = cls()
        for panel, content in data["panels"].items():
            ids, folds = content["ids"], content["folds"]
            if len(folds) != len(ids):
                raise ValueError(f"{path}: panel {panel!r} has {len(ids)} ids but {len(folds)} fold marks")
            fold_map = {i: (None if f == "?" else int(f, 36)) for i, f in zip(ids, folds)}
            for run, outcomes in content["runs"].items():
                if len(outcomes) != len(ids):
                    raise ValueError(f"{path}: run {run!r} of {panel!r} has {len(outcomes)} marks for {len(ids)} ids")
                store.add(panel, run, {i: int(o) for i, o in zip(ids, outcomes) if o != "-"}, {})
            store.panels[panel]["folds"] = fold_map
        return store

    def merge(self, other: "PredictionStore") -> None:
        for panel, data in other.panels.items():
            for run, outcomes in data["runs"].items():
                if run not in self.runs(panel):
                    self.add(panel, run, outcomes, data["folds"])


def gather(rows: Iterable[Mapping[str, Any]]) -> PredictionStore:
    """Read test_predictions.tsv of every cross-validated grid row that has one."""
    store = PredictionStore()
    for row in rows:
        if row.get("mode", "grid") != "grid" or row.get("fold") is None or not row.get("serialization_dir"):
            continue
        predictions = read_predictions(str(row["serialization_dir"]))
        if predictions is None:
            continue
        outcomes = {p["id"]: int(p["gold"] == p["predicted"]) for p in predictions}
        store.add(panel_key(str(row.get("input") or ""), str(row["dataset"])),
                  run_key(row["point"], row["seed"]), outcomes, {i: int(row["fold"]) for i in outcomes})
    return store


def fold_accuracies(store: PredictionStore, panel: str, ids: Sequence[str], values: np.ndarray) -> Dict[int, float]:
    """Mean of `values` (per-document accuracies over `ids`) per fold."""
    per_fold: Dict[int, List[float]] = defaultdict(list)
    for doc_id, value in zip(ids, values):
        fold = store.fold_of(panel, doc_id)
        if fold is not None:
            per_fold[fold].append(float(value))
    return {fold: float(np.mean(v)) for fold, v in sorted(per_fold.items())}


def _fold_char(fold: Optional[int]) -> str:
    return "?" if fold is None else np.base_repr(int(fold), 36).lower()


def _id_order(doc_id: str) -> Tuple:
    """Ids sort by their parts, numbers numerically (kitchen/negative/2 before .../10)."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in doc_id.replace(":", "/").split("/"))
