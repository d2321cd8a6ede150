"""Structure learning (docs/method.md §2-§3): the group-lasso regularizer, pruning, and the trainer
callback that runs structure learning, pruning and finetuning in one `allennlp train`."""
from rrnn_plugin.training.regularizers import StateGroupLasso, group_lasso_alphas, group_lasso_penalty
from rrnn_plugin.training.pruning import (
    StructureReport,
    apply_structure,
    encoder_structures,
    kept_prefix_lengths,
    prune_classifier,
    pruned_config,
    structure_report,
)
from rrnn_plugin.training.prune_and_finetune import PruneAndFinetuneCallback
from rrnn_plugin.training.check_labels import CheckLabels
from rrnn_plugin.training.checkpointer import RecoverableCheckpointer
from rrnn_plugin.training.model_card import install as _install_model_card
from rrnn_plugin.training.model_card import write_model_card

_install_model_card()  # every `allennlp train` of a rational_classifier leaves model_card.json + MODEL_CARD.md

__all__ = [
    "StateGroupLasso",
    "group_lasso_alphas",
    "group_lasso_penalty",
    "StructureReport",
    "apply_structure",
    "encoder_structures",
    "kept_prefix_lengths",
    "prune_classifier",
    "pruned_config",
    "structure_report",
    "PruneAndFinetuneCallback",
    "CheckLabels",
    "RecoverableCheckpointer",
    "write_model_card",
]
