"""The AllenNLP face of the encoder: `rational_rnn` registered as a Seq2Vec and as a Seq2Seq encoder.

Everything they compute lives in the framework-free core (`rrnn_plugin.modules.RationalRnnLayers`);
these classes only add the AllenNLP base class and its registry name.
"""
from rrnn_plugin.encoders.seq2seq import RationalRnnSeq2SeqEncoder
from rrnn_plugin.encoders.seq2vec import RationalRnnEncoder

__all__ = ["RationalRnnEncoder", "RationalRnnSeq2SeqEncoder"]
