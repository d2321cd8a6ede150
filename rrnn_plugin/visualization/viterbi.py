"""Highest- and lowest-scoring single path of every WFSA in every document (docs/method.md §6).

The model scores a document with the Forward algorithm (a sum over paths); to show *what* a WFSA
matches we want its single best path instead: the max-times (top) and min-times (bottom) Viterbi
variant over the model's own transition weights u and f, with back-pointers.

Which paths count (the definition everything else in `rrnn_plugin.visualization` relies on):

* A path uses all n main-path transitions of its WFSA (the paper's Table 1 shows full phrases):
  the start state q0 consumes the tokens before the match with weight one (its implicit
  self-loop); main-path transition j consumes token e_j with weight u_j(e_j); between e_{j-1}
  and e_j the tokens are consumed by the self-loop of q_{j-1} (weights f_{j-1}).
* With `trailing=True` (the default) the path then stays in q_n until the document ends,
  multiplying in f_n for every remaining token.  That is exactly the path's term in the model's
  own score h(T) (docs/method.md §1: the state score after the last token), so a match early in a
  long document is discounted as the model discounts it ("recency preference").  With
  `trailing=False` the path ends at its last main-path token: the score of the match alone,
  wherever it occurs.
* With `any_final_state=True` a path may also stop after fewer transitions, in any state
  q1..q(n-1) (followed by that state's self-loops when `trailing`): every state is final, and
  the model's h(T) sums the paths ending in every state, so short paths can dominate a WFSA's
  score.  The paper's Table 1 shows full paths, hence the default.
* In the plus-times model u = (w·x)(1 - f) is signed, so the best product is not a plain
  Viterbi maximum: a negative u times the *lowest* score of the state before can give the highest
  score.  Both the highest and the lowest score of every state are therefore carried through the
  recurrence together (f > 0 keeps the order, so a self-loop maps highest to highest), and a
  back-pointer remembers from which of the two a main-path transition came; this is exact.
  A `max_plus` model combines weights by addition; then order is always preserved.

The recurrence runs over time; every step is vectorized over documents, WFSAs and states.
Scores are computed in float64 (products of many f only underflow for paths whose score is
negligible anyway).
"""
from dataclasses import dataclass
from typing import Dict, Sequence

import torch

MAX, MIN = 0, 1  # chart indices: highest and lowest score of a state


@dataclass
class ExtremePaths:
    """One best path per (document, WFSA), as tensors.

    scores: (batch, num_wfsas) float64; NaN where no path exists (a document with fewer tokens
        than the WFSA has transitions; with `any_final_state`, an empty document).
    main_positions: (batch, num_wfsas, max_states) long; position of the token consumed by each
        main-path transition (0-based, within the document); -1 after the state the path ends in
        and where there is no path.
    """

    scores: torch.Tensor
    main_positions: torch.Tensor


def extreme_paths(
    u: torch.Tensor,
    f: torch.Tensor,
    lengths: torch.Tensor,
    wfsa_lengths: Sequence[int],
    trailing: bool = True,
    additive: bool = False,
    any_final_state: bool = False,
) -> Dict[str, ExtremePaths]:
    """The highest (`"max"`) and lowest (`"min"`) scoring full path of each WFSA in each document.

    u, f: (batch, time, num_wfsas, max_states) transition weights on the encoder's grid
        (`RationalRnnEncoder.transition_weights`), each document's tokens first (right padding).
    lengths: (batch,) number of real tokens of each document.
    wfsa_lengths: number of main-path transitions of each WFSA (<= max_states).
    trailing: whether the tokens after the last main-path transition are consumed by the last
        state's self-loop (see the module docstring).
    additive: combine weights by addition (a `max_plus` model) instead of multiplication.
    any_final_state: let a path end in any state q1..qn (every state is final, and the model's
        h(T) sums them all), not only after all n transitions; `main_positions` then holds -1
        after the path's last state.
    """
    u = u.detach().to(torch.float64)
    f = f.detach().to(torch.float64)
    lengths = lengths.to(device=u.device, dtype=torch.long)
    n = torch.as_tensor(list(wfsa_lengths), dtype=torch.long, device=u.device)
    _, _, num_wfsas, max_states = u.shape
    if n.numel() != num_wfsas or (n.numel() and (n.min() < 1 or n.max() > max_states)):
        raise ValueError(
            f"wfsa_lengths {list(wfsa_lengths)} do not fit a grid of {num_wfsas} x {max_states}"
        )
    charts = _charts(u, f, lengths, trailing, additive)
    return _best_paths(charts, u, lengths, n, trailing, additive, any_final_state)


@dataclass
class _Charts:
    """What the Viterbi pass over the documents leaves for choosing and tracing the paths."""

    entry: torch.Tensor  # [c, t, b, k, j]: when the path held in chart c at (t, state j) entered j
    final: torch.Tensor  # [c, b, k, j]: chart values after each document's last token
    best: torch.Tensor  # [c, b, k, j]: without trailing self-loops, the best value at entry ...
    best_time: torch.Tensor  # ... and when it was reached


def _charts(u: torch.Tensor, f: torch.Tensor, lengths: torch.Tensor, trailing: bool, additive: bool) -> _Charts:
    """The max and min charts over every token, with back-pointers (max-times / min-times, or
    the additive versions); signed u is exact: each state keeps both its largest and smallest score."""
    batch, steps, num_wfsas, max_states = u.shape
    combine = torch.add if additive else torch.mul
    one = 0.0 if additive else 1.0
    pointer_type = torch.int16 if steps < 2 ** 15 else torch.int32
    entry = torch.zeros((2, steps, batch, num_wfsas, max_states), dtype=pointer_type, device=u.device)
    shape = (batch, num_wfsas, max_states)
    high = u.new_zeros(shape)
    low = u.new_zeros(shape)
    final = u.new_zeros((2,) + shape)
    best = torch.stack([u.new_full(shape, -torch.inf), u.new_full(shape, torch.inf)])
    best_time = torch.zeros((2,) + shape, dtype=torch.long, device=u.device)
    start = u.new_full((batch, num_wfsas, 1), one)  # q0: weight one at every step
    state_index = torch.arange(max_states, device=u.device)
    last_time = (lengths - 1).view(batch, 1, 1)
    for t in range(steps):
        u_t, f_t = u[:, t], f[:, t]
        before_high = torch.cat([start, high[..., :-1]], dim=-1)  # state j-1 after token t-1
        before_low = torch.cat([start, low[..., :-1]], dim=-1)
        if additive:
            main_high, main_low = u_t + before_high, u_t + before_low
        else:
            positive = u_t >= 0
            main_high = u_t * torch.where(positive, before_high, before_low)
            main_low = u_t * torch.where(positive, before_low, before_high)
        can_loop = state_index < t  # state j (0-based) was reachable after token t-1
        loop_high = can_loop & (combine(f_t, high) > main_high)  # ties: the later entry
        loop_low = can_loop & (combine(f_t, low) < main_low)
        high = torch.where(loop_high, combine(f_t, high), main_high)
        low = torch.where(loop_low, combine(f_t, low), main_low)
        now = torch.tensor(t, dtype=pointer_type, device=u.device)
        if t > 0:
            entry[MAX, t] = torch.where(loop_high, entry[MAX, t - 1], now)
            entry[MIN, t] = torch.where(loop_low, entry[MIN, t - 1], now)
        else:
            entry[:, t] = now
        ends = last_time == t
        final[MAX] = torch.where(ends, high, final[MAX])
        final[MIN] = torch.where(ends, low, final[MIN])
        if not trailing:
            counts = (t < lengths).view(batch, 1, 1) & (state_index <= t)
            better_high = counts & (main_high > best[MAX])
            better_low = counts & (main_low < best[MIN])
            best[MAX] = torch.where(better_high, main_high, best[MAX])
            best[MIN] = torch.where(better_low, main_low, best[MIN])
            best_time[MAX] = torch.where(better_high, t, best_time[MAX])
            best_time[MIN] = torch.where(better_low, t, best_time[MIN])
    return _Charts(entry, final, best, best_time)


def _best_paths(charts: _Charts, u: torch.Tensor, lengths: torch.Tensor, n: torch.Tensor, trailing: bool,
                additive: bool, any_final_state: bool) -> Dict[str, ExtremePaths]:
    """Per WFSA and document, the end state of the best (and worst) path, its score and its
    main-path positions."""
    batch, _, num_wfsas, max_states = u.shape
    # the states a path may end in: the last one, or (any_final_state) any reachable one
    states = torch.arange(max_states, device=u.device).view(1, 1, max_states)
    can_end = (states < n.view(1, num_wfsas, 1)) & (states < lengths.view(batch, 1, 1))
    if not any_final_state:
        can_end = can_end & (states == (n - 1).view(1, num_wfsas, 1))
    has_path = can_end.any(dim=-1)
    results = {}
    for name, chart in (("max", MAX), ("min", MIN)):
        values = charts.final[chart] if trailing else charts.best[chart]
        worst = -torch.inf if chart == MAX else torch.inf
        values = torch.where(can_end, values, torch.full_like(values, worst))
        end_state = (values.argmax(-1) if chart == MAX else values.argmin(-1)).unsqueeze(-1)
        scores = values.gather(-1, end_state).squeeze(-1)
        scores = torch.where(has_path, scores, torch.full_like(scores, torch.nan))
        first_entry = None if trailing else charts.best_time[chart].gather(-1, end_state).squeeze(-1)
        positions = _backtrace(charts.entry, u, lengths, end_state.squeeze(-1), chart, first_entry, additive)
        positions = torch.where(has_path.unsqueeze(-1), positions, torch.full_like(positions, -1))
        results[name] = ExtremePaths(scores=scores, main_positions=positions)
    return results


def _backtrace(
    entry: torch.Tensor,
    u: torch.Tensor,
    lengths: torch.Tensor,
    end_state: torch.Tensor,
    chart: int,
    first_entry,
    additive: bool,
) -> torch.Tensor:
    """Follow the entry pointers from each path's end state (batch, num_wfsas) back to q0: one
    step per main-path transition."""
    _, steps, batch, num_wfsas, max_states = entry.shape
    b = torch.arange(batch, device=u.device).view(batch, 1).expand(batch, num_wfsas)
    k = torch.arange(num_wfsas, device=u.device).view(1, num_wfsas).expand(batch, num_wfsas)
    charts = torch.full((batch, num_wfsas), chart, dtype=torch.long, device=u.device)
    state = end_state.clone()
    time = (lengths - 1).clamp(min=0).view(batch, 1).expand(batch, num_wfsas).clone()
    positions = torch.full((batch, num_wfsas, max_states), -1, dtype=torch.long, device=u.device)
    for step in range(max_states):
        active = (state >= 0) & (time >= 0)
        s, t = state.clamp(min=0), time.clamp(min=0, max=steps - 1)
        e = entry[charts, t, b, k, s].long()
        if step == 0 and first_entry is not None:
            e = first_entry
        e = torch.where(active, e, torch.full_like(e, -1))
        positions[b, k, s] = torch.where(active, e, positions[b, k, s])
        if not additive:  # a negative weight swaps highest and lowest
            negative = u[b, e.clamp(min=0), k, s] < 0
            charts = torch.where(active & negative, 1 - charts, charts)
        state = state - 1
        time = e - 1
    return positions
