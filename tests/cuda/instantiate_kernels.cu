// Compile-only check of the CUDA device code (tests/test_cuda_compile.py): every kernel for every
// semiring and floating type, instantiated explicitly, so a syntax or template error in
// wfsa_cuda_kernels.cuh or wfsa_step.h fails `make test` wherever nvcc is installed.
#include "wfsa_cuda_kernels.cuh"

namespace rrnn {
namespace cuda_kernels {

#define RRNN_INSTANTIATE(SR, T)                                                                               \
  template __global__ void forward_kernel<SR<T>, T>(const T*, const T*, const bool*, T*, T*, int64_t, int64_t,  \
                                                    int64_t, int64_t);                                        \
  template __global__ void backward_kernel<SR<T>, T>(const T*, const T*, const bool*, const T*, const T*, T*, T*, \
                                                     T*, int64_t, int64_t, int64_t, int64_t);

RRNN_INSTANTIATE(PlusTimes, float)
RRNN_INSTANTIATE(PlusTimes, double)
RRNN_INSTANTIATE(MaxTimes, float)
RRNN_INSTANTIATE(MaxTimes, double)
RRNN_INSTANTIATE(MaxPlus, float)
RRNN_INSTANTIATE(MaxPlus, double)

}  // namespace cuda_kernels
}  // namespace rrnn
