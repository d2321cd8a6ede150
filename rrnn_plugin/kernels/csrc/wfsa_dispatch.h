// What the CPU and CUDA kernels' entry points share: checking the grid inputs, the mask pointer,
// and the switch from a semiring code (wfsa_step.h) to its type.  Host code only; included by
// wfsa_cpu.cpp and wfsa_cuda.cu.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

#include "wfsa_step.h"

namespace rrnn {

// u, f: (batch, time, wfsas, states), one dtype, contiguous, on `device_type`; mask: (batch, time)
// bool, contiguous, on u's device, or absent.  `who` names the kernel in the messages.
inline void check_grid_inputs(const at::Tensor& u, const at::Tensor& f, const c10::optional<at::Tensor>& mask,
                              at::DeviceType device_type, const char* who) {
  TORCH_CHECK(u.device().type() == device_type && f.device() == u.device(), who, ": expected ",
              c10::DeviceTypeName(device_type, /*lower_case=*/true), " tensors on one device");
  TORCH_CHECK(u.dim() == 4, who, ": u must be (batch, time, wfsas, states), got ", u.sizes());
  TORCH_CHECK(f.sizes() == u.sizes(), who, ": f ", f.sizes(), " != u ", u.sizes());
  TORCH_CHECK(f.scalar_type() == u.scalar_type(), who, ": u and f must have one dtype");
  TORCH_CHECK(u.is_contiguous() && f.is_contiguous(), who, ": u and f must be contiguous");
  if (mask && mask->defined()) {
    TORCH_CHECK(mask->scalar_type() == at::kBool && mask->is_contiguous() && mask->device() == u.device(), who,
                ": mask must be a contiguous bool tensor on u's device");
    TORCH_CHECK(mask->dim() == 2 && mask->size(0) == u.size(0) && mask->size(1) == u.size(1), who,
                ": mask must be (batch, time), got ", mask->sizes());
  }
}

inline const bool* mask_ptr(const c10::optional<at::Tensor>& mask) {
  return mask && mask->defined() ? mask->data_ptr<bool>() : nullptr;
}

// fn(PlusTimes<T>{}), fn(MaxTimes<T>{}) or fn(MaxPlus<T>{}) for the semiring code.
template <typename T, typename Fn>
void dispatch_semiring(int64_t semiring, const Fn& fn, const char* who) {
  switch (semiring) {
    case kPlusTimes: fn(PlusTimes<T>{}); break;
    case kMaxTimes: fn(MaxTimes<T>{}); break;
    case kMaxPlus: fn(MaxPlus<T>{}); break;
    default: TORCH_CHECK(false, who, ": unknown semiring code ", semiring);
  }
}

}  // namespace rrnn
