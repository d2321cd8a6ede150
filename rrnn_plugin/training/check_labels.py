"""`check_labels` trainer callback: refuse training data a classifier cannot learn from.

The readers check what they can see (`<data>#<split>` paths, where every split comes from the same
files).  Separate files (train.tsv, validation.tsv) are only seen together by the trainer, so this
callback, in every config of the lib, checks at the start of training that the training data has
two labels at least and that every validation label (and every label of the vocabulary, which
AllenNLP also builds from the test data) also occurs in training: a label the model never learns
would silently be misclassified every time.  It reads instances the data loaders
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
        if not train:
            return
        validation_loader = getattr(trainer, "_validation_data_loader", None)
        if validation_loader is not None:
            unseen = {label: n for label, n in _labels(validation_loader.iter_instances()).items() if label not in train}
            if unseen:
                shown = ", ".join(f"{label!r} ({n} documents)" for label, n in sorted(unseen.items()))
                raise ConfigurationError(f"validation labels that never occur in the training data: {shown}; "
                                         f"training has {sorted(train)}")
        self._check_vocabulary(trainer.model, train)

    @staticmethod
    def _check_vocabulary(model, train: Counter) -> None:
        """The test data never reaches the trainer, but its labels reach the vocabulary (AllenNLP
        builds it from every dataset): a label there and not in training is an output the model
        never learns, each of its test documents misclassified in silence."""
        namespace = getattr(model, "_label_namespace", "labels")
        known = set(model.vocab.get_token_to_index_vocabulary(namespace)) if namespace in model.vocab._token_to_index else set()
        unseen = sorted(known - set(train))
        if unseen:
            raise ConfigurationError(f"labels in the vocabulary that never occur in the training data: {unseen} (from "
                                     f"the test or validation data); training has {sorted(train)}")
