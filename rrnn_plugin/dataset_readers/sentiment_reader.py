"""Shared base for the sentiment readers: one tokenization, one instance layout, one error type.

Every reader (Blitzer pseudo-XML, the authors' TSV) and the predictor go through
`SentimentReader.text_to_instance`, so training and serving see exactly the same tokens.
"""
from typing import Dict, Optional, Sequence, Tuple, Union
import logging
import os

from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader, Instance, Token, TokenIndexer
from allennlp.data.fields import Field, LabelField, TextField
from allennlp.data.token_indexers import SingleIdTokenIndexer

from rrnn_plugin.text_cleaning import document_tokens, tokenize

logger = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS = 5000


class DataFormatError(ValueError):
    """A data file that cannot be read as its format promises.

    The message always names the file and the line (`"<path>, line <n>: <what is wrong>"`) so that
    a broken input can be fixed without a debugger.  The parts are kept as attributes too.
    """

    def __init__(self, path: Union[str, os.PathLike], line: int, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        super().__init__(f"{self.path}, line {line}: {problem}")

    def __reduce__(self):
        # The default pickling re-calls __init__ with the formatted message only; data-loader
        # worker processes may need to send this error back to the main process.
        return (type(self), (self.path, self.line, self.problem))


class EmptyDataError(ValueError):
    """A data path that selects no document at all (empty files, an empty split)."""


def check_split_labels(
    data_path: str, split: Optional[str], labels: Sequence[str], train_labels: Sequence[str],
    where: Sequence[Tuple[str, int]],
) -> None:
    """The label checks a reader can make when it knows the split it reads (`<data>#<split>`).

    Training data needs two labels at least; a validation or test label that training never has
    would get an output the model never learns, and every document of it is misclassified in
    silence.  `where` gives (file, line) of each document, for the message.
    """
    if split == "train":
        distinct = sorted(set(labels))
        if len(distinct) < 2:
            raise DataFormatError(where[0][0], where[0][1], f"the training data {data_path} has only one label "
                                  f"({distinct[0]!r}); a classifier needs at least two")
    elif split in ("validation", "test"):
        known = set(train_labels)
        for label, (path, line) in zip(labels, where):
            if label not in known:
                raise DataFormatError(path, line, f"label {label!r} (in {data_path}) never occurs in the training "
                                      f"part, whose labels are {sorted(known)}")


class SentimentReader(DatasetReader):
    """Base class (not registered) of the document-classification readers.

    Instances have a `tokens` `TextField` (tokens from `text_cleaning.tokenize`) and, when the
    label is known, a `label` `LabelField`.  `text_to_instance` attaches the token indexers, so
    that its instances can be indexed right away (by a predictor, or `Model.forward_on_instance`),
    except inside a multi-process data-loader worker: AllenNLP refuses instances that carry
    indexers there (they would be pickled with every instance), and the main process attaches
    them through `apply_token_indexers` instead.  Subclasses read through `self.shard_iterable`,
    so sharding across workers and distributed ranks is manual.

    # Parameters

    token_indexers : `Dict[str, TokenIndexer]`, optional (default=`{"tokens": SingleIdTokenIndexer()}`)
    lowercase : `bool`, optional (default=`True`)
    clean : `bool`, optional (default=`True`)
        Kim (2014)-style cleaning, as the paper's authors did.
    add_boundary_tokens : `bool`, optional (default=`True`)
        Wrap every document in `<s>` ... `</s>`.
    max_tokens : `int`, optional (default=`DEFAULT_MAX_TOKENS`, 5,000)
        Keep at most this many words per document (before the boundary tokens), with a warning
        when a document is cut, so that one huge input cannot allocate gigabytes for its batch
        (the longest Blitzer review has 3,378 words: the default never cuts that data).  `null`
        keeps every word.
    """

    def __init__(
        self,
        token_indexers: Dict[str, TokenIndexer] = None,
        lowercase: bool = True,
        clean: bool = True,
        add_boundary_tokens: bool = True,
        max_tokens: Optional[int] = DEFAULT_MAX_TOKENS,
        **kwargs,
    ) -> None:
        super().__init__(
            manual_distributed_sharding=True, manual_multiprocess_sharding=True, **kwargs
        )
        if max_tokens is not None and max_tokens < 1:
            raise ConfigurationError(f"max_tokens must be a positive integer or null, got {max_tokens}")
        self._token_indexers = token_indexers or {"tokens": SingleIdTokenIndexer()}
        self._lowercase = lowercase
        self._clean = clean
        self._add_boundary_tokens = add_boundary_tokens
        self._max_tokens = max_tokens
        self._cut_documents = 0

    def tokenize(self, text: str) -> list:
        """The token strings this reader makes of `text` (for vocabulary filters and debugging)."""
        words, length = document_tokens(text, self._lowercase, self._clean, self._add_boundary_tokens,
                                        self._max_tokens)
        if self._max_tokens is not None and length > self._max_tokens:
            self._cut_documents += 1
            if self._cut_documents <= 3 or self._cut_documents % 1000 == 0:
                logger.warning("a document of %d words was cut to max_tokens=%d (%d documents cut so far)",
                               length, self._max_tokens, self._cut_documents)
        return words

    def is_cut(self, text: str) -> bool:
        """Whether `max_tokens` cuts this text."""
        if self._max_tokens is None:
            return False
        return len(tokenize(text, lowercase=False, clean=self._clean, add_boundary_tokens=False)) > self._max_tokens

    def text_to_instance(self, text: str, label: Optional[str] = None) -> Instance:  # type: ignore
        """Raw document text (and label, when known) -> `Instance`; also what predictors call."""
        tokens = [Token(t) for t in self.tokenize(text)]
        in_worker = self.get_worker_info() is not None
        fields: Dict[str, Field] = {
            "tokens": TextField(tokens, None if in_worker else self._token_indexers)
        }
        if label is not None:
            fields["label"] = LabelField(str(label))
        return Instance(fields)

    def apply_token_indexers(self, instance: Instance) -> None:
        instance.fields["tokens"].token_indexers = self._token_indexers  # type: ignore
