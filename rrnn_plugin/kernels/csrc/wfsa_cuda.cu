// CUDA kernel for the WFSA recurrence, the mirror of wfsa_cpu.cpp: the same per-step arithmetic
// (wfsa_step.h), one thread per (document, WFSA) chain instead of one CPU task per run of chains.
//
// NOTE: written without a GPU to run it on; tests/test_kernels.py compares it with the CPU kernel
// and the PyTorch path and skips when no GPU is present.
//
// Layout: u, f, states: (B, T, K, S) contiguous; mask: (B, T) bool or absent; final: (B, K, S).
// A thread keeps its chain's running state (forward) or gradient (backward) in global memory
// (S values, read back from L1), so S is not limited by a register array size.  With B * K
// threads (768 for the paper's 32 x 24) the GPU is far from full; the recurrence is a small part
// of the encoder's cost next to the input projection, so this favours simplicity.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>

#include <vector>

#include "wfsa_dispatch.h"
#include "wfsa_step.h"

namespace rrnn {
namespace {

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

void check_inputs(const at::Tensor& u, const at::Tensor& f, const c10::optional<at::Tensor>& mask) {
  check_grid_inputs(u, f, mask, at::kCUDA, "wfsa_cuda");
}

template <typename T, typename Fn>
void dispatch(int64_t semiring, const Fn& fn) {
  dispatch_semiring<T>(semiring, fn, "wfsa_cuda");
}

unsigned int blocks_for(int64_t chains) {
  return static_cast<unsigned int>((chains + kThreads - 1) / kThreads);
}

}  // namespace

std::vector<at::Tensor> cuda_forward(const at::Tensor& u, const at::Tensor& f, const c10::optional<at::Tensor>& mask,
                                     int64_t semiring, bool save_states) {
  check_inputs(u, f, mask);
  const c10::cuda::CUDAGuard device_guard(u.device());
  const int64_t B = u.size(0), steps = u.size(1), K = u.size(2), S = u.size(3);
  at::Tensor final_c = at::empty({B, K, S}, u.options());
  at::Tensor states = save_states ? at::empty_like(u) : at::Tensor();
  if (B * K * S == 0) return {final_c, states};
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "wfsa_cuda_forward", [&] {
    dispatch<scalar_t>(semiring, [&](auto sr) {
      forward_kernel<decltype(sr), scalar_t><<<blocks_for(B * K), kThreads, 0, stream>>>(
          u.data_ptr<scalar_t>(), f.data_ptr<scalar_t>(), mask_ptr(mask), final_c.data_ptr<scalar_t>(),
          save_states ? states.data_ptr<scalar_t>() : nullptr, B, steps, K, S);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
  return {final_c, states};
}

std::vector<at::Tensor> cuda_backward(const at::Tensor& u, const at::Tensor& f, const c10::optional<at::Tensor>& mask,
                                      const at::Tensor& states, const c10::optional<at::Tensor>& grad_final,
                                      const c10::optional<at::Tensor>& grad_states, int64_t semiring) {
  check_inputs(u, f, mask);
  TORCH_CHECK(states.sizes() == u.sizes() && states.is_contiguous() && states.scalar_type() == u.scalar_type() &&
                  states.device() == u.device(),
              "wfsa_cuda: states must match u");
  const c10::cuda::CUDAGuard device_guard(u.device());
  const int64_t B = u.size(0), steps = u.size(1), K = u.size(2), S = u.size(3);
  const bool has_states = grad_states && grad_states->defined();
  if (has_states) {
    TORCH_CHECK(grad_states->is_contiguous() && grad_states->sizes() == u.sizes() &&
                    grad_states->scalar_type() == u.scalar_type() && grad_states->device() == u.device(),
                "wfsa_cuda: bad grad_states");
  }
  at::Tensor a = (grad_final && grad_final->defined()) ? grad_final->contiguous().clone()
                                                       : at::zeros({B, K, S}, u.options());
  TORCH_CHECK(a.sizes() == at::IntArrayRef({B, K, S}) && a.scalar_type() == u.scalar_type(),
              "wfsa_cuda: bad grad_final");
  at::Tensor grad_u = at::empty_like(u);
  at::Tensor grad_f = at::empty_like(f);
  if (B * K * S == 0) return {grad_u, grad_f};
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "wfsa_cuda_backward", [&] {
    dispatch<scalar_t>(semiring, [&](auto sr) {
      backward_kernel<decltype(sr), scalar_t><<<blocks_for(B * K), kThreads, 0, stream>>>(
          u.data_ptr<scalar_t>(), f.data_ptr<scalar_t>(), mask_ptr(mask), states.data_ptr<scalar_t>(),
          has_states ? grad_states->data_ptr<scalar_t>() : nullptr, a.data_ptr<scalar_t>(),
          grad_u.data_ptr<scalar_t>(), grad_f.data_ptr<scalar_t>(), B, steps, K, S);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
  return {grad_u, grad_f};
}

}  // namespace rrnn
