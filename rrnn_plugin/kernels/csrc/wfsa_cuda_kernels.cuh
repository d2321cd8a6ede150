// The CUDA device code of the WFSA recurrence: one thread per (document, WFSA) chain, the per-step
// arithmetic of wfsa_step.h.  No ATen here, so that `nvcc -c` of this header alone
// (tests/test_cuda_compile.py, in `make test` wherever nvcc is installed) checks the device code
// without a CUDA build of torch; wfsa_cuda.cu launches these kernels.
//
// Layout: u, f, states: (B, T, K, S) contiguous; mask: (B, T) bool or absent; final: (B, K, S).
// A thread keeps its chain's running state (forward) or gradient (backward) in global memory
// (S values, read back from L1), so S is not limited by a register array size.
#pragma once

#include <cstdint>

#include "wfsa_step.h"

namespace rrnn {
namespace cuda_kernels {

constexpr int kThreads = 128;

template <typename SR, typename T>
__global__ void forward_kernel(const T* __restrict__ u, const T* __restrict__ f, const bool* __restrict__ mask,
                               T* __restrict__ final_c, T* __restrict__ states, int64_t B, int64_t steps,
                               int64_t K, int64_t S) {
  const int64_t chain = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (chain >= B * K) return;
  const int64_t b = chain / K;
  const int64_t k = chain % K;
  T* c = final_c + chain * S;
  for (int64_t j = 0; j < S; ++j) c[j] = SR::zero();
  for (int64_t t = 0; t < steps; ++t) {
    const int64_t offset = ((b * steps + t) * K + k) * S;
    if (!mask || mask[b * steps + t]) {
      step_forward<SR>(u + offset, f + offset, c, static_cast<int>(S));
    }
    if (states) {
      for (int64_t j = 0; j < S; ++j) states[offset + j] = c[j];
    }
  }
}

// `a` holds dL/d(final) on entry (zeros if none) and is used as the running gradient.
template <typename SR, typename T>
__global__ void backward_kernel(const T* __restrict__ u, const T* __restrict__ f, const bool* __restrict__ mask,
                                const T* __restrict__ states, const T* __restrict__ grad_states, T* __restrict__ a_all,
                                T* __restrict__ grad_u, T* __restrict__ grad_f, int64_t B, int64_t steps, int64_t K,
                                int64_t S) {
  const int64_t chain = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (chain >= B * K) return;
  const int64_t b = chain / K;
  const int64_t k = chain % K;
  T* a = a_all + chain * S;
  for (int64_t t = steps - 1; t >= 0; --t) {
    const int64_t offset = ((b * steps + t) * K + k) * S;
    if (grad_states) {
      for (int64_t j = 0; j < S; ++j) a[j] += grad_states[offset + j];
    }
    if (mask && !mask[b * steps + t]) {  // padding: state carried over, no weight used
      for (int64_t j = 0; j < S; ++j) {
        grad_u[offset + j] = T(0);
        grad_f[offset + j] = T(0);
      }
      continue;
    }
    const T* c_prev = t > 0 ? states + offset - K * S : nullptr;
    step_backward<SR>(u + offset, f + offset, c_prev, a, grad_u + offset, grad_f + offset, static_cast<int>(S));
  }
}

}  // namespace cuda_kernels
}  // namespace rrnn
