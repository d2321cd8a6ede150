// Python bindings of the CPU kernel (wfsa_cpu.cpp), as wfsa_cuda_bindings.cpp binds the CUDA one:
// the kernel file itself needs only ATen, this one pybind11.
#include <torch/extension.h>

#include "version.h"
#include "wfsa_cpu.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "rrnn_plugin: C++ CPU kernel for the WFSA recurrence (see wfsa_step.h)";
  m.attr("KERNEL_VERSION") = RRNN_KERNEL_VERSION;
  m.def("forward", &rrnn::forward, "WFSA recurrence forward", py::arg("u"), py::arg("f"), py::arg("mask"),
        py::arg("semiring"), py::arg("save_states"), py::arg("flush_denormals"));
  m.def("backward", &rrnn::backward, "WFSA recurrence backward", py::arg("u"), py::arg("f"), py::arg("mask"),
        py::arg("states"), py::arg("grad_final"), py::arg("grad_states"), py::arg("semiring"),
        py::arg("flush_denormals"));
  m.def("set_max_isa", &rrnn::set_max_isa, "cap the fused layer's instruction set (tests); returns the best available",
        py::arg("level"));
  m.def("set_flush_denormals", &rrnn::set_flush_denormals,
        "flush denormals (FTZ/DAZ) on this thread and its OpenMP team; False where unsupported", py::arg("on"));
  m.def("layer_forward", &rrnn::layer_forward, "fused projection -> recurrence forward", py::arg("projection"),
        py::arg("offsets"), py::arg("mask"), py::arg("semiring"), py::arg("width"), py::arg("save_states"),
        py::arg("flush_denormals"));
  m.def("layer_backward", &rrnn::layer_backward, "fused projection -> recurrence backward", py::arg("projection"),
        py::arg("offsets"), py::arg("mask"), py::arg("states"), py::arg("grad_final"), py::arg("grad_states"),
        py::arg("semiring"), py::arg("width"), py::arg("flush_denormals"));
}
