// The step of wfsa_step.h for a whole ROW of consecutive states at once (CPU, fused layer),
// including the transition weights, in as few passes over the row as possible.
//
// wfsa_step.h walks one chain state by state, which suits one GPU thread per chain but not a
// CPU's vector units: the loop over a WFSA's few states carries a dependency and its length varies.
// Here the states of many WFSAs (of any lengths) form one row of `count` values, and WFSA
// boundaries are masks: first[i] != 0 if state i is the first of its WFSA (its predecessor is the
// start state, score `one`), last[i] != 0 if it is the last.  Every loop is then elementwise with
// selects, which the compiler vectorizes.  One loop per row (two in the backward) matters for
// pruned models, whose rows are short: each loop costs ~10 ns of set-up whatever its length.
// Same arithmetic, same tie rule as wfsa_step.h; the grid kernel (which uses wfsa_step.h, like
// the CUDA kernel) and the tests keep the two in agreement.
//
// Transition weights (docs/method.md §1, semirings.py): f = sigmoid(l) with l = v.x + b, and
// u = m (1 - f) in plus-times, u = sigmoid(m) in the max semirings, with m = w.x.
#pragma once

#include <cstdint>
#include <type_traits>

#include "wfsa_math.h"
#include "wfsa_step.h"

namespace rrnn {

template <typename SR>
constexpr bool kGatedMainPath = std::is_same<SR, PlusTimes<float>>::value || std::is_same<SR, PlusTimes<double>>::value;

template <typename T>
RRNN_ROW_INLINE T sigmoid(T x) {
  return T(1) / (T(1) + exp_of(-x));
}

// u from m and f = sigmoid(l)
template <typename SR, typename T>
RRNN_ROW_INLINE T main_weight(T m, T f) {
  if constexpr (kGatedMainPath<SR>) {
    return m * (T(1) - f);
  } else {
    return sigmoid(m);
  }
}

// One step forward: c_new = step(c_old).  Both are padded: [0] is scratch, the row is [1..count],
// so that c_old[i] is state i's predecessor c_{i-1}(t-1) without reading out of bounds.
template <typename SR, typename T>
RRNN_ROW_INLINE void row_forward(const T* __restrict__ m, const T* __restrict__ l, const T* __restrict__ first,
                                 const T* __restrict__ c_old, T* __restrict__ c_new, int64_t count) {
  for (int64_t i = 0; i < count; ++i) {
    const T f = sigmoid(l[i]);
    const T u = main_weight<SR>(m[i], f);
    const T predecessor = c_old[i];  // loaded unconditionally, so the select vectorizes
    const T before = first[i] != T(0) ? SR::one() : predecessor;
    c_new[i + 1] = SR::plus(SR::times(f, c_old[i + 1]), SR::times(u, before));
  }
}

// One step backward.  a = dL/dc(t) in, dL/dc(t-1) out (in place); c_prev = c(t-1), padded like
// c_old above; writes dL/dm and dL/dl of this row.  own and carry are scratch of count + 1 values,
// carry[count] == 0: carry[i] is what state i passes to its predecessor i - 1 through the main path.
template <typename SR, typename T>
RRNN_ROW_INLINE void row_backward(const T* __restrict__ m, const T* __restrict__ l, const T* __restrict__ first,
                                  const T* __restrict__ last, const T* __restrict__ c_prev, T* __restrict__ a,
                                  T* __restrict__ grad_m, T* __restrict__ grad_l, T* __restrict__ own,
                                  T* __restrict__ carry, int64_t count) {
  for (int64_t i = 0; i < count; ++i) {
    const T f = sigmoid(l[i]);
    const T u = main_weight<SR>(m[i], f);
    const T c_same = c_prev[i + 1];
    const T predecessor = c_prev[i];
    const T before = first[i] != T(0) ? SR::one() : predecessor;
    const T x = SR::times(f, c_same);
    const T y = SR::times(u, before);
    const T gx = a[i] * SR::share_x(x, y);
    const T gy = a[i] * SR::share_y(x, y);
    const T grad_f = gx * SR::times_grad(c_same);
    const T grad_u = gy * SR::times_grad(before);
    own[i] = gx * SR::times_grad(f);     // through the self-loop: to the same state
    carry[i] = gy * SR::times_grad(u);   // through the main path: to the previous state
    const T dsig_f = f * (T(1) - f);
    if constexpr (kGatedMainPath<SR>) {  // u = m (1 - f)
      grad_m[i] = grad_u * (T(1) - f);
      grad_l[i] = (grad_f - grad_u * m[i]) * dsig_f;
    } else {                              // u = sigmoid(m)
      grad_m[i] = grad_u * (u * (T(1) - u));
      grad_l[i] = grad_f * dsig_f;
    }
  }
  for (int64_t i = 0; i < count; ++i) {
    const T from_next = carry[i + 1];
    a[i] = own[i] + (last[i] != T(0) ? T(0) : from_next);
  }
}

}  // namespace rrnn
