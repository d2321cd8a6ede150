from rrnn_plugin.modules.rational_rnn import RationalRnnEncoder, expand_wfsa_lengths
from rrnn_plugin.modules.recurrence import wfsa_recurrence
from rrnn_plugin.modules.semirings import SEMIRINGS, Semiring, get_semiring
