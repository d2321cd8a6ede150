"""A trained model outside AllenNLP: `allennlp rrnn-export ARCHIVE -o DIR` writes it, and

    from rrnn_plugin.export import load
    model = load("DIR")
    model.predict(["great knife"])   # [{"label": "positive", "probs": {...}, "known_words": 2}]

runs it with torch (and safetensors) alone.  docs/deploy.md describes the folder.
"""
from rrnn_plugin.export.model import ExportError, ExportedModel, SentimentNetwork, load, load_program

__all__ = ["ExportError", "ExportedModel", "SentimentNetwork", "load", "load_program"]
