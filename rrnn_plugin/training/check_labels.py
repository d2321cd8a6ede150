"""`check_labels` trainer callback: refuse training data a classifier cannot learn from.

The readers check what they can see (`<data>#<split>` paths, where every split comes from the same
files).  Separate files (train.tsv, validation.tsv) are only seen together by the trainer, so this
callback, in every config of the lib, checks at the start of training that the training data has
two labels at least and that every validation label also occurs in training: a label the model
never learns would silently be misclassified every time.  It reads instances the data loaders
already hold, and changes nothing.
"""
from collections import Counter
from typing import Iterable

from allennlp.common.checks import ConfigurationError
from allennlp.training.callbacks import TrainerCallback


def _labels(instances: Iterable) -> Counter:
    return Counter(instance["label"].label for instance in instances if "label" in instance.fields)


@TrainerCallback.register("check_labels")
class CheckLabels(TrainerCallback):
    """No parameters."""

    def on_start(self, trainer, is_primary: bool = True, **kwargs) -> None:
        super().on_start(trainer, is_primary=is_primary, **kwargs)
        train = _labels(trainer.data_loader.iter_instances())
        if train and len(train) < 2:
            (label, count), = train.items()
            raise ConfigurationError(f"the training data has only one label ({label!r}, {count} documents); "
                                     "a classifier needs at least two")
        validation_loader = getattr(trainer, "_validation_data_loader", None)
        if validation_loader is None or not train:
            return
        unseen = {label: n for label, n in _labels(validation_loader.iter_instances()).items() if label not in train}
        if unseen:
            shown = ", ".join(f"{label!r} ({n} documents)" for label, n in sorted(unseen.items()))
            raise ConfigurationError(f"validation labels that never occur in the training data: {shown}; "
                                     f"training has {sorted(train)}")
