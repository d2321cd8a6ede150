"""ONNX export of an `rrnn-export` folder (issue 14, item 3), through the PyTorch path.

    python -m rrnn_plugin.export.to_onnx runs/kitchen-sl/export --length 512

writes `model.onnx` into the folder (token ids (batch, LENGTH) int64, 0 = padding -> class
probabilities) and records it in config.json.  The compiled kernel is a torch operator that ONNX
does not know, so the export traces the PyTorch path; its per-step loop would be unrolled into T
copies, so the chunked form (modules/chunked.py, ~2·sqrt(T) steps) is traced instead.  The length
is fixed by the trace: the caller pads shorter documents with 0 and cuts longer ones to LENGTH ids
(`--length`; the exported model's `token_ids` gives the ids).

Needs onnx and onnxscript, which do not install beside AllenNLP 2.10.1's pins (protobuf 3.20):
`make onnx-env` makes `.venv-onnx/` with torch, onnx, onnxscript and onnxruntime and no AllenNLP;
the exported folder needs nothing else.
"""
import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Iterator, Union

import torch

from rrnn_plugin.export.model import ExportError, load, read_config

DEFAULT_LENGTH = 512


@contextlib.contextmanager
def _traceable_path() -> Iterator[None]:
    """The PyTorch path in its chunked form, for the time of the export."""
    saved = {name: os.environ.get(name) for name in ("RRNN_BACKEND", "RRNN_TORCH_RECURRENCE")}
    os.environ.update(RRNN_BACKEND="torch", RRNN_TORCH_RECURRENCE="chunked")
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def export_onnx(folder: Union[str, Path], length: int = DEFAULT_LENGTH) -> Path:
    """Write `model.onnx` (fixed length `length`, dynamic batch) into an export folder."""
    folder = Path(folder)
    if length < 2:
        raise ExportError(f"--length must be at least 2 (the <s> and </s> tokens), got {length}")
    model = load(folder)  # its encoder's backend is "auto", so RRNN_BACKEND decides
    example = torch.zeros(2, length, dtype=torch.long)
    example[:, : min(4, length)] = 2
    path = folder / "model.onnx"
    batch = torch.export.Dim("batch", min=1)
    with _traceable_path():
        program = torch.onnx.export(model.network, (example,), dynamo=True, dynamic_shapes={"token_ids": {0: batch}},
                                    verbose=False)
    program.save(str(path))
    config = read_config(folder)
    config["onnx"] = {"file": path.name, "length": length, "input": "token_ids (batch, length) int64, 0 = padding",
                      "output": "probabilities (batch, labels)"}
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Add model.onnx to an rrnn-export folder (PyTorch path, chunked).")
    parser.add_argument("folder", help="a folder written by `allennlp rrnn-export`")
    parser.add_argument("--length", type=int, default=DEFAULT_LENGTH,
                        help=f"token ids per document, <s> and </s> included (default {DEFAULT_LENGTH}); the caller "
                             "pads shorter documents and cuts longer ones")
    args = parser.parse_args(argv)
    try:
        path = export_onnx(args.folder, args.length)
    except (ExportError, ModuleNotFoundError) as error:
        hint = " (run it with .venv-onnx/bin/python: make onnx-env)" if isinstance(error, ModuleNotFoundError) else ""
        print(f"rrnn_plugin.export.to_onnx: {error}{hint}", file=sys.stderr)
        return 1
    print(f"wrote {path} (length {args.length})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
