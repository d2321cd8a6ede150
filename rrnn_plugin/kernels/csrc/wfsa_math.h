// exp for the fused layer's row loops, written so that the compiler vectorizes it (CPU).
//
// The fused layer needs f = sigmoid(v.x + b) (and u = sigmoid(w.x) in max semirings) in the
// forward and again in the backward.  Calling std::exp per value costs ~4 ns (it is not
// vectorized); precomputing them with ATen's sigmoid costs a pass over memory and a buffer as
// large as the input.  This float exp is branch-free arithmetic that gcc turns into SIMD code:
// Cody-Waite range reduction, exp(r) by Cephes' degree-6 polynomial on |r| <= ln2/2, and 2^n
// built in the exponent bits: within 1 ulp of exp (checked on [-87, 88]), so sigmoid agrees with
// torch.sigmoid to float32 rounding (results below 1e-38, the denormal range, are not exact).
// With the baseline x86-64 instruction set (SSE2) that is still ~2 ns a value, ~1 ns with AVX2 or
// AVX-512 (see RRNN_RUN_VARIANTS in wfsa_cpu.cpp).  Double precision (used for checks, not speed)
// keeps std::exp.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace rrnn {

// Helpers of the row loops are inlined into each instruction-set variant of the loops that call
// them (wfsa_cpu.cpp, RRNN_RUN_VARIANTS), so that they get the wider vectors too.
#if defined(__GNUC__) && !defined(__CUDACC__)
#define RRNN_ROW_INLINE inline __attribute__((always_inline))
#else
#define RRNN_ROW_INLINE inline
#endif

RRNN_ROW_INLINE float exp_approx(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);  // 2^n stays a normal float
  const float shifter = 12582912.0f;                    // 1.5 * 2^23: adding it rounds to integer
  const float n = (x * 1.44269504088896341f + shifter) - shifter;
  float r = x - n * 0.693359375f;                       // ln 2, split in two parts
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * (r * r) + r + 1.0f;
  const std::int32_t bits = (static_cast<std::int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return y * scale;
}

// exp for the row loops: the vectorizable approximation in float, std::exp in double
RRNN_ROW_INLINE float exp_of(float x) { return exp_approx(x); }
RRNN_ROW_INLINE double exp_of(double x) { return std::exp(x); }

}  // namespace rrnn
