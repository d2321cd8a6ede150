"""Structure learning under distributed training (torch DDP): what `prune_and_finetune` needs.

Every worker runs the callback, and they must all prune the same way and keep training one model
(prune_and_finetune.py's docstring has the whole story):
* the primary's structure report is the decision, broadcast to all (`primary_decides`); every
  worker logs its own next to it and warns if they differ (`check_workers_agree`): DDP keeps the
  replicas identical, so a difference means a state norm within rounding of eps;
* pruning replaces parameters, which the trainer's DDP wrapper does not know: the model is wrapped
  anew (`rewrap_ddp`), which also checks that all workers have the same shapes and broadcasts the
  primary's pruned weights;
* `distributed_problems` lists the setups this cannot handle, refused at the start.
"""
import json
import logging
import os
from typing import TYPE_CHECKING, Any, List

import torch
import torch.distributed as dist
from allennlp.common import Params
from allennlp.common.util import is_distributed
from allennlp.models.archival import CONFIG_NAME
from allennlp.nn.parallel import TorchDdpAccelerator

from rrnn_plugin.training.run_files import plain

if TYPE_CHECKING:
    from allennlp.training.gradient_descent_trainer import GradientDescentTrainer

logger = logging.getLogger(__name__)


def distributed_problems(trainer: "GradientDescentTrainer", serialization_dir: str) -> List[str]:
    """What this callback cannot do in the trainer's distributed setup (nothing if not distributed)."""
    wrapped = trainer._ddp_wrapped_model
    if wrapped is None:
        return []
    problems = []
    if wrapped.is_sharded or not isinstance(wrapped.model, torch.nn.parallel.DistributedDataParallel):
        problems.append(
            "distributed training needs the default torch DDP (a sharded `ddp_accelerator` "
            "cannot be re-wrapped after pruning)"
        )
    config_path = os.path.join(serialization_dir, CONFIG_NAME)
    if os.path.exists(config_path) and Params.from_file(config_path).get("evaluate_on_test", False):
        problems.append(
            "evaluate_on_test fails after distributed training in AllenNLP 2.10 (the primary "
            "evaluates alone and the metrics' all-reduce has no partner); run `allennlp evaluate` "
            "on model.tar.gz instead"
        )
    return problems


def primary_decides(value: Any) -> Any:
    """The primary's `value` on every worker (any picklable object); `value` itself if not
    distributed.  Pruning must be identical everywhere, so one worker decides."""
    if not is_distributed():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def check_workers_agree(local: Any, decided: Any) -> None:
    """Log this worker's own kept structure next to the primary's decision (JSON; each worker
    logs to its own out_worker<rank>.log); warn if they differ."""
    if not is_distributed():
        return
    rank, world_size = dist.get_rank(), dist.get_world_size()
    local, decided = json.dumps(plain(local)), json.dumps(plain(decided))
    logger.info(
        "prune_and_finetune worker %d of %d: local structure %s; primary's %s",
        rank, world_size, local, decided,
    )
    if local != decided:
        logger.warning(
            "prune_and_finetune worker %d: its own weights would prune to %s, the primary's to "
            "%s; using the primary's (a state norm within rounding of eps?)", rank, local, decided,
        )


def rewrap_ddp(trainer: "GradientDescentTrainer") -> None:
    """Wrap the (pruned) model in a new torch DDP like the trainer's, on every worker.

    DDP's reducer holds the parameters it was built with; after `apply_structure` those are gone.
    Building the new wrapper is collective: it checks that all workers have the same parameter
    shapes and broadcasts the primary's values.  The old wrapper is released first, so that its
    reducer's gradient hooks (on parameters that survived, e.g. the embedding) go with it.
    An empty parameter means a pruned-away module (every WFSA gone: nothing reads the embedding
    either); parameters without gradient are accepted by DDP only with `find_unused_parameters`.
    """
    old = trainer._ddp_wrapped_model
    if old is None:
        return
    accelerator = TorchDdpAccelerator(
        find_unused_parameters=old.model.find_unused_parameters
        or any(p.numel() == 0 for p in trainer.model.parameters() if p.requires_grad),
        local_rank=old.local_rank,
        world_size=old.world_size,
        cuda_device=trainer.cuda_device,
    )
    trainer._ddp_wrapped_model = None
    del old
    model, trainer._ddp_wrapped_model = accelerator.wrap_model(trainer.model)
    assert model is trainer.model
