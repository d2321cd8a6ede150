"""`rational_rnn` as a Seq2VecEncoder: h(T), the top layer's scores after the last real token."""
from typing import Optional

import torch
from allennlp.modules.seq2vec_encoders import Seq2VecEncoder

from rrnn_plugin.modules.rational_rnn import RationalRnnLayers


@Seq2VecEncoder.register("rational_rnn")
class RationalRnnEncoder(RationalRnnLayers, Seq2VecEncoder):
    """The top layer's h(T) after the last real token (parameters: `RationalRnnLayers`)."""

    def forward(self, tokens: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.encode(tokens, mask, all_steps=False)
