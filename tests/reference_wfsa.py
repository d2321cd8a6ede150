"""Slow, obviously-correct rational RNN: loops over tokens, WFSAs and states (tests only).

Written straight from docs/method.md §1, independently of the vectorized code, on one document at a
time (no padding).  Reads the parameters of a `RationalRnnEncoder` so gradients can be compared.
"""
import torch


def reference_document_scores(encoder, document: torch.Tensor) -> torch.Tensor:
    """document: (length, input_dim) real tokens only -> (num_wfsas,) scores h(T)."""
    semiring = encoder.semiring
    dim = encoder.get_input_dim()
    params = encoder.state_params  # row s: [w_s, v_s, b_s]
    scores = []
    start = 0
    for n in encoder.wfsa_lengths:
        states = range(start, start + n)
        start += n
        if semiring == "max_plus":
            c = [torch.tensor(float("-inf"), dtype=document.dtype)] * n
        else:
            c = [torch.tensor(0.0, dtype=document.dtype)] * n
        for x in document:
            new_c = []
            for j, s in enumerate(states):
                f = torch.sigmoid(torch.dot(params[s, dim:2 * dim], x) + params[s, 2 * dim])
                main = torch.dot(params[s, :dim], x)
                if semiring == "plus_times":
                    u = main * (1 - f)
                    previous = torch.tensor(1.0, dtype=x.dtype) if j == 0 else c[j - 1]
                    new_c.append(f * c[j] + u * previous)
                elif semiring == "max_times":
                    u = torch.sigmoid(main)
                    previous = torch.tensor(1.0, dtype=x.dtype) if j == 0 else c[j - 1]
                    new_c.append(torch.maximum(f * c[j], u * previous))
                else:  # max_plus
                    u = torch.sigmoid(main)
                    previous = torch.tensor(0.0, dtype=x.dtype) if j == 0 else c[j - 1]
                    new_c.append(torch.maximum(f + c[j], u + previous))
            c = new_c
        if semiring == "plus_times":
            h = sum(c)
        else:
            h = c[0]
            for value in c[1:]:
                h = torch.maximum(h, value)
            if not torch.isfinite(h):
                h = torch.zeros_like(h)
        scores.append(h)
    return torch.stack(scores) if scores else torch.zeros(0, dtype=document.dtype)
