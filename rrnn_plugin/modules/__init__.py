from rrnn_plugin.modules.rational_rnn import (
    RationalRnnEncoder,
    RationalRnnLayers,
    RationalRnnSeq2SeqEncoder,
    surviving_features,
)
from rrnn_plugin.modules.recurrence import wfsa_recurrence
from rrnn_plugin.modules.semirings import SEMIRINGS, Semiring, get_semiring
from rrnn_plugin.modules.wfsa_layer import WfsaLayer, expand_wfsa_lengths, row_group_norms
