// Python bindings of the CUDA kernel (wfsa_cuda.cu).  Kept apart from the .cu file so that the
// host compiler, not nvcc, compiles pybind11.  Same call signatures as the CPU module, so Python
// calls both alike; `flush_denormals` is accepted and ignored (GPUs handle denormals at full
// speed, there is nothing to flush).
#include <torch/extension.h>

#include <vector>

#include "version.h"

namespace rrnn {
std::vector<at::Tensor> cuda_forward(const at::Tensor& u, const at::Tensor& f, const c10::optional<at::Tensor>& mask,
                                     int64_t semiring, bool save_states);
std::vector<at::Tensor> cuda_backward(const at::Tensor& u, const at::Tensor& f, const c10::optional<at::Tensor>& mask,
                                      const at::Tensor& states, const c10::optional<at::Tensor>& grad_final,
                                      const c10::optional<at::Tensor>& grad_states, int64_t semiring);
}  // namespace rrnn

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "rrnn_plugin: CUDA kernel for the WFSA recurrence (see wfsa_step.h)";
  m.attr("KERNEL_VERSION") = RRNN_KERNEL_VERSION;
  m.def(
      "forward",
      [](const at::Tensor& u, const at::Tensor& f, const c10::optional<at::Tensor>& mask, int64_t semiring,
         bool save_states, bool /*flush_denormals*/) { return rrnn::cuda_forward(u, f, mask, semiring, save_states); },
      "WFSA recurrence forward (CUDA)", py::arg("u"), py::arg("f"), py::arg("mask"), py::arg("semiring"),
      py::arg("save_states"), py::arg("flush_denormals"));
  m.def(
      "backward",
      [](const at::Tensor& u, const at::Tensor& f, const c10::optional<at::Tensor>& mask, const at::Tensor& states,
         const c10::optional<at::Tensor>& grad_final, const c10::optional<at::Tensor>& grad_states, int64_t semiring,
         bool /*flush_denormals*/) {
        return rrnn::cuda_backward(u, f, mask, states, grad_final, grad_states, semiring);
      },
      "WFSA recurrence backward (CUDA)", py::arg("u"), py::arg("f"), py::arg("mask"), py::arg("states"),
      py::arg("grad_final"), py::arg("grad_states"), py::arg("semiring"), py::arg("flush_denormals"));
}
