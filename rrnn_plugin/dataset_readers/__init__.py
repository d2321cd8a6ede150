"""Dataset readers of rrnn_plugin; importing this package registers them with AllenNLP."""
from rrnn_plugin.text_cleaning import END_SYMBOL, START_SYMBOL, kim_clean, tokenize
from rrnn_plugin.dataset_readers.sentiment_reader import DataFormatError, SentimentReader
from rrnn_plugin.dataset_readers.review_files import Review, read_review_file
from rrnn_plugin.dataset_readers.blitzer import (
    BlitzerReviewsReader,
    duplicate_flags,
    load_reviews,
    parse_data_path,
    resolve_domain_dirs,
    select_reviews,
    split_reviews,
)
from rrnn_plugin.dataset_readers.tsv_sentiment import TsvSentimentReader, read_tsv_lines

__all__ = [
    "BlitzerReviewsReader",
    "DataFormatError",
    "END_SYMBOL",
    "Review",
    "START_SYMBOL",
    "SentimentReader",
    "TsvSentimentReader",
    "duplicate_flags",
    "kim_clean",
    "load_reviews",
    "parse_data_path",
    "read_review_file",
    "read_tsv_lines",
    "resolve_domain_dirs",
    "select_reviews",
    "split_reviews",
    "tokenize",
]
