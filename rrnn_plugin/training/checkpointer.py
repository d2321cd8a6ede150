"""A checkpointer that makes `allennlp train --recover` continue exactly where a killed run was.

Registered as AllenNLP's `default` checkpointer (every trainer uses it unless a config names
another), and different from AllenNLP's own in four ways:

1. Files are written atomically (temporary name, fsync, rename), model state first, training state
   last: a checkpoint whose training state exists is complete.  AllenNLP writes in place, so a run
   killed while saving leaves a truncated file that `--recover` then fails on.
2. `--recover` uses the newest checkpoint that loads.  A checkpoint with a missing, truncated or
   unreadable file is skipped, with a warning naming it, and the one before is used.
3. The random state (Python's, NumPy's and torch's, which drive shuffling and dropout) is saved
   with the training state and restored when the first epoch after the checkpoint starts, so a
   recovered run draws the same batches and dropout masks as the uninterrupted run would, and ends
   with the same weights and metrics.  ("When it starts": AllenNLP replays the data loader of the
   completed epochs first, which draws random numbers; the trainer's restore step is wrapped to put
   the saved state back after that replay.  Not in distributed training, where every worker has a
   random state of its own and the checkpoint holds the primary's.)
4. `--recover` on a run that finished (metrics.json written) stops with a clear message instead of
   training again.
It also links `best.th` before the training state is written, so a kill between the two cannot
leave a checkpoint that believes in a `best.th` that was never written.
"""
import json
import logging
import os
import random
import time
from typing import Optional, Tuple

import numpy
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.common.file_utils import hardlink_or_copy
from allennlp.nn import util as nn_util
from allennlp.training.checkpointer import Checkpointer
from allennlp.training.gradient_descent_trainer import GradientDescentTrainer
from allennlp.training.trainer import TrainerCheckpoint

logger = logging.getLogger(__name__)


def rng_state() -> dict:
    """The random state of this process in plain types and tensors (what torch's weights-only
    loading accepts)."""
    name, keys, position, has_gauss, gauss = numpy.random.get_state()
    state = {"python": random.getstate(), "numpy": [name, keys.tolist(), position, has_gauss, gauss],
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    python = state["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))
    name, keys, position, has_gauss, gauss = state["numpy"]
    numpy.random.set_state((name, numpy.array(keys, dtype=numpy.uint32), position, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save_atomically(obj, path: str) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    torch.save(obj, tmp)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)


@Checkpointer.register("default", exist_ok=True)
@Checkpointer.register("rrnn")
class RecoverableCheckpointer(Checkpointer):
    """AllenNLP's `Checkpointer` (same parameters) with the guarantees of the module docstring."""

    def save_checkpoint(self, trainer) -> None:
        if self._serialization_dir is None:
            return
        state = trainer.get_checkpoint_state()
        if state is None:  # a non-primary worker in distributed training with a plain model
            return
        training_state = dict(state.trainer_state)
        training_state["rng"] = rng_state()
        epochs, batches = training_state["epochs_completed"], training_state["batches_in_epoch_completed"]
        model_path = self._model_state_path(epochs, batches)
        training_path = self._training_state_path(epochs, batches)
        _save_atomically(state.model_state, model_path)
        self._link_best(trainer, model_path, batches)
        _save_atomically(training_state, training_path)
        self._last_save_time = time.time()
        self._last_save_num_epochs_completed = epochs
        self._last_save_num_batches_in_epoch_completed = batches
        if self._is_primary and (self._keep_most_recent_by_age is not None or self._keep_most_recent_by_count is not None):
            self._remove_old_checkpoints()

    def _link_best(self, trainer, model_path: str, batches: int) -> None:
        """What the trainer does right after saving (best.th <- this model state), done before the
        training state exists, so that a complete checkpoint always has its best.th."""
        tracker = getattr(trainer, "_metric_tracker", None)
        if batches != 0 or tracker is None or getattr(trainer, "_moving_average", None) is not None:
            return
        if not getattr(trainer, "_should_validate_this_epoch", True) or not tracker.is_best_so_far():
            return
        if self.state_is_sharded or not self._is_primary:
            return
        best = os.path.join(self._serialization_dir, "best.th")
        tmp = f"{best}.{os.getpid()}.tmp"
        hardlink_or_copy(model_path, tmp)
        os.replace(tmp, best)

    def _remove_old_checkpoints(self) -> None:
        checkpoints = sorted(self._find_all_checkpoints(), reverse=True)
        keep = set(checkpoints[: self._keep_most_recent_by_count]) if self._keep_most_recent_by_count else set()
        if self._keep_most_recent_by_age is not None:
            now = time.time()
            for checkpoint in checkpoints:
                paths = [p for p in (self._model_state_path(*checkpoint), self._training_state_path(*checkpoint))
                         if os.path.exists(p)]
                if paths and now - max(os.path.getmtime(p) for p in paths) <= self._keep_most_recent_by_age:
                    keep.add(checkpoint)
        for checkpoint in checkpoints:
            if checkpoint not in keep:
                self._remove_checkpoint(*checkpoint)

    def load_checkpoint(self) -> Optional[TrainerCheckpoint]:
        if os.path.isfile(os.path.join(self._serialization_dir, "metrics.json")):
            raise ConfigurationError(
                f"{self._serialization_dir} holds a finished run (metrics.json is written): there is nothing "
                "to recover.  Use --force to train it again, or another serialization dir."
            )
        newest = self.newest_loadable()
        if newest is None:
            return None
        _, training_path, model_state, training_state = newest
        # applied after AllenNLP's replay of the completed epochs (see `_restore_rng_after_replay`)
        self.pending_rng = training_state.pop("rng", None)
        logger.info("recovering from %s", os.path.basename(training_path))
        return TrainerCheckpoint(model_state, training_state)

    def newest_loadable(self) -> Optional[Tuple[str, str, dict, dict]]:
        """(model path, training path, model state, training state) of the newest checkpoint whose
        two files load; incomplete ones are skipped with a warning naming them."""
        for checkpoint in sorted(self._find_all_checkpoints(), reverse=True):
            model_path, training_path = self._model_state_path(*checkpoint), self._training_state_path(*checkpoint)
            try:
                model_state = torch.load(model_path, map_location=nn_util.device_mapping(-1))
                training_state = torch.load(training_path, map_location=nn_util.device_mapping(-1))
            except Exception as error:  # missing, truncated, not a torch file, ...
                logger.warning("skipping the incomplete checkpoint %s / %s (%s: %s); trying an earlier one",
                               os.path.basename(model_path), os.path.basename(training_path),
                               type(error).__name__, str(error)[:200])
                continue
            return model_path, training_path, model_state, training_state
        return None


class _RngRestoringLoader:
    """The trainer's data loader, putting the saved random state back when the first epoch after
    the checkpoint asks for its batches (after AllenNLP has replayed the completed ones)."""

    def __init__(self, loader, state: dict, ready) -> None:
        self._loader, self._state, self._ready = loader, state, ready

    def __iter__(self):
        if self._state is not None and self._ready():
            set_rng_state(self._state)
            self._state = None
        return iter(self._loader)

    def __len__(self) -> int:
        return len(self._loader)

    def __getattr__(self, name):
        return getattr(self._loader, name)


def _restore_rng_after_replay(restore):
    def wrapped(trainer) -> None:
        restore(trainer)
        best, folder = getattr(trainer, "_best_model_filename", None), getattr(trainer, "_serialization_dir", None)
        if best and folder:  # the checkpoint holds the path it was saved under: a moved run's is elsewhere
            trainer._best_model_filename = os.path.join(folder, os.path.basename(best))
        checkpointer = getattr(trainer, "_checkpointer", None)
        state = getattr(checkpointer, "pending_rng", None)
        if state is None:
            return
        checkpointer.pending_rng = None
        if getattr(trainer, "_distributed", False):
            return
        start = trainer._start_after_epochs_completed
        if trainer._start_after_batches_in_epoch_completed:  # a mid-epoch checkpoint: best effort
            set_rng_state(state)
            return
        trainer.data_loader = _RngRestoringLoader(trainer.data_loader, state,
                                                  lambda: trainer._epochs_completed >= start)

    wrapped.__wrapped__ = restore
    return wrapped


if not hasattr(GradientDescentTrainer._maybe_restore_checkpoint, "__wrapped__"):
    GradientDescentTrainer._maybe_restore_checkpoint = _restore_rng_after_replay(
        GradientDescentTrainer._maybe_restore_checkpoint
    )


def _complete_metrics_of_a_finished_replay(try_train):
    """A run recovered from the checkpoint of its last epoch (killed after it, before metrics.json)
    replays no epoch, so the trainer's final metrics lacked that epoch's keys (`epoch`, `training_*`,
    `validation_*`, a callback's): they are taken from its metrics_epoch_N.json, as the whole run
    had them."""
    def wrapped(trainer):
        metrics, epoch = try_train(trainer)
        last = trainer._epochs_completed - 1
        path = os.path.join(trainer._serialization_dir or "", f"metrics_epoch_{last}.json")
        if "epoch" not in metrics and last >= 0 and os.path.isfile(path):
            with open(path) as handle:
                for key, value in json.load(handle).items():
                    metrics.setdefault(key, value)
        return metrics, epoch

    wrapped.__wrapped__ = try_train
    return wrapped


if not hasattr(GradientDescentTrainer._try_train, "__wrapped__"):
    GradientDescentTrainer._try_train = _complete_metrics_of_a_finished_replay(GradientDescentTrainer._try_train)
