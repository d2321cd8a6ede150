"""Small compatibility layer between AllenNLP 2.10.1 (2022) and torch 2.13 (see README, "Install").

Everything AllenNLP-version-specific lives here, applied once when the plugin is imported (AllenNLP
imports plugins before it reads a config), and nothing in AllenNLP's installed files is changed:

1. torch >= 2.7 removed `verbose` from `ReduceLROnPlateau`, so AllenNLP's `reduce_on_plateau`
   scheduler fails to build.  We register our own scheduler under the same name (and under
   `rrnn_reduce_on_plateau`) that accepts and ignores `verbose`.
2. torch >= 2.6 loads checkpoints with `weights_only=True`.  AllenNLP's training state holds metric
   values (metric tracker, callback states) that can be numpy scalars, which torch then refuses,
   so `allennlp train --recover` fails.  We allow-list exactly the numpy scalar types.
3. Model archives are untrusted input, and AllenNLP extracts them with a bare `extractall`
   (`allennlp.models.archival.extracted_archive`), which follows absolute paths, `..` and links out
   of the target.  We make Python's own safe filter (`tarfile.data_filter`, PEP 706: no absolute
   paths, no `..`, no links or devices out of the destination) the default of every tar extraction
   in the process, so `predict`, `evaluate`, `rrnn-visualize`, `rrnn-draw-structure` and configs
   that load a model `from_archive` all refuse such archives (`tarfile.FilterError`), and any whose
   members add up to more than 8 GiB (`archives.MAX_EXTRACTED_BYTES`).
4. `allennlp train --recover` on a finished run compares the given config with the saved one first;
   structure learning rewrites the saved config at its end (the pruned model's), so that comparison
   crashed with a KeyError.  A finished run (a whole metrics.json and a loadable model.tar.gz) is
   now refused before it, with a message that says so (the checkpointer, training/checkpointer.py,
   refuses it too); a run stopped while writing those files has them removed and written again,
   and one stopped after the rewrite gets its original config back before the comparison.  `--force`
   deletes the whole folder: it is refused for a folder that is not a run's (no config.json), so
   `-s .` or a folder of the user's own files is never wiped.
5. A pretrained vector file with NaN or infinite values makes AllenNLP's `embedding` fail with
   "normal expects std >= 0.0" (or train on them), and one with a non-number fails with numpy's
   bare "could not convert string to float".  The reading is wrapped: such a file is refused with
   its name and the line of the first bad value.
6. A training loss of inf is refused like AllenNLP refuses NaN ("infinite loss encountered").
7. Jsonnet resolves `import 'x.libsonnet'` from the importing file's folder only, so a config saved
   outside this project could not use the plugin's config library.  Configs are evaluated with the
   library folder (`training_configs/lib`, `CONFIG_LIBRARY`) on jsonnet's search path, so any config
   anywhere can `import 'rrnn.libsonnet'` (or 'bert.libsonnet'); relative imports work as before.
(The missing-torchvision problem happens before any plugin is imported; `rrnn_plugin_shim.py`
handles it.)
"""
import logging
import os
import shutil
import tarfile
from typing import List, Union

import numpy
import torch
from allennlp.common import params as _params_module
from allennlp.common.checks import ConfigurationError
from allennlp.modules.token_embedders import embedding as _embedding_module
from allennlp.training import util as training_util
from allennlp.training.gradient_descent_trainer import GradientDescentTrainer
from allennlp.training.learning_rate_schedulers import LearningRateScheduler
from allennlp.training.learning_rate_schedulers.pytorch_lr_schedulers import (
    ReduceOnPlateauLearningRateScheduler,
)
from allennlp.training.optimizers import Optimizer

logger = logging.getLogger(__name__)


@LearningRateScheduler.register("rrnn_reduce_on_plateau")
class CompatReduceOnPlateauScheduler(ReduceOnPlateauLearningRateScheduler):
    """AllenNLP's `reduce_on_plateau` for torch >= 2.7 (`verbose` is accepted and ignored)."""

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        verbose: bool = False,
        threshold_mode: str = "rel",
        threshold: float = 1e-4,
        cooldown: int = 0,
        min_lr: Union[float, List[float]] = 0,
        eps: float = 1e-8,
    ) -> None:
        lr_scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer=optimizer,
            mode=mode,
            factor=factor,
            patience=patience,
            threshold_mode=threshold_mode,
            threshold=threshold,
            cooldown=cooldown,
            min_lr=min_lr,
            eps=eps,
        )
        # skip ReduceOnPlateauLearningRateScheduler.__init__, which passes `verbose` to torch
        super(ReduceOnPlateauLearningRateScheduler, self).__init__(lr_scheduler)


LearningRateScheduler.register("reduce_on_plateau", exist_ok=True)(CompatReduceOnPlateauScheduler)

# Metric values in AllenNLP training states (metric tracker, callbacks) can be numpy scalars.
torch.serialization.add_safe_globals(
    [
        numpy.core.multiarray.scalar,
        numpy.dtype,
        numpy.dtypes.Float64DType,
        numpy.dtypes.Float32DType,
        numpy.dtypes.Int64DType,
    ]
)

# Safe extraction of model archives (item 3 above); Python >= 3.11.4 has the filters.  The filter
# also bounds the total size extracted (rrnn_plugin/archives.py), so a small archive cannot fill a disk.
if hasattr(tarfile, "data_filter"):
    from allennlp.models import archival as _archival

    from rrnn_plugin.archives import bounded_data_filter, bounded_extracted_archive

    tarfile.TarFile.extraction_filter = staticmethod(bounded_data_filter)
    _archival.extracted_archive = bounded_extracted_archive


def _refuse_recovering_a_finished_run(create_serialization_dir):
    def wrapped(params, serialization_dir, recover, force):
        if recover and not force and os.path.isfile(os.path.join(serialization_dir, "metrics.json")):
            if _finished(serialization_dir):
                raise ConfigurationError(
                    f"{serialization_dir} holds a finished run (metrics.json and model.tar.gz are written): there "
                    "is nothing to recover.  Use --force to train it again, or another serialization dir."
                )
            _reopen_final_files(serialization_dir)
        if recover and not force:
            _restore_structure_learning_config(serialization_dir)
        if force and not _is_run_folder_or_empty(serialization_dir):
            raise ConfigurationError(
                f"{serialization_dir} is not a training run's folder (no config.json in it), and --force deletes "
                "the folder with everything in it: it is left as it is.  Choose another serialization dir, or "
                "remove it yourself."
            )
        return create_serialization_dir(params, serialization_dir, recover, force)

    wrapped.__wrapped__ = create_serialization_dir
    return wrapped


def _finished(folder: str) -> bool:
    """A whole metrics.json and a loadable model.tar.gz: AllenNLP writes metrics.json (in place)
    and then the archive, so a run stopped in between has neither whole."""
    import json

    from rrnn_plugin.archives import archive_intact

    try:
        with open(os.path.join(folder, "metrics.json")) as handle:
            json.load(handle)
    except (OSError, ValueError):
        return False
    return archive_intact(folder)


def _reopen_final_files(folder: str) -> None:
    """A run stopped while writing its final files: remove them, so that --recover writes them again
    from the last checkpoint (the test evaluation and the archive), as the whole run did."""
    logger.warning("%s was stopped while writing metrics.json / model.tar.gz: --recover writes them again from its "
                   "last checkpoint", folder)
    for name in ("metrics.json", "model.tar.gz"):
        if os.path.exists(os.path.join(folder, name)):
            os.remove(os.path.join(folder, name))


def _restore_structure_learning_config(folder: str) -> None:
    """Structure learning rewrites config.json to the pruned model as its training ends (keeping the
    original as structure_learning_config.json), before the test evaluation and the archive.  A run
    stopped in between is recovered with its original config, which --recover compares with the
    one given (AllenNLP's comparison failed with a KeyError on the rewritten one)."""
    from rrnn_plugin.training.run_files import ORIGINAL_CONFIG

    original = os.path.join(folder, ORIGINAL_CONFIG)
    if os.path.isfile(original) and not os.path.isfile(os.path.join(folder, "metrics.json")):
        shutil.copyfile(original, os.path.join(folder, "config.json.tmp"))
        os.replace(os.path.join(folder, "config.json.tmp"), os.path.join(folder, "config.json"))


def _is_run_folder_or_empty(folder: str) -> bool:
    """What `--force` may delete: nothing there, an empty folder, or a run's folder (AllenNLP writes
    config.json into it first thing), never e.g. `-s .` or a folder of the user's own files."""
    if not os.path.isdir(folder):
        return not os.path.exists(folder)
    return not os.listdir(folder) or os.path.isfile(os.path.join(folder, "config.json"))


if not hasattr(training_util.create_serialization_dir, "__wrapped__"):
    training_util.create_serialization_dir = _refuse_recovering_a_finished_run(training_util.create_serialization_dir)


def _refuse_non_finite_vectors(read_text_file):
    def wrapped(file_uri, embedding_dim, vocab, namespace="tokens"):
        try:
            matrix = read_text_file(file_uri, embedding_dim, vocab, namespace)
        except (ValueError, RuntimeError):  # numpy's "could not convert string to float"; torch's "normal
            # expects std >= 0.0" (a NaN in the vectors' statistics): neither names the file or line
            _raise_for_bad_vector(file_uri, embedding_dim, vocab, namespace)
            raise
        if not torch.isfinite(matrix).all():
            _raise_for_bad_vector(file_uri, embedding_dim, vocab, namespace)
            raise ConfigurationError(f"{file_uri}: the vectors read have NaN or infinite values; the pretrained "
                                     "file is corrupt")
        return matrix

    wrapped.__wrapped__ = read_text_file
    return wrapped


def _raise_for_bad_vector(file_uri, embedding_dim: int, vocab, namespace: str) -> None:
    """Raise ConfigurationError naming the first line AllenNLP reads (a vocabulary word with
    `embedding_dim` numbers) whose values are not numbers, or not finite in float32 (NaN, inf, or
    beyond float32's range, which becomes inf)."""
    import gzip

    from allennlp.common.file_utils import cached_path

    wanted = set(vocab.get_index_to_token_vocabulary(namespace).values())
    path = str(cached_path(str(file_uri)))
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.rstrip().split(" ")
            if fields[0] not in wanted or len(fields) - 1 != embedding_dim:
                continue
            try:
                vector = numpy.asarray(fields[1:], dtype="float32")
            except ValueError:
                raise ConfigurationError(f"{file_uri}, line {number}: the vector of {fields[0]!r} has a value "
                                         "that is not a number; the pretrained file is corrupt") from None
            if not numpy.isfinite(vector).all():
                raise ConfigurationError(f"{file_uri}, line {number}: the vector of {fields[0]!r} has NaN or "
                                         "infinite values (or values beyond float32's range); the pretrained "
                                         "file is corrupt")


if not hasattr(_embedding_module._read_embeddings_from_text_file, "__wrapped__"):
    _embedding_module._read_embeddings_from_text_file = _refuse_non_finite_vectors(
        _embedding_module._read_embeddings_from_text_file)


def _refuse_infinite_loss(batch_outputs):
    """AllenNLP stops on a NaN training loss but trains on an infinite one (a group-lasso strength
    of 1e38 gave `training_loss: inf` and a pruning decision made from it, exit 0)."""
    def wrapped(trainer, batch, for_training: bool):
        output = batch_outputs(trainer, batch, for_training)
        loss = output.get("loss")
        if for_training and loss is not None and bool(torch.isinf(loss).any()):
            raise ValueError("infinite loss encountered (a regularizer strength or learning rate far too large?)")
        return output

    wrapped.__wrapped__ = batch_outputs
    return wrapped


if not hasattr(GradientDescentTrainer.batch_outputs, "__wrapped__"):
    GradientDescentTrainer.batch_outputs = _refuse_infinite_loss(GradientDescentTrainer.batch_outputs)


CONFIG_LIBRARY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "training_configs", "lib")


def _with_config_library(evaluate_file):
    def wrapped(filename, **kwargs):
        paths = list(kwargs.pop("jpathdir", None) or [])
        return evaluate_file(filename, jpathdir=paths + [CONFIG_LIBRARY], **kwargs)

    wrapped.__wrapped__ = evaluate_file
    return wrapped


if not hasattr(_params_module.evaluate_file, "__wrapped__") and os.path.isdir(CONFIG_LIBRARY):
    _params_module.evaluate_file = _with_config_library(_params_module.evaluate_file)
