// One time step of the WFSA recurrence for ONE chain (one document, one WFSA), forward and
// backward, written once and shared by the CPU kernel (wfsa_cpu.cpp) and the CUDA kernel
// (wfsa_cuda.cu) so the two cannot drift apart.
//
//   c_j(t) = f_j(t) (x) c_j(t-1)  (+)  u_j(t) (x) c_{j-1}(t-1),    c_{-1} == one,  c_j(0) = zero
//
// (docs/method.md §1; j runs over the chain's S grid states).  Grid states beyond a WFSA's
// length hold u = zero, so they stay at zero: no special case is needed for mixed lengths.
//
// Backward: with a_j = dL/dc_j(t), x = f (x) c_j(t-1), y = u (x) c_{j-1}(t-1) and (wx, wy) the
// share of the gradient that (+) passes to x and y,
//   dL/df_j(t) = a_j wx d(x)/df,  dL/du_j(t) = a_j wy d(y)/du,
//   dL/dc_j(t-1) = a_j wx d(x)/dc_j(t-1) + a_{j+1} wy_{j+1} d(y_{j+1})/dc_j(t-1).
// For max, (wx, wy) follows the argmax of the forward step, recomputed from the saved states
// (no per-step choice is stored); an exact tie splits the gradient in halves, as torch.maximum
// does, so the kernel and the PyTorch path agree even on ties (e.g. -inf vs -inf in max-plus).
#pragma once

#include <cmath>

#if defined(__CUDACC__)
#define RRNN_HD __host__ __device__ __forceinline__
#else
#define RRNN_HD inline
#endif

namespace rrnn {

// Codes shared with Python (rrnn_plugin/kernels/_ops.py, SEMIRING_CODES).
enum SemiringCode : int { kPlusTimes = 0, kMaxTimes = 1, kMaxPlus = 2 };

template <typename T>
struct PlusTimes {
  static RRNN_HD T zero() { return T(0); }
  static RRNN_HD T one() { return T(1); }
  static RRNN_HD T times(T a, T b) { return a * b; }
  static RRNN_HD T times_grad(T other) { return other; }  // d(a*b)/da = b
  static RRNN_HD T plus(T x, T y) { return x + y; }
  // shares of d(plus)/d(x) and d(plus)/d(y) that go to x and to y
  static RRNN_HD T share_x(T, T) { return T(1); }
  static RRNN_HD T share_y(T, T) { return T(1); }
};

template <typename T>
struct MaxPlusGrad {  // the "max" half shared by max-times and max-plus
  static RRNN_HD T plus(T x, T y) { return x < y ? y : x; }
  // 1 to the larger, halves on a tie; arithmetic on comparisons, not branches, so that the CPU
  // row loops vectorize
  static RRNN_HD T share_x(T x, T y) { return T(x > y) + T(0.5) * T(x == y); }
  static RRNN_HD T share_y(T x, T y) { return T(x < y) + T(0.5) * T(x == y); }
};

template <typename T>
struct MaxTimes : MaxPlusGrad<T> {
  static RRNN_HD T zero() { return T(0); }
  static RRNN_HD T one() { return T(1); }
  static RRNN_HD T times(T a, T b) { return a * b; }
  static RRNN_HD T times_grad(T other) { return other; }
};

template <typename T>
struct MaxPlus : MaxPlusGrad<T> {
  static RRNN_HD T zero() { return -T(INFINITY); }
  static RRNN_HD T one() { return T(0); }
  static RRNN_HD T times(T a, T b) { return a + b; }
  static RRNN_HD T times_grad(T) { return T(1); }  // d(a+b)/da = 1
};

// c (S values, in place): c(t-1) -> c(t).  Descending j, so c_{j-1} is still the old value.
template <typename SR, typename T>
RRNN_HD void step_forward(const T* u, const T* f, T* c, int S) {
  for (int j = S - 1; j >= 1; --j) {
    c[j] = SR::plus(SR::times(f[j], c[j]), SR::times(u[j], c[j - 1]));
  }
  c[0] = SR::plus(SR::times(f[0], c[0]), SR::times(u[0], SR::one()));
}

// a (S values, in place): dL/dc(t) -> dL/dc(t-1); writes dL/du(t), dL/df(t).
// c_prev is c(t-1), or nullptr for t = 0 (all zero).  Ascending j: a_j is read before a_{j-1}'s
// update is written (`pending` holds a_j's own part until a_{j+1}'s contribution is known).
template <typename SR, typename T>
RRNN_HD void step_backward(const T* u, const T* f, const T* c_prev, T* a, T* grad_u, T* grad_f, int S) {
  T pending = T(0);
  for (int j = 0; j < S; ++j) {
    const T c_same = c_prev ? c_prev[j] : SR::zero();
    const T c_before = j == 0 ? SR::one() : (c_prev ? c_prev[j - 1] : SR::zero());
    const T x = SR::times(f[j], c_same);
    const T y = SR::times(u[j], c_before);
    const T gx = a[j] * SR::share_x(x, y);
    const T gy = a[j] * SR::share_y(x, y);
    grad_f[j] = gx * SR::times_grad(c_same);
    grad_u[j] = gy * SR::times_grad(c_before);
    if (j >= 1) a[j - 1] = pending + gy * SR::times_grad(u[j]);
    pending = gx * SR::times_grad(f[j]);
  }
  if (S > 0) a[S - 1] = pending;
}

}  // namespace rrnn
