"""ONNX export of an rrnn-export folder (rrnn_plugin/export/to_onnx.py, issue 14 item 3) in
`.venv-onnx` (`make onnx-env`, which `make test` runs): the chunked PyTorch path traced at a fixed
length with a dynamic batch; onnxruntime's probabilities equal the exported model's for documents
up to that length (shorter ones padded, a longer one cut to it)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
ONNX_PYTHON = ROOT / ".venv-onnx" / "bin" / "python"
LENGTH = 48

pytestmark = pytest.mark.skipif(not ONNX_PYTHON.exists(), reason="no .venv-onnx: run `make onnx-env`")

CHECK = r'''
import json, sys
import numpy as np, onnxruntime, torch
from rrnn_plugin.export import load
folder, length = sys.argv[1], int(sys.argv[2])
model = load(folder)
texts = ["great knife , works well", "broke after a week", "", "good " * 100]
ids = model.token_ids(texts)[:, :length]
ids = torch.nn.functional.pad(ids, (0, length - ids.shape[1]))
session = onnxruntime.InferenceSession(f"{folder}/model.onnx")
ours = session.run(None, {session.get_inputs()[0].name: ids.numpy()})[0]
with torch.inference_mode():
    eager = model.network(ids).numpy()
print(json.dumps({"gap": float(np.abs(ours - eager).max()), "shape": list(ours.shape),
                  "config": json.load(open(f"{folder}/config.json"))["onnx"]}))
'''


def test_onnx_export_matches_the_exported_model(tmp_path):
    from allennlp.commands.train import train_model_from_file

    from rrnn_plugin.export.archive import export_archive

    train_model_from_file(str(FIXTURES / "structure_learning.jsonnet"), str(tmp_path / "run"))
    folder = tmp_path / "exported"
    export_archive(str(tmp_path / "run" / "model.tar.gz"), str(folder), program=False)
    done = subprocess.run([str(ONNX_PYTHON), "-m", "rrnn_plugin.export.to_onnx", str(folder), "--length", str(LENGTH)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    checked = subprocess.run([str(ONNX_PYTHON), "-c", CHECK, str(folder), str(LENGTH)], capture_output=True,
                             text=True, cwd=tmp_path, timeout=600)
    assert checked.returncode == 0, checked.stderr[-3000:]
    report = json.loads(checked.stdout.strip().splitlines()[-1])
    assert report["shape"] == [4, 2] and report["gap"] <= 1e-5
    assert report["config"]["length"] == LENGTH and report["config"]["file"] == "model.onnx"


def test_onnx_export_refuses_a_folder_that_is_not_an_export(tmp_path):
    done = subprocess.run([str(ONNX_PYTHON), "-m", "rrnn_plugin.export.to_onnx", str(tmp_path)], capture_output=True,
                          text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 1 and "no config.json" in done.stderr
