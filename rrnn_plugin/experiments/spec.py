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
      "multi_objective": {                     // optional, see MultiObjectiveSpec
        "datasets": ["kitchen"], "n_trials": 30, "seed": 0, "sampler": "tpe",
        "space": {"lambda": {"low": 1e-5, "high": 3e-3, "log": true},
                  "trainer.optimizer.lr": {"low": 0.007, "high": 0.5, "log": true}, ...}
      }
    }

The grid (the paper's Figure 3) is, per dataset and seed: every baseline, and every target's
learned point.  A learned point needs lambda, found once per (dataset, target) by a search run
with the first seed; the search's chosen try *is* that first seed's learned run (same config,
lambda and seed), later seeds are new runs with the chosen lambda.
"""
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Union

BASELINE = "baseline"
SEARCH = "search"
LEARNED = "learned"

# What the authors sampled (method.md §5), as AllenNLP override paths into our configs; "lambda"
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

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "SweepSpec":
        data = dict(data)
        data.pop("description", None)  # free text for people
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown sweep spec keys: {sorted(unknown)}")
        moo = data.pop("multi_objective", None)
        spec = cls(**data)
        spec.baselines = [str(b) for b in spec.baselines]
        if moo is not None:
            moo = dict(moo)
            moo.setdefault("datasets", spec.datasets)
            spec.multi_objective = MultiObjectiveSpec(**moo)
        return spec

    @classmethod
    def from_file(cls, path: str) -> "SweepSpec":
        with open(path) as f:
            return cls.from_json(json.load(f))

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
    """One unit of grid work: a training run (baseline/learned) or a lambda search."""

    kind: str  # BASELINE, SEARCH or LEARNED
    dataset: str
    name: str  # "baseline_1", "learned_20", "search_20"
    seed: int
    baseline: Optional[str] = None
    target: Optional[float] = None

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.name}/seed_{self.seed}"

    @property
    def label(self) -> str:
        """The Figure-3 curve point (all seeds of it)."""
        return f"{self.dataset}/{self.name}"


def target_name(target: float) -> str:
    return f"{target:g}"


def grid_points(spec: SweepSpec) -> List[Point]:
    """Deterministic order chosen so that a partial sweep is most useful: per dataset, the first
    seed of every point (so both curves exist early), then the next seed, and so on.  A search is
    listed right before the learned runs that need it."""
    points: List[Point] = []
    for dataset in spec.datasets:
        for index, seed in enumerate(spec.seeds):
            for baseline in spec.baselines:
                points.append(Point(BASELINE, dataset, f"baseline_{baseline}", seed, baseline=baseline))
            for target in spec.targets:
                if index == 0:
                    points.append(Point(SEARCH, dataset, f"search_{target_name(target)}", seed, target=target))
                points.append(Point(LEARNED, dataset, f"learned_{target_name(target)}", seed, target=target))
    return points
