"""The framework-free core: WFSA layers and the stacked encoder, with torch only (no AllenNLP).

The registered AllenNLP encoders are in `rrnn_plugin.encoders`.
"""
from rrnn_plugin.modules.errors import ConfigurationError, NonFiniteInputError
from rrnn_plugin.modules.rational_rnn import RationalRnnLayers, surviving_features
from rrnn_plugin.modules.recurrence import wfsa_recurrence
from rrnn_plugin.modules.semirings import SEMIRINGS, Semiring, get_semiring
from rrnn_plugin.modules.wfsa_layer import WfsaLayer, expand_wfsa_lengths, row_group_norms
