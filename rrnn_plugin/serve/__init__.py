"""`allennlp rrnn-serve`: a local page that shows a trained model at work (explain.py, server.py)."""
from rrnn_plugin.serve.explain import Explainer
from rrnn_plugin.serve.server import make_server, parse_request

__all__ = ["Explainer", "make_server", "parse_request"]
