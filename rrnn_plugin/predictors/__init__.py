"""The `sentiment` predictor; importing this package registers it and numbers `allennlp predict`'s
input lines for it (predict_lines.py)."""
from rrnn_plugin.predictors.sentiment import SentimentPredictor
from rrnn_plugin.predictors.predict_lines import number_input_lines

number_input_lines()

__all__ = ["SentimentPredictor", "number_input_lines"]
