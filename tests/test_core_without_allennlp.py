"""The framework-free core (issue 14): `rrnn_plugin.modules` and `rrnn_plugin.kernels` import and
train without AllenNLP.  A subprocess makes `import allennlp` fail (sys.modules entry None), builds
the stacked encoder from the core, runs forward and backward, and reports which packages it
imported; nothing of AllenNLP (nor its heavy transformers/spacy closure) may be among them."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]

PROBE = r'''
import json, sys
sys.modules["allennlp"] = None  # any `import allennlp...` now raises ImportError
import torch
import rrnn_plugin
from rrnn_plugin.modules import ConfigurationError, RationalRnnLayers, WfsaLayer
from rrnn_plugin.kernels import describe

torch.manual_seed(0)
encoder = RationalRnnLayers(input_dim=6, wfsa_lengths={"2": 3, "3": 2}, num_layers=2, bidirectional=True)
tokens = torch.randn(3, 7, 6)
mask = torch.tensor([[True] * 7, [True] * 4 + [False] * 3, [True] * 1 + [False] * 6])
scores = encoder(tokens, mask)
scores.sum().backward()
try:
    RationalRnnLayers(input_dim=6, wfsa_lengths={"2": 0})
    refused = False
except ConfigurationError:
    refused = True
loaded = sorted({name.split(".")[0] for name in sys.modules if sys.modules[name] is not None})
print(json.dumps({"shape": list(scores.shape), "finite": bool(torch.isfinite(scores).all()),
                  "grad": all(p.grad is not None for p in encoder.parameters() if p.requires_grad),
                  "refused": refused, "loaded": loaded}))
'''


def test_core_imports_and_trains_without_allennlp():
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["shape"] == [3, 2 * 5] and report["finite"] and report["grad"]
    assert report["refused"]  # a config error of the core is still a clear error
    for heavy in ("allennlp", "transformers", "spacy"):
        assert heavy not in report["loaded"], f"the core imported {heavy}"
