// CUDA kernel for the WFSA recurrence, the mirror of wfsa_cpu.cpp: the same per-step arithmetic
// (wfsa_step.h), one thread per (document, WFSA) chain instead of one CPU task per run of chains.
//
// NOTE: written without a GPU to run it on; tests/test_kernels.py compares it with the CPU kernel
// and the PyTorch path and skips when no GPU is present.
//
// The device code is in wfsa_cuda_kernels.cuh; this file checks inputs and launches it.  With B * K
// threads (768 for the paper's 32 x 24) the GPU is far from full; the recurrence is a small part
// of the encoder's cost next to the input projection, so this favours simplicity.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>

#include <vector>

#include "wfsa_cuda_kernels.cuh"
#include "wfsa_dispatch.h"

namespace rrnn {
namespace {

using cuda_kernels::backward_kernel;
using cuda_kernels::forward_kernel;
using cuda_kernels::kThreads;

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
