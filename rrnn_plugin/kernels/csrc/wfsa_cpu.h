// Entry points of the CPU kernel (wfsa_cpu.cpp), bound to Python in wfsa_cpu_bindings.cpp.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace rrnn {

// The grid recurrence: returns {final (B, K, S), states (B, T, K, S) or an undefined tensor}.
std::vector<at::Tensor> forward(const at::Tensor& u, const at::Tensor& f, const c10::optional<at::Tensor>& mask,
                                int64_t semiring, bool save_states, bool flush_denormals);
std::vector<at::Tensor> backward(const at::Tensor& u, const at::Tensor& f, const c10::optional<at::Tensor>& mask,
                                 const at::Tensor& states, const c10::optional<at::Tensor>& grad_final,
                                 const c10::optional<at::Tensor>& grad_states, int64_t semiring,
                                 bool flush_denormals);
// The fused layer: the encoder's projection in, scores out.
std::vector<at::Tensor> layer_forward(const at::Tensor& projection, const at::Tensor& offsets,
                                      const c10::optional<at::Tensor>& mask, int64_t semiring, int64_t width,
                                      bool save_states, bool flush_denormals);
at::Tensor layer_backward(const at::Tensor& projection, const at::Tensor& offsets, const c10::optional<at::Tensor>& mask,
                          const at::Tensor& states, const c10::optional<at::Tensor>& grad_final,
                          const c10::optional<at::Tensor>& grad_states, int64_t semiring, int64_t width,
                          bool flush_denormals);
int64_t set_max_isa(int64_t level);
bool set_flush_denormals(bool on);

}  // namespace rrnn
