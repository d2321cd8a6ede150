"""Readers whose tokens are WordPieces: one WordPiece per time step (the paper's BERT setting).

`blitzer_reviews_wordpieces` and `tsv_sentiment_wordpieces` are `blitzer_reviews` and
`tsv_sentiment` with one change: after the usual text handling (optional cleaning and lower-casing,
`max_tokens` words, `<s>` ... `</s>`) every word is split into the model tokenizer's WordPieces,
each a `Token` with its vocabulary id in `text_id`.  The instance's tokens are then exactly the
encoder's time steps, so anything that shows tokens (predictions, the visualization of learned
patterns) shows WordPieces.  For word-level steps use the plain readers with the
`contextual_wordpieces` indexer instead.
"""
from typing import List, Optional

from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader, Instance

from rrnn_plugin.contextual.transformer import load_tokenizer, split_into_wordpieces
from rrnn_plugin.contextual.wordpiece_indexer import ContextualWordpieceIndexer
from rrnn_plugin.dataset_readers.blitzer import BlitzerReviewsReader
from rrnn_plugin.text_cleaning import END_SYMBOL, START_SYMBOL
from rrnn_plugin.dataset_readers.tsv_sentiment import TsvSentimentReader


class WordpieceStepsMixin:
    """Turns a `SentimentReader`'s words into WordPiece tokens (see the module docstring).

    # Parameters

    model_path : `str`, optional (default = `None`)
        Local HuggingFace model folder whose tokenizer splits the words; `None` = the packaged
        MiniLM-L6.  The default token indexer is `contextual_wordpieces` with the same folder.
    max_wordpieces : `int`, optional (default = `None`)
        Keep at most this many WordPieces per document (before `<s>`/`</s>`); `None` keeps all
        (long documents are cut into sentences/chunks by the embedder, not truncated).
    """

    def _setup_wordpieces(self, model_path: Optional[str], max_wordpieces: Optional[int]) -> None:
        if max_wordpieces is not None and max_wordpieces < 1:
            raise ConfigurationError(f"max_wordpieces must be a positive integer or null, got {max_wordpieces}")
        self._model_path = model_path or None
        self._max_wordpieces = max_wordpieces

    def tokenize(self, text: str) -> List[str]:
        """The WordPiece strings of `text` (with `<s>`/`</s>` when the reader adds them)."""
        words = super().tokenize(text)  # type: ignore[misc]
        start = bool(words) and words[0] == START_SYMBOL
        end = len(words) > int(start) and words[-1] == END_SYMBOL
        inner = words[int(start) : len(words) - int(end)]
        pieces = [p for strings, _ in split_into_wordpieces(load_tokenizer(self._model_path), inner) for p in strings]
        if self._max_wordpieces is not None:
            pieces = pieces[: self._max_wordpieces]
        return [START_SYMBOL] * start + pieces + [END_SYMBOL] * end

    def text_to_instance(self, text: str, label: Optional[str] = None) -> Instance:  # type: ignore[override]
        instance = super().text_to_instance(text, label)  # type: ignore[misc]
        tokens = [t for t in instance.fields["tokens"].tokens if t.text not in (START_SYMBOL, END_SYMBOL)]  # type: ignore
        ids = load_tokenizer(self._model_path).convert_tokens_to_ids([t.text for t in tokens])
        for token, piece_id in zip(tokens, ids):
            token.text_id = piece_id
        return instance


def _default_indexers(kwargs: dict, model_path: Optional[str]) -> dict:
    if kwargs.get("token_indexers") is None:
        kwargs["token_indexers"] = {"tokens": ContextualWordpieceIndexer(model_path)}
    return kwargs


@DatasetReader.register("blitzer_reviews_wordpieces")
class BlitzerWordpieceReader(WordpieceStepsMixin, BlitzerReviewsReader):
    """`blitzer_reviews` with WordPiece tokens; options of both (see `WordpieceStepsMixin`)."""

    def __init__(self, model_path: Optional[str] = None, max_wordpieces: Optional[int] = None, **kwargs) -> None:
        super().__init__(**_default_indexers(kwargs, model_path))
        self._setup_wordpieces(model_path, max_wordpieces)


@DatasetReader.register("tsv_sentiment_wordpieces")
class TsvWordpieceReader(WordpieceStepsMixin, TsvSentimentReader):
    """`tsv_sentiment` with WordPiece tokens; options of both (see `WordpieceStepsMixin`)."""

    def __init__(self, model_path: Optional[str] = None, max_wordpieces: Optional[int] = None, **kwargs) -> None:
        super().__init__(**_default_indexers(kwargs, model_path))
        self._setup_wordpieces(model_path, max_wordpieces)
