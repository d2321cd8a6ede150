"""`prune_and_finetune`: structure learning, pruning and finetuning in one `allennlp train` run.

docs/method.md §2-§3 as one trainer callback:

    trainer: {
      num_epochs: 20,                      // overridden: structure_epochs + finetune_epochs
      optimizer: {type: 'adam', lr: 0.01}, // phase 1 (constant learning rate)
      validation_metric: '+accuracy',
      callbacks: [{type: 'prune_and_finetune', structure_epochs: 10, finetune_epochs: 10,
                   finetune_patience: 3, eps: 0.1}],
    }

with the model's `regularizer` set to `state_group_lasso` (see `regularizers.py`).

Phase 1, "structure" (epochs 0 .. structure_epochs-1): ordinary training with the regularizer,
no learning-rate schedule (the callback refuses a trainer `learning_rate_scheduler`), no early
stopping (the trainer's `patience` is ignored in this phase).  After each epoch the structure that
pruning would give is logged.  AllenNLP's own best-model tracking (validation metric, `best.th`)
remembers the best epoch.

The switch, in `on_epoch` of the last structure epoch, i.e. *before* the trainer writes that
epoch's checkpoint:
1. the best structure epoch's weights are put back (`best.th` unless this epoch is the best);
2. the model is pruned **in place** (`pruning.apply_structure`) and its regularizer removed.  In
   place because `allennlp train` holds the model in several places (the trainer, the training
   loop that evaluates on the test set, the returned model); they all stay valid;
3. `trainer.optimizer` is replaced by a fresh `finetune_optimizer` over the new parameters (default:
   the trainer's own optimizer config), and `trainer._learning_rate_scheduler` by a fresh
   `finetune_learning_rate_scheduler` (default: none);
4. the pruned model is validated once, and the trainer's metric tracker is reset and seeded with
   that score, with `finetune_patience`: finetuning must beat the pruned model to replace it, and
   early stopping counts finetuning epochs only;
5. `learned_structure.json` and `structure_model.tar.gz` (the pruned, not yet finetuned model: the
   output of the paper's first command) are written.
The trainer then saves its checkpoint and `best.th` as usual, now of the pruned model.

Phase 2, "finetune": ordinary training of the pruned model; the trainer's loop ends after
`finetune_epochs` more epochs or when patience runs out, and loads the best finetune weights.
`on_end` then rewrites `config.json` so that it builds the pruned model (the encoder's
`wfsa_lengths` becomes the explicit list, the regularizer and this callback are removed; the
original is kept as `structure_learning_config.json`), and AllenNLP archives `best.th` with it:
`model.tar.gz` is a plain, pruned `rational_classifier`.

Metrics: every epoch gets `phase` ("structure"/"finetune"); structure epochs also get
`structure_kept_transitions`/`structure_kept_wfsas` (the prospective pruned size).  From the
switch on, `structure_*` keys summarize phase 1 (chosen epoch, its validation metrics, the pruned
model's validation metrics, sizes before/after, lambda, eps) and at the end `finetune_*` keys
summarize phase 2.  The usual `best_*`, `validation_*`, `test_*` keys are those of the final model.

Recovery (`allennlp train ... --recover`): the checkpoint is the single source of truth.  The
callback's `state_dict` (phase, kept lengths, history, scheduler state; plain Python types) is in
every checkpoint.  AllenNLP restores the model weights *before* callbacks hear `on_start`, and a
phase-2 checkpoint holds pruned-shape weights, so the callback takes the model as a constructor
argument (AllenNLP passes the trainer's `model` to callbacks that ask for it) and, if the latest
checkpoint was written in phase 2, prunes the freshly built model to the recorded structure right
away; the trainer then loads the checkpoint into the right shape.  The trainer also loads the
saved phase-2 optimizer state into its own (phase-1 config) optimizer object; `on_start` moves it
into a fresh finetune optimizer.  So recovery continues in the right phase with the right shape,
optimizer and patience.  Restrictions that follow: the finetune optimizer must have as many
parameter groups as the trainer's (checked at start); no moving average or momentum scheduler.
An interrupted phase-2 run is not archived (the archive would pair the original config with
pruned weights); resume it with `--recover`.

Distributed training (top-level `distributed: {cuda_devices: [-1, -1]}` for two CPU workers with
gloo, or GPU ids for NCCL; AllenNLP's default torch DDP only, not a sharded `ddp_accelerator`):
every worker runs this callback, and they must all prune the same way and keep training one model.
* `best.th` is written by the primary only, at the end of an earlier epoch and before the
  trainer's end-of-epoch barrier, so at the switch every worker can load it (as AllenNLP itself
  does after training, this needs the serialization directory on a file system all workers see).
* The primary's structure report is the decision, broadcast to all (`ddp.primary_decides`); every
  worker logs its own report next to it and warns if they differ (`ddp.check_workers_agree`): DDP
  keeps the replicas identical, so a difference means a state norm within rounding of eps.
* Pruning replaces parameters, which the trainer's DDP wrapper does not know: the model is wrapped
  anew (`ddp.rewrap_ddp`), which also checks that all workers have the same shapes and broadcasts the
  primary's pruned weights.  The old wrapper is dropped before anything uses the new parameters.
* The pruned model's validation sums loss and batch counts over workers as the trainer does
  (`accuracy` all-reduces itself); the metric tracker is then the same everywhere.
* Files (`learned_structure.json`, `structure_model.tar.gz`, metrics, the config rewrite) are
  written by the primary only.  `--recover` works as above: every worker reads the primary's
  checkpoint, prunes, and `on_start` wraps the pruned model anew.
* AllenNLP 2.10's `evaluate_on_test` runs on the primary alone after distributed training and
  fails in the metrics' all-reduce (the other workers have left), losing the archive: refused at
  start; use `allennlp evaluate` on `model.tar.gz`.
"""
import copy
import logging
import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional

import torch
import torch.distributed as dist
from allennlp.common import Lazy, Params
from allennlp.common.checks import ConfigurationError
from allennlp.common.util import dump_metrics
from allennlp.models import Model
from allennlp.models.archival import CONFIG_NAME
from allennlp.nn.util import dist_reduce_sum
from allennlp.training import util as training_util
from allennlp.training.callbacks import TrainerCallback
from allennlp.training.learning_rate_schedulers import LearningRateScheduler
from allennlp.training.optimizers import Optimizer

from rrnn_plugin.training.ddp import check_workers_agree, distributed_problems, primary_decides, rewrap_ddp
from rrnn_plugin.training.pruning import (
    STRUCTURE_FILE,
    apply_structure,
    as_kept,
    encoder_structures,
    structure_report,
)
from rrnn_plugin.training.regularizers import group_lasso_alphas, group_lasso_rules
from rrnn_plugin.training.run_files import (
    STRUCTURE_BEST, finish_run_files, plain, save_structure_best, write_json, write_structure_archive,
)

if TYPE_CHECKING:
    from allennlp.training.gradient_descent_trainer import GradientDescentTrainer

logger = logging.getLogger(__name__)

STRUCTURE = "structure"
FINETUNE = "finetune"


@TrainerCallback.register("prune_and_finetune")
class PruneAndFinetuneCallback(TrainerCallback):
    """
    # Parameters

    serialization_dir : `str`
        Given by the trainer.
    model : `Model`
        Given by the trainer (the model being trained): needed before the trainer restores a
        checkpoint, see the module docstring.
    structure_epochs : `int`
        Epochs of phase 1 (at least 1).  The best of them (validation metric) gives the structure.
    finetune_epochs : `int`
        At most this many epochs of phase 2 (0: the result is the pruned, unfinetuned model).
    eps : `float`, optional (default = `0.1`)
        A state survives if its group norm is > eps (and so are its predecessors').
    finetune_patience : `int`, optional (default = the trainer's `patience`)
        Early stopping in phase 2, on the trainer's `validation_metric`.
    finetune_optimizer : `Lazy[Optimizer]`, optional (default = the trainer's `optimizer` config)
        A fresh optimizer for the pruned model.
    finetune_learning_rate_scheduler : `Lazy[LearningRateScheduler]`, optional (default = none)
        Built on the finetune optimizer with `num_epochs=finetune_epochs` and stepped by the trainer
        as usual (epoch schedulers such as `reduce_on_plateau` fit best: a batch-stepped one sees
        the run's global batch count, which does not restart at the switch).
    """

    def __init__(
        self,
        serialization_dir: str,
        model: Model,
        structure_epochs: int,
        finetune_epochs: int,
        eps: float = 0.1,
        finetune_patience: Optional[int] = None,
        finetune_optimizer: Optional[Lazy[Optimizer]] = None,
        finetune_learning_rate_scheduler: Optional[Lazy[LearningRateScheduler]] = None,
    ) -> None:
        super().__init__(serialization_dir)
        if structure_epochs < 1 or finetune_epochs < 0:
            raise ConfigurationError(
                "prune_and_finetune needs structure_epochs >= 1 and finetune_epochs >= 0, got "
                f"{structure_epochs} and {finetune_epochs}"
            )
        if eps < 0:
            raise ConfigurationError(f"prune_and_finetune: eps must be >= 0, got {eps}")
        self.model = model
        self.structure_epochs = structure_epochs
        self.finetune_epochs = finetune_epochs
        self.eps = eps
        self.finetune_patience = finetune_patience
        self._finetune_optimizer = finetune_optimizer
        self._finetune_scheduler = finetune_learning_rate_scheduler
        # the model's `live_states` metric counts states with norm > eps, as pruning does
        model.live_state_eps = eps
        # callback state, everything in plain Python types (see state_dict)
        self.phase = STRUCTURE
        self.kept_lengths: Optional[Dict[str, Any]] = None  # encoder attribute -> kept structure
        self.config_updates: Dict[str, Dict[str, Any]] = {}  # what rebuilds the pruned model
        self.history: List[Dict[str, Any]] = []
        self.summary: Dict[str, Any] = {}
        self._scheduler_state: Optional[Dict[str, Any]] = None
        self._shape_for_recovery()

    # ----- checkpointed state ---------------------------------------------------------------
    def state_dict(self) -> Dict[str, Any]:
        scheduler = self.trainer._learning_rate_scheduler if self.trainer is not None else None
        return {
            "callback": "prune_and_finetune",
            "phase": self.phase,
            "kept_lengths": self.kept_lengths,
            "config_updates": self.config_updates,
            "history": self.history,
            "summary": self.summary,
            # the trainer restores a scheduler only if its *config* has one (phase 1 has none)
            "learning_rate_scheduler": (
                scheduler.state_dict() if self.phase == FINETUNE and scheduler is not None else None
            ),
        }

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self.phase = state_dict["phase"]
        self.kept_lengths = state_dict["kept_lengths"]
        self.config_updates = state_dict.get("config_updates") or {}
        self.history = list(state_dict["history"])
        self.summary = dict(state_dict["summary"])
        self._scheduler_state = state_dict.get("learning_rate_scheduler")

    def _shape_for_recovery(self) -> None:
        """If the checkpoint that `--recover` will load was written in phase 2, prune the freshly
        built model to the recorded structure now, before the trainer loads pruned-shape weights."""
        from rrnn_plugin.training.checkpointer import RecoverableCheckpointer

        # the checkpoint the trainer will load: the newest complete one (checkpointer.py)
        latest = RecoverableCheckpointer(self.serialization_dir).newest_loadable()
        if latest is None:
            return
        training_state = latest[3]
        mine = [
            state for state in training_state.get("callbacks", [])
            if isinstance(state, dict) and state.get("callback") == "prune_and_finetune"
        ]
        if mine and mine[0]["phase"] == FINETUNE:
            self.load_state_dict(mine[0])
            logger.info("Recovering in the finetune phase: pruning the model to %s", self.kept_lengths)
            self.kept_lengths = as_kept(self.model, self.kept_lengths)
            apply_structure(self.model, self.kept_lengths)
            self.model._regularizer = None
            if not self.config_updates:  # a checkpoint of the single-layer-only version
                self.config_updates = {"seq2vec_encoder": self.model._seq2vec_encoder.config()}

    # ----- trainer events -------------------------------------------------------------------
    def on_start(self, trainer: "GradientDescentTrainer", is_primary: bool = True, **kwargs) -> None:
        super().on_start(trainer, is_primary, **kwargs)
        self._check_supported(trainer)
        if self.finetune_patience is None:
            self.finetune_patience = trainer._metric_tracker._patience
        num_epochs = self.structure_epochs + self.finetune_epochs
        if trainer._num_epochs != num_epochs:
            logger.info(
                "prune_and_finetune: trainer.num_epochs %d replaced by structure_epochs + "
                "finetune_epochs = %d", trainer._num_epochs, num_epochs,
            )
            trainer._num_epochs = num_epochs
        if self.phase == STRUCTURE:
            trainer._metric_tracker._patience = None
            # build once to fail now, not after hours of structure learning
            self._check_optimizer_groups(trainer, self._build_optimizer())
        else:
            optimizer = self._build_optimizer()
            self._check_optimizer_groups(trainer, optimizer)
            # the trainer loaded the saved finetune optimizer state into its phase-1 optimizer
            optimizer.load_state_dict(trainer.optimizer.state_dict())
            trainer.optimizer = optimizer
            trainer._learning_rate_scheduler = self._build_scheduler(trainer, optimizer)
            if trainer._learning_rate_scheduler is not None and self._scheduler_state is not None:
                trainer._learning_rate_scheduler.load_state_dict(self._scheduler_state)
            trainer._metric_tracker._patience = self.finetune_patience
            # the trainer wrapped the model for DDP before `_shape_for_recovery` pruned it
            rewrap_ddp(trainer)

    def on_epoch(
        self,
        trainer: "GradientDescentTrainer",
        metrics: Dict[str, Any],
        epoch: int,
        is_primary: bool = True,
        **kwargs,
    ) -> None:
        if self.phase == STRUCTURE:
            structures = encoder_structures(self.model, self.eps)  # norms only, nothing is built
            kept_transitions = sum(e.transitions_after for e in structures)
            kept_wfsas = sum(e.wfsas_after for e in structures)
            self.history.append(
                {
                    "epoch": epoch,
                    "validation": plain(_quality(_prefixed(metrics, "validation_"))),
                    "kept_lengths": {e.attribute: e.kept for e in structures},
                    "kept_transitions": kept_transitions,
                }
            )
            logger.info(
                "Structure epoch %d: pruning at eps=%g would keep %d of %d transitions in %d WFSAs",
                epoch, self.eps, kept_transitions, sum(e.transitions_before for e in structures), kept_wfsas,
            )
            metrics["phase"] = STRUCTURE
            metrics["structure_kept_transitions"] = kept_transitions
            metrics["structure_kept_wfsas"] = kept_wfsas
            self._rewrite_epoch_metrics(epoch, metrics, is_primary)
            if epoch + 1 >= self.structure_epochs:
                self._switch(trainer, metrics, epoch, is_primary)
        else:
            metrics["phase"] = FINETUNE
            metrics.update(self.summary)
            self._rewrite_epoch_metrics(epoch, metrics, is_primary)

    def on_end(
        self,
        trainer: "GradientDescentTrainer",
        metrics: Dict[str, Any] = None,
        epoch: int = None,
        is_primary: bool = True,
        **kwargs,
    ) -> None:
        if self.phase != FINETUNE:
            return
        if metrics is None:
            # Interrupted in phase 2: AllenNLP would archive pruned weights with the original
            # (unpruned) config, which cannot be loaded.  `--recover` resumes instead.
            trainer._best_model_filename = None
            logger.info("Interrupted while finetuning: resume with `allennlp train ... --recover`.")
            return
        finetune = {"finetune_best_epoch": metrics.get("best_epoch")}
        for key, value in _quality(_prefixed(metrics, "best_validation_")).items():
            finetune["finetune_best_validation_" + key] = value
        finetune["finetune_epochs_completed"] = trainer._epochs_completed - self.summary[
            "structure_epochs_completed"
        ]
        metrics.update(self.summary)
        metrics.update(finetune)
        if not is_primary:
            return
        finish_run_files(self.serialization_dir, finetune, self.config_updates)

    # ----- the switch -----------------------------------------------------------------------
    def _switch(self, trainer: "GradientDescentTrainer", metrics: Dict[str, Any], epoch: int,
                is_primary: bool) -> None:
        tracker = trainer._metric_tracker
        best_epoch = tracker.best_epoch if tracker.best_epoch is not None else epoch
        best_validation = dict(tracker.best_epoch_metrics)
        best_weights = _best_weights_file(trainer, self.serialization_dir)
        if not tracker.is_best_so_far() and best_weights is not None:
            trainer._load_model_state(best_weights)
        if is_primary:
            save_structure_best(self.serialization_dir, self.model)
        alphas = group_lasso_alphas(self.model)
        local_report = structure_report(self.model, self.eps)
        report = primary_decides(local_report)
        check_workers_agree(local_report.kept, report.kept)
        logger.info(
            "Pruning the structure of epoch %d: %d -> %d transitions, %d -> %d WFSAs",
            best_epoch, report.transitions_before, report.transitions_after,
            report.wfsas_before, report.wfsas_after,
        )
        if report.wfsas_after == 0:
            logger.warning("Pruning removed every WFSA (every state's group norm <= eps = %g): the finetuned model "
                           "sees no text and predicts from its bias alone; a smaller lambda keeps some", self.eps)
        apply_structure(self.model, report.kept)
        self.model._regularizer = None
        rewrap_ddp(trainer)
        self.kept_lengths = report.kept
        self.config_updates = report.config_updates
        self.phase = FINETUNE

        optimizer = self._build_optimizer()
        trainer.optimizer = optimizer
        trainer._learning_rate_scheduler = self._build_scheduler(trainer, optimizer)

        pruned_validation = self._validate(trainer, epoch)
        tracker.clear()
        tracker._patience = self.finetune_patience
        tracker._epoch_number = epoch  # so that tracker.best_epoch stays a global epoch number
        tracker.add_metrics(pruned_validation)
        tracker.best_epoch_metrics = pruned_validation

        self.summary = plain(
            {
                "structure_best_epoch": best_epoch,
                "structure_epochs_completed": epoch + 1,
                "structure_lambda": alphas[0] if len(alphas) == 1 else alphas,
                "structure_eps": self.eps,
                "structure_transitions_before": report.transitions_before,
                "structure_transitions_after": report.transitions_after,
                "structure_wfsas_before": report.wfsas_before,
                "structure_wfsas_after": report.wfsas_after,
                "structure_trainable_parameters_before": report.trainable_parameters_before,
                "structure_trainable_parameters_after": report.trainable_parameters_after,
                **{f"structure_best_validation_{k}": v for k, v in _quality(best_validation).items()},
                **{f"structure_pruned_validation_{k}": v for k, v in _quality(pruned_validation).items()},
            }
        )
        # The next epochs' metrics describe the pruned model: drop what no longer gets updated.
        for key in list(metrics):
            if key.startswith(("structure_kept_", "best_validation_")) or any(
                stale in key for stale in ("reg_loss", "group_lasso_penalty")
            ):
                del metrics[key]
        metrics["best_epoch"] = epoch
        metrics.update({f"best_validation_{k}": v for k, v in pruned_validation.items()})
        metrics.update(self.summary)

        if is_primary:
            report.extra = {
                "lambda": self.summary["structure_lambda"],
                "chosen_epoch": best_epoch,
                "structure_epochs": epoch + 1,
                "best_validation": self._summary_section("structure_best_validation_"),
                "pruned_validation": self._summary_section("structure_pruned_validation_"),
                "history": self.history,
            }
            write_json(os.path.join(self.serialization_dir, STRUCTURE_FILE), plain(report.to_json()))
            write_structure_archive(self.serialization_dir, self.model, self.config_updates)

    def _rewrite_epoch_metrics(self, epoch: int, metrics: Dict[str, Any], is_primary: bool) -> None:
        """The trainer writes metrics_epoch_N.json just before `on_epoch`; add this epoch's keys."""
        path = os.path.join(self.serialization_dir, f"metrics_epoch_{epoch}.json")
        if is_primary and os.path.exists(path):
            dump_metrics(path, metrics)

    def _summary_section(self, prefix: str) -> Dict[str, Any]:
        return {k[len(prefix):]: v for k, v in self.summary.items() if k.startswith(prefix)}

    def _validate(self, trainer: "GradientDescentTrainer", epoch: int) -> Dict[str, float]:
        """The trainer's own validation pass, on the model as it is now."""
        with torch.no_grad():
            loss, reg_loss, batches = trainer._validation_loss(epoch)
        # as the trainer does after its validation pass: each worker saw its shard of the data
        if trainer._distributed:
            dist.barrier()
        loss, batches = dist_reduce_sum(loss), dist_reduce_sum(batches)
        if reg_loss is not None:
            reg_loss = dist_reduce_sum(reg_loss)
        return training_util.get_metrics(self.model, loss, reg_loss, None, None, batches, reset=True)

    def _build_optimizer(self) -> torch.optim.Optimizer:
        lazy = self._finetune_optimizer
        if lazy is None:
            lazy = _trainer_optimizer_config(self.serialization_dir)
        parameters = [[n, p] for n, p in self.model.named_parameters() if p.requires_grad]
        return lazy.construct(model_parameters=parameters)

    def _build_scheduler(self, trainer: "GradientDescentTrainer", optimizer: torch.optim.Optimizer):
        if self._finetune_scheduler is None:
            return None
        try:
            batches = len(trainer.data_loader)
        except TypeError:
            batches = None
        return self._finetune_scheduler.construct(
            optimizer=optimizer, num_epochs=self.finetune_epochs, num_steps_per_epoch=batches
        )

    @staticmethod
    def _check_optimizer_groups(trainer: "GradientDescentTrainer", optimizer) -> None:
        if len(optimizer.param_groups) != len(trainer.optimizer.param_groups):
            raise ConfigurationError(
                "prune_and_finetune: finetune_optimizer must have as many parameter groups as the "
                f"trainer's optimizer ({len(trainer.optimizer.param_groups)}), otherwise a "
                "finetuning checkpoint cannot be recovered"
            )

    def _check_supported(self, trainer: "GradientDescentTrainer") -> None:
        if trainer.model is not self.model:
            raise ConfigurationError("prune_and_finetune was given a different model than the trainer's")
        problems = []
        if trainer._validation_data_loader is None:
            problems.append("a validation set is required (the best epoch picks the structure)")
        if trainer._learning_rate_scheduler is not None and self.phase == STRUCTURE:
            problems.append(
                "structure learning keeps the learning rate constant (docs/method.md §2): move the "
                "trainer's learning_rate_scheduler to finetune_learning_rate_scheduler"
            )
        if trainer._moving_average is not None or trainer._momentum_scheduler is not None:
            problems.append("moving_average and momentum_scheduler are not supported")
        if self.phase == STRUCTURE:
            problems.extend(_group_lasso_problems(self.model))
        problems.extend(distributed_problems(trainer, self.serialization_dir))
        if problems:
            raise ConfigurationError("prune_and_finetune: " + "; ".join(problems))


def _group_lasso_problems(model: Model) -> List[str]:
    """A `state_group_lasso` rule of model.regularizer that applies to no parameter (a misspelt
    regex, or one shadowed by an earlier rule) would leave structure learning unregularized while
    learned_structure.json records its lambda."""
    applied, dead = group_lasso_rules(model)
    if dead:
        return [f"model.regularizer: the state_group_lasso rule(s) {dead} apply to no trainable parameter (a regex "
                "that matches no name, or an earlier rule matches those first), so their lambda would never be used"]
    if not applied:
        logger.warning("prune_and_finetune: model.regularizer has no state_group_lasso; pruning will see the "
                       "unregularized state norms")
    return []


def _trainer_optimizer_config(serialization_dir: str) -> Lazy[Optimizer]:
    """The trainer's `optimizer` block of config.json, to build a fresh one of the same kind."""
    path = os.path.join(serialization_dir, CONFIG_NAME)
    if os.path.exists(path):
        config = Params.from_file(path).as_dict(quiet=True)
        optimizer = config.get("trainer", {}).get("optimizer")
        if optimizer is not None:
            if isinstance(optimizer, str):
                optimizer = {"type": optimizer}
            return Lazy(Optimizer, params=Params(copy.deepcopy(optimizer)))
    return Lazy(Optimizer.default)


def _best_weights_file(trainer: "GradientDescentTrainer", serialization_dir: str) -> Optional[str]:
    """The trainer's `best.th`, also when a `--recover`ed trainer does not know it: AllenNLP saves
    an epoch's checkpoint *before* it sets `_best_model_filename`, so a run recovered from the
    checkpoint of its first best epoch (e.g. epoch 0) has None although `best.th` exists."""
    kept = os.path.join(serialization_dir, STRUCTURE_BEST)
    if os.path.exists(kept):  # a replayed switch (run_files.STRUCTURE_BEST): best.th may hold the pruned model
        return kept
    if trainer._best_model_filename is not None:
        return trainer._best_model_filename
    path = os.path.join(serialization_dir, "best.th")
    return path if os.path.exists(path) else None


_SIZE_KEYS = {"transitions", "wfsas", "encoder_parameters", "trainable_parameters"}


def _quality(validation: Dict[str, Any]) -> Dict[str, Any]:
    """Validation metrics minus sizes (summarized on their own) and the always-0 validation
    `reg_loss` (AllenNLP adds no penalty outside training)."""
    return {k: v for k, v in validation.items() if k not in _SIZE_KEYS and "reg_loss" not in k}


def _prefixed(metrics: Dict[str, Any], prefix: str) -> Dict[str, Any]:
    return {k[len(prefix):]: v for k, v in metrics.items() if k.startswith(prefix)}
