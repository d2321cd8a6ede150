"""The sweep spec (a small JSON file) and the deterministic list of points it describes.

    {
      "name": "kitchen-reduced",              // names the Optuna studies
      "datasets": ["kitchen"],
      "seeds": [0, 1, 2],
      "baselines": ["1", "2", "3", "4", "mix"],
      "targets": [80, 60, 40, 20],            // lambda-search targets (transitions)
      "tolerance": 10,
      "start_lambda": 1e-4,                   // or {"80": 2e-5, "20": 3e-4}: one per target
      "max_tries": 25,
      "baseline_config": "training_configs/{dataset}/baseline_{baseline}.jsonnet",
      "structure_config": "training_configs/{dataset}/structure_learning.jsonnet",
      "overrides": {},                         // AllenNLP overrides for every run (dotted keys)
      "baseline_overrides": {}, "structure_overrides": {},
      "input": "GloVe 50d",                    // a label for the report (several inputs, one figure)
      "env": {"RRNN_BERT_MODEL": "..."},       // optional: environment variables of every run
      "folds": 5,                              // optional: k-fold cross-validation (dataset_reader.folds)
      "tuning": {"trials": 4, "space": {...}}, // optional: random search per point on the first fold
      "multi_objective": {                     // optional, see MultiObjectiveSpec
        "datasets": ["kitchen"], "n_trials": 30, "seed": 0, "sampler": "tpe",
        "space": {"lambda": {"low": 1e-5, "high": 3e-3, "log": true},
                  "trainer.optimizer.lr": {"low": 0.007, "high": 0.5, "log": true}, ...}
      }
    }

The grid (the paper's Figure 3) is, per dataset, seed and fold (one "fold" without `folds`): every
baseline, and every target's learned point.  A learned point needs lambda, found once per
(dataset, target) by a search run with the first seed on the first fold; the search's chosen try
*is* that learned run (same config, lambda, seed and fold), the others are new runs with the
chosen lambda.

With `tuning`, every point's hyperparameters are chosen first, as the paper did, by random search
on the first fold and seed (`TuningSpec`): trial 0 is the default configuration (for a learned
point: the search's chosen try), trials 1..n sample `space`.  The trial with the best validation
accuracy wins (a learned point's trial must also land within `tolerance` of its target); its run
is that point's (first fold, first seed) run, and the other folds and seeds reuse its settings.
"""
import hashlib
import math
import random
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Union

from rrnn_plugin.experiments.spec_checks import SpecError, check_spec_values


BASELINE = "baseline"
SEARCH = "search"
LEARNED = "learned"
TUNE = "tune"

# What the authors sampled (docs/method.md §5), as AllenNLP override paths into our configs; "lambda"
# is the group-lasso strength (passed as RRNN_LAMBDA).  Ranges other than the learning rate's are
# our choice around the lib defaults.
DEFAULT_SPACE: Dict[str, Dict[str, Any]] = {
    "lambda": {"low": 1e-5, "high": 3e-3, "log": True},
    "trainer.optimizer.lr": {"low": 7e-3, "high": 0.5, "log": True},
    "model.seq2vec_encoder.input_dropout": {"low": 0.0, "high": 0.5},
    "model.dropout": {"low": 0.0, "high": 0.5},
    "trainer.grad_clipping": {"low": 1.0, "high": 10.0},
    "trainer.optimizer.weight_decay": {"low": 1e-7, "high": 1e-4, "log": True},
}


@dataclass
class MultiObjectiveSpec:
    """Maximize validation accuracy and minimize transitions over lambda + hyperparameters."""

    datasets: List[str]
    n_trials: int = 30
    seed: int = 0  # training seed of every trial (the sampler is seeded with it too)
    sampler: str = "tpe"  # or "nsga2", "random"
    space: Dict[str, Dict[str, Any]] = field(default_factory=lambda: dict(DEFAULT_SPACE))


# Per-point tuning: DEFAULT_SPACE without lambda (a learned point keeps its searched lambda) and
# with the learning rate capped at 0.1 (larger rates keep almost every transition, docs/results.md).
DEFAULT_TUNING_SPACE: Dict[str, Dict[str, Any]] = {
    **{name: bounds for name, bounds in DEFAULT_SPACE.items() if name != "lambda"},
    "trainer.optimizer.lr": {"low": 7e-3, "high": 0.1, "log": True},
}


@dataclass
class TuningSpec:
    """Random search per point: `trials` sampled settings besides the default (trial 0)."""

    trials: int = 4
    seed: int = 0  # of the sampler (the training seed is the sweep's first seed)
    space: Dict[str, Dict[str, Any]] = field(default_factory=lambda: dict(DEFAULT_TUNING_SPACE))

    def sample(self, dataset: str, point: str, trial: int) -> Dict[str, float]:
        """Trial `trial`'s overrides ({} for trial 0): a function of (seed, dataset, point, trial)
        only, so every worker and every resumed sweep draws the same settings."""
        if trial == 0:
            return {}
        digest = hashlib.sha256(f"{self.seed}:{dataset}:{point}:{trial}".encode("utf-8")).digest()
        rng = random.Random(int.from_bytes(digest[:8], "big"))
        values = {}
        for name in sorted(self.space):
            bounds = self.space[name]
            low, high = float(bounds["low"]), float(bounds["high"])
            if bounds.get("log", False):
                values[name] = math.exp(rng.uniform(math.log(low), math.log(high)))
            else:
                values[name] = rng.uniform(low, high)
        return values


@dataclass
class SweepSpec:
    name: str
    datasets: List[str]
    seeds: List[int] = field(default_factory=lambda: [0, 1, 2])
    baselines: List[str] = field(default_factory=lambda: ["1", "2", "3", "4", "mix"])
    targets: List[float] = field(default_factory=lambda: [80, 60, 40, 20])
    tolerance: float = 10.0
    start_lambda: Union[float, Dict[str, float]] = 1e-4  # see commands/search.py
    max_tries: int = 25
    baseline_config: str = "training_configs/{dataset}/baseline_{baseline}.jsonnet"
    structure_config: str = "training_configs/{dataset}/structure_learning.jsonnet"
    overrides: Dict[str, Any] = field(default_factory=dict)
    baseline_overrides: Dict[str, Any] = field(default_factory=dict)
    structure_overrides: Dict[str, Any] = field(default_factory=dict)
    multi_objective: Optional[MultiObjectiveSpec] = None
    input: str = ""  # what the models read ("GloVe 50d", "MiniLM-L6"): a label for the report
    folds: Optional[int] = None  # k-fold cross-validation (the reader's `folds`); None: the plain split
    tuning: Optional[TuningSpec] = None
    env: Dict[str, str] = field(default_factory=dict)  # environment of every run (RRNN_BERT_MODEL, ...)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "SweepSpec":
        if not isinstance(data, Mapping):
            raise SpecError(f"a sweep spec is a JSON object of keys, got {type(data).__name__}")
        data = dict(data)
        data.pop("description", None)  # free text for people
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise SpecError(f"unknown sweep spec keys: {sorted(unknown)}")
        missing = {"name", "datasets"} - set(data)
        if missing:
            raise SpecError(f"sweep spec keys missing: {sorted(missing)}")
        check_spec_values(data)
        moo = data.pop("multi_objective", None)
        tuning = data.pop("tuning", None)
        spec = cls(**data)
        spec.baselines = [str(b) for b in spec.baselines]
        if tuning is not None:
            spec.tuning = TuningSpec(**tuning)
        if moo is not None:
            moo = dict(moo)
            moo.setdefault("datasets", spec.datasets)
            unknown = set(moo) - set(MultiObjectiveSpec.__dataclass_fields__)
            if unknown:
                raise SpecError(f"sweep spec key 'multi_objective': unknown keys {sorted(unknown)}")
            spec.multi_objective = MultiObjectiveSpec(**moo)
        return spec

    @classmethod
    def from_file(cls, path: str) -> "SweepSpec":
        """The spec in `path`; SpecError naming the file for bad JSON or a bad value."""
        with open(path) as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as error:
                raise SpecError(f"{path}, line {error.lineno}: not valid JSON ({error.msg})") from None
        try:
            return cls.from_json(data)
        except SpecError as error:
            raise SpecError(f"{path}: {error}") from None

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)

    def start_for(self, target: float) -> float:
        if isinstance(self.start_lambda, Mapping):
            for key, value in self.start_lambda.items():
                if float(key) == float(target):
                    return float(value)
            raise ValueError(f"start_lambda has no entry for target {target:g}")
        return float(self.start_lambda)


@dataclass(frozen=True)
class Point:
    """One unit of grid work: a training run (baseline/learned/tuning trial) or a lambda search."""

    kind: str  # BASELINE, SEARCH, LEARNED or TUNE
    dataset: str
    name: str  # "baseline_1", "learned_20", "search_20" (TUNE: the name of the point it tunes)
    seed: int
    baseline: Optional[str] = None
    target: Optional[float] = None
    fold: Optional[int] = None  # None: the plain split
    trial: Optional[int] = None  # TUNE only

    @property
    def key(self) -> str:
        if self.kind == TUNE:
            return f"{self.dataset}/tune_{self.name}/trial_{self.trial}"
        fold = "" if self.fold is None else f"fold_{self.fold}/"
        return f"{self.dataset}/{self.name}/{fold}seed_{self.seed}"

    @property
    def label(self) -> str:
        """The Figure-3 curve point (all seeds and folds of it)."""
        return f"{self.dataset}/{self.name}"


def target_name(target: float) -> str:
    return f"{target:g}"


def grid_points(spec: SweepSpec) -> List[Point]:
    """Deterministic order chosen so that a partial sweep is most useful: per dataset, the searches
    and tuning trials (they decide what the other runs use), then per seed and fold every point (so
    both curves exist early and folds complete one after the other).  A search is listed right
    before the runs that need it."""
    folds: List[Optional[int]] = [None] if spec.folds is None else list(range(spec.folds))
    first_seed, first_fold = spec.seeds[0], folds[0]
    points: List[Point] = []
    tuning_trials = range(spec.tuning.trials + 1) if spec.tuning else range(0)
    for dataset in spec.datasets:
        for baseline in spec.baselines:
            for trial in tuning_trials:
                points.append(Point(TUNE, dataset, f"baseline_{baseline}", first_seed, baseline=baseline,
                                    fold=first_fold, trial=trial))
        for target in spec.targets:
            name = target_name(target)
            points.append(Point(SEARCH, dataset, f"search_{name}", first_seed, target=target, fold=first_fold))
            for trial in tuning_trials[1:]:  # trial 0 of a learned point is the search's chosen try
                points.append(Point(TUNE, dataset, f"learned_{name}", first_seed, target=target,
                                    fold=first_fold, trial=trial))
        for seed in spec.seeds:
            for fold in folds:
                for baseline in spec.baselines:
                    points.append(Point(BASELINE, dataset, f"baseline_{baseline}", seed, baseline=baseline, fold=fold))
                for target in spec.targets:
                    points.append(Point(LEARNED, dataset, f"learned_{target_name(target)}", seed, target=target,
                                        fold=fold))
    return points
