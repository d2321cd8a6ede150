"""The files structure learning leaves in its serialization dir, besides AllenNLP's own.

* `structure_model.tar.gz` (`write_structure_archive`): the pruned model before finetuning, as a
  regular archive (config rewritten to the pruned shape) — the output of the paper's first command;
* at the end (`finish_run_files`): the finetune summary added to `learned_structure.json`, and
  `config.json` rewritten to build the pruned model (the original kept as
  `structure_learning_config.json`), so that AllenNLP's `model.tar.gz` is a plain, loadable,
  pruned classifier.
Every file is written under a temporary name and renamed: a killed run leaves whole files.
"""
import io
import json
import os
import tarfile
from typing import Any, Dict

import torch
from allennlp.common import Params
from allennlp.models.archival import CONFIG_NAME, META_NAME

from rrnn_plugin.training.pruning import STRUCTURE_FILE, rewrite_config

STRUCTURE_ARCHIVE = "structure_model.tar.gz"
ORIGINAL_CONFIG = "structure_learning_config.json"
# The unpruned weights pruning starts from, kept from the switch to the end of the run: the switch's
# checkpoint links best.th to the *pruned* model before its training state exists, so a run killed
# between the two recovers in the structure phase, whose switch must not read that best.th.
STRUCTURE_BEST = "structure_best.th"


def save_structure_best(serialization_dir: str, model: torch.nn.Module) -> None:
    path = os.path.join(serialization_dir, STRUCTURE_BEST)
    torch.save(model.state_dict(), path + ".tmp")
    os.replace(path + ".tmp", path)


def write_structure_archive(serialization_dir: str, model: torch.nn.Module, config_updates: Dict[str, Any]) -> None:
    """`structure_model.tar.gz`: the pruned model before finetuning, as a regular archive."""
    config_path = os.path.join(serialization_dir, CONFIG_NAME)
    if not os.path.exists(config_path):  # a trainer built by hand, not by `allennlp train`
        return
    config = rewrite_config(Params.from_file(config_path).as_dict(quiet=True), config_updates)
    weights = io.BytesIO()
    torch.save(model.state_dict(), weights)
    path = os.path.join(serialization_dir, STRUCTURE_ARCHIVE)
    with tarfile.open(path + ".tmp", "w:gz") as archive:
        _add_bytes(archive, CONFIG_NAME, json.dumps(config, indent=4).encode())
        _add_bytes(archive, "weights.th", weights.getvalue())
        archive.add(os.path.join(serialization_dir, "vocabulary"), arcname="vocabulary")
        meta = os.path.join(serialization_dir, META_NAME)
        if os.path.exists(meta):
            archive.add(meta, arcname=META_NAME)
    os.replace(path + ".tmp", path)


def finish_run_files(serialization_dir: str, finetune: Dict[str, Any], config_updates: Dict[str, Any]) -> None:
    """The finetune summary into learned_structure.json; config.json rewritten to the pruned model."""
    path = os.path.join(serialization_dir, STRUCTURE_FILE)
    with open(path) as f:
        record = json.load(f)
    record["finetune"] = plain(finetune)
    write_json(path, record)
    config_path = os.path.join(serialization_dir, CONFIG_NAME)
    original = Params.from_file(config_path).as_dict(quiet=True)
    write_json(os.path.join(serialization_dir, ORIGINAL_CONFIG), original)
    write_json(config_path, rewrite_config(original, config_updates))
    if os.path.exists(os.path.join(serialization_dir, STRUCTURE_BEST)):  # the run is past any replay of the switch
        os.remove(os.path.join(serialization_dir, STRUCTURE_BEST))


def plain(value: Any) -> Any:
    """numpy/torch scalars -> Python numbers, recursively (checkpoints load with weights_only)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


def write_json(path: str, data: Any) -> None:
    with open(path + ".tmp", "w") as f:
        json.dump(data, f, indent=2)
    os.replace(path + ".tmp", path)


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))
