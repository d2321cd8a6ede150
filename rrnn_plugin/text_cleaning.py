"""Text normalization shared by every reader, the predictor, the GloVe vocabulary filter and the
exported model (pure Python, no AllenNLP: `rrnn_plugin.export` tokenizes with it too).

One implementation so that training, prediction and the embedding-file filter see the same tokens.
The cleaning follows Kim (2014) as used by the paper's authors: keep letters, digits and a little
punctuation, split clitics ("don't" -> "do n't"), pad punctuation with spaces, lower-case.
"""
import re
from typing import List, Optional, Tuple

START_SYMBOL = "<s>"
END_SYMBOL = "</s>"

_NOT_KEPT = re.compile(r"[^A-Za-z0-9(),!?'`]")
_CLITICS = re.compile(r"('s|'ve|n't|'re|'d|'ll)")
_PUNCT = re.compile(r"([,!?()])")
_SPACES = re.compile(r"\s+")


def kim_clean(text: str) -> str:
    """Kim (2014)-style cleaning (without lower-casing)."""
    text = _NOT_KEPT.sub(" ", text)
    text = _CLITICS.sub(r" \1", text)
    text = _PUNCT.sub(r" \1 ", text)
    return _SPACES.sub(" ", text).strip()


def tokenize(
    text: str,
    lowercase: bool = True,
    clean: bool = True,
    add_boundary_tokens: bool = True,
    max_tokens: int = None,
) -> List[str]:
    """Text -> list of token strings, optionally truncated to `max_tokens` words (before `<s>`/`</s>`)."""
    if clean:
        text = kim_clean(text)
    if lowercase:
        text = text.lower()
    words = text.split()
    if max_tokens is not None:
        words = words[:max_tokens]
    if add_boundary_tokens:
        words = [START_SYMBOL] + words + [END_SYMBOL]
    return words


def document_tokens(
    text: str, lowercase: bool, clean: bool, add_boundary_tokens: bool, max_tokens: Optional[int]
) -> Tuple[List[str], int]:
    """The tokens a sentiment reader with these settings makes of `text`, and how many words the
    text had before `max_tokens` cut it (so that a caller can tell, and report, a cut).  The
    readers and the exported model both tokenize through this."""
    words = tokenize(text, lowercase=lowercase, clean=clean, add_boundary_tokens=False)
    length = len(words)
    if max_tokens is not None:
        words = words[:max_tokens]
    if add_boundary_tokens:
        words = [START_SYMBOL] + words + [END_SYMBOL]
    return words, length
