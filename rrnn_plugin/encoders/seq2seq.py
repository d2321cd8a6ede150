"""`rational_rnn` as a Seq2SeqEncoder: h(t) after every token, zero at padding."""
from typing import Optional

import torch
from allennlp.modules.seq2seq_encoders import Seq2SeqEncoder

from rrnn_plugin.modules.rational_rnn import RationalRnnLayers


@Seq2SeqEncoder.register("rational_rnn")
class RationalRnnSeq2SeqEncoder(RationalRnnLayers, Seq2SeqEncoder):
    """The top layer's h(t) after every token, zero at padding (parameters: `RationalRnnLayers`)."""

    def forward(self, tokens: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.encode(tokens, mask, all_steps=True)
