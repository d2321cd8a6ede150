// CPU kernels for the WFSA recurrence (forward and hand-written backward), parallel over
// (document, WFSA) chains with at::parallel_for.  Two entry points:
// - the grid recurrence (forward/backward): u, f on the (WFSA, state) grid, as
//   `wfsa_recurrence` takes them; per-chain steps of wfsa_step.h, exactly like the CUDA kernel,
//   so the CPU tests also cover the arithmetic the GPU runs;
// - the fused layer (layer_forward/layer_backward): the encoder's projection in, scores out,
//   with the vectorizable row form of the same steps (wfsa_rows.h); this is what the encoder
//   uses on CPU.
//
// Grid layout: u, f, states: (B, T, K, S) contiguous; mask: (B, T) bool or absent; final:
// (B, K, S).  A task owns a run of consecutive (b, k) chains; for each document in its run it
// walks time once and updates all of that document's WFSAs at each step, so it reads u and f as
// one contiguous (k1 - k0) * S block per step instead of jumping K * S elements per chain.
#include <ATen/ATen.h>

#include <ATen/Parallel.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <vector>

#include "wfsa_cpu.h"
#include "wfsa_dispatch.h"
#include "wfsa_rows.h"
#include "wfsa_step.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <xmmintrin.h>
#define RRNN_X86 1
#endif

namespace rrnn {
namespace {

// Flush-to-zero / denormals-are-zero mode of the calling thread (per-thread CPU state).
constexpr bool kCanFlush =
#if defined(RRNN_X86) || defined(__aarch64__)
    true;
#else
    false;
#endif

std::uint64_t read_fp_mode() {
#if defined(RRNN_X86)
  return _mm_getcsr();
#elif defined(__aarch64__)
  std::uint64_t fpcr;
  asm volatile("mrs %0, fpcr" : "=r"(fpcr));
  return fpcr;
#else
  return 0;
#endif
}

void write_fp_mode(std::uint64_t mode) {
#if defined(RRNN_X86)
  _mm_setcsr(static_cast<unsigned int>(mode));
#elif defined(__aarch64__)
  asm volatile("msr fpcr, %0" : : "r"(mode));
#else
  (void)mode;
#endif
}

std::uint64_t with_flushing(std::uint64_t mode, bool on) {
#if defined(RRNN_X86)
  const std::uint64_t bits = 0x8040u;  // FTZ (bit 15) | DAZ (bit 6)
#elif defined(__aarch64__)
  const std::uint64_t bits = std::uint64_t(1) << 24;  // FZ
#else
  const std::uint64_t bits = 0;
#endif
  return on ? (mode | bits) : (mode & ~bits);
}

// Flushing on for the calling thread while in scope, then the previous mode back.  Each kernel
// task creates one, so the recurrence flushes in EVERY worker thread that runs it even when the
// process-wide setting below was not applied (backward gradients shrink like products of
// self-loop weights and reach the denormal range after ~100-200 steps, docs/method.md §7).
class DenormalGuard {
 public:
  explicit DenormalGuard(bool enable) : enabled_(enable && kCanFlush) {
    if (!enabled_) return;
    saved_ = read_fp_mode();
    write_fp_mode(with_flushing(saved_, true));
  }
  ~DenormalGuard() {
    if (enabled_) write_fp_mode(saved_);
  }
  DenormalGuard(const DenormalGuard&) = delete;
  DenormalGuard& operator=(const DenormalGuard&) = delete;

 private:
  bool enabled_;
  std::uint64_t saved_ = 0;
};

// Visits the chains [begin, end) of a flat (b, k) range as runs of consecutive WFSAs of one
// document: fn(b, k0, k1).
template <typename Fn>
void for_each_run(int64_t begin, int64_t end, int64_t K, const Fn& fn) {
  int64_t idx = begin;
  while (idx < end) {
    const int64_t b = idx / K;
    const int64_t k0 = idx % K;
    const int64_t k1 = std::min<int64_t>(K, k0 + (end - idx));
    fn(b, k0, k1);
    idx += k1 - k0;
  }
}

// Runs fn(scratch, b, k0, k1) for every run of the chains [0, B * K), in parallel: each task
// flushes denormals (if asked) and has one Scratch, reused by all of its runs.
struct NoScratch {};

template <typename Scratch, typename Fn>
void parallel_runs(int64_t B, int64_t K, int64_t grain, bool flush, const Fn& fn) {
  at::parallel_for(0, B * K, grain, [&](int64_t begin, int64_t end) {
    DenormalGuard guard(flush);
    Scratch scratch;
    for_each_run(begin, end, K, [&](int64_t b, int64_t k0, int64_t k1) { fn(scratch, b, k0, k1); });
  });
}

int64_t grain_for(int64_t T, int64_t S) {
  // about at::internal::GRAIN_SIZE cell updates per task, so short inputs are not split
  return std::max<int64_t>(1, at::internal::GRAIN_SIZE / std::max<int64_t>(1, T * S));
}

template <typename SR, typename T>
void forward_impl(const T* u, const T* f, const bool* mask, T* final_c, T* states, int64_t B,
                  int64_t steps, int64_t K, int64_t S, bool flush) {
  parallel_runs<NoScratch>(B, K, grain_for(steps, S), flush, [&](NoScratch&, int64_t b, int64_t k0, int64_t k1) {
    const int64_t run = (k1 - k0) * S;
    T* c = final_c + (b * K + k0) * S;  // the running state lives in the output
    std::fill(c, c + run, SR::zero());
    for (int64_t t = 0; t < steps; ++t) {
      const int64_t offset = ((b * steps + t) * K + k0) * S;
      if (!mask || mask[b * steps + t]) {
        for (int64_t i = 0; i < run; i += S) {
          step_forward<SR>(u + offset + i, f + offset + i, c + i, static_cast<int>(S));
        }
      }
      if (states) std::memcpy(states + offset, c, run * sizeof(T));
    }
  });
}

template <typename SR, typename T>
void backward_impl(const T* u, const T* f, const bool* mask, const T* states, const T* grad_final,
                   const T* grad_states, T* grad_u, T* grad_f, int64_t B, int64_t steps, int64_t K,
                   int64_t S, bool flush) {
  parallel_runs<std::vector<T>>(B, K, grain_for(steps, S), flush,  // a: dL/dc(t) of the current run
                                [&](std::vector<T>& a, int64_t b, int64_t k0, int64_t k1) {
    const int64_t run = (k1 - k0) * S;
    const int64_t final_offset = (b * K + k0) * S;
    if (grad_final) {
      a.assign(grad_final + final_offset, grad_final + final_offset + run);
    } else {
      a.assign(run, T(0));
    }
    for (int64_t t = steps - 1; t >= 0; --t) {
      const int64_t offset = ((b * steps + t) * K + k0) * S;
      if (grad_states) {
        for (int64_t i = 0; i < run; ++i) a[i] += grad_states[offset + i];
      }
      if (mask && !mask[b * steps + t]) {  // padding: state carried over, no weight used
        std::fill(grad_u + offset, grad_u + offset + run, T(0));
        std::fill(grad_f + offset, grad_f + offset + run, T(0));
        continue;
      }
      const T* c_prev = t > 0 ? states + offset - K * S : nullptr;
      for (int64_t i = 0; i < run; i += S) {
        step_backward<SR>(u + offset + i, f + offset + i, c_prev ? c_prev + i : nullptr, a.data() + i,
                          grad_u + offset + i, grad_f + offset + i, static_cast<int>(S));
      }
    }
  });
}

// ----- fused layer: projection -> transition weights -> recurrence ---------------------------
//
// The encoder's whole per-token work after the input projection, in one pass: reading the
// projection directly avoids materializing u and f on the (WFSA, state) grid and the half-dozen
// elementwise passes (and their backward passes) that computing them in PyTorch costs.
// Layout: projection (B, T, 2N): main-path terms w.x in [0, N), self-loop terms v.x + b in [N, 2N)
// for the N states in flat order (WFSA 0's states, then WFSA 1's, ...); offsets (K + 1): WFSA k
// owns states [offsets[k], offsets[k + 1]).  The transition weights are formed inside the row
// loops (wfsa_rows.h), in the forward and again in the backward, so no (B, T, N) tensor of them
// is ever written.  Only real states are touched, so the cost is proportional to the number of
// transitions, whatever the grid width.

template <typename T>
struct LayerPointers {
  const T* proj;  // (B, T, 2N)
  const int64_t* offsets;
  const bool* mask;  // (B, T) or nullptr
  int64_t B, steps, K, N, width;
};

// Per-task buffers for one run of WFSAs k0..k1 (states s0 .. s0 + count).
template <typename T>
struct RunBuffers {
  std::vector<T> first, last, c0, c1, a, own, carry;

  // first/last masks of the run's WFSA boundaries, and room for the row loops
  void prepare(const int64_t* offsets, int64_t k0, int64_t k1, T zero) {
    const int64_t s0 = offsets[k0], count = offsets[k1] - s0;
    first.assign(count, T(0));
    last.assign(count, T(0));
    for (int64_t k = k0; k < k1; ++k) {
      first[offsets[k] - s0] = T(1);
      last[offsets[k + 1] - 1 - s0] = T(1);
    }
    c0.assign(count + 1, zero);  // padded: see row_forward
    c1.assign(count + 1, zero);
    a.assign(count, T(0));
    own.resize(count + 1);
    carry.assign(count + 1, T(0));  // carry[count] stays 0
  }
};

int64_t layer_grain(int64_t steps, int64_t N, int64_t K) {
  return grain_for(steps, std::max<int64_t>(1, N / std::max<int64_t>(1, K)));
}

// One run of WFSAs k0..k1 of document b, all time steps (forward).
template <typename SR, typename T>
RRNN_ROW_INLINE void forward_run(const LayerPointers<T>& p, int64_t b, int64_t k0, int64_t k1, RunBuffers<T>& buf,
                                 T* final_grid, T* states) {
  const int64_t N = p.N, K = p.K, steps = p.steps, width = p.width;
  const int64_t s0 = p.offsets[k0], count = p.offsets[k1] - s0;
  buf.prepare(p.offsets, k0, k1, SR::zero());
  T* c_old = buf.c0.data();  // c(t-1), padded
  T* c_new = buf.c1.data();
  for (int64_t t = 0; t < steps; ++t) {
    const int64_t row = b * steps + t;
    if (!p.mask || p.mask[row]) {
      const T* m = p.proj + row * 2 * N + s0;
      row_forward<SR>(m, m + N, buf.first.data(), c_old, c_new, count);
      std::swap(c_old, c_new);
    }
    if (states) std::memcpy(states + row * N + s0, c_old + 1, count * sizeof(T));
  }
  const T* c = c_old + 1;
  for (int64_t k = k0; k < k1; ++k) {  // onto the grid; cells beyond the WFSA's length: zero
    T* cell = final_grid + (b * K + k) * width;
    const int64_t n = p.offsets[k + 1] - p.offsets[k];
    for (int64_t j = 0; j < width; ++j) cell[j] = j < n ? c[p.offsets[k] - s0 + j] : SR::zero();
  }
}

// One run of WFSAs k0..k1 of document b, all time steps (backward).
template <typename SR, typename T>
RRNN_ROW_INLINE void backward_run(const LayerPointers<T>& p, int64_t b, int64_t k0, int64_t k1, RunBuffers<T>& buf,
                                  const T* states, const T* grad_final_grid, const T* grad_states, T* grad_proj) {
  const int64_t N = p.N, K = p.K, steps = p.steps, width = p.width;
  const int64_t s0 = p.offsets[k0], count = p.offsets[k1] - s0;
  buf.prepare(p.offsets, k0, k1, SR::zero());
  T* a = buf.a.data();
  T* c_prev = buf.c0.data();  // c(t-1), padded
  if (grad_final_grid) {
    for (int64_t k = k0; k < k1; ++k) {
      const int64_t n = p.offsets[k + 1] - p.offsets[k];
      for (int64_t j = 0; j < n; ++j) a[p.offsets[k] - s0 + j] = grad_final_grid[(b * K + k) * width + j];
    }
  }
  for (int64_t t = steps - 1; t >= 0; --t) {
    const int64_t row = b * steps + t;
    T* grad_main = grad_proj + row * 2 * N + s0;
    T* grad_loop = grad_main + N;
    if (grad_states) {
      const T* g = grad_states + row * N + s0;
      for (int64_t i = 0; i < count; ++i) a[i] += g[i];
    }
    if (p.mask && !p.mask[row]) {  // padding: state carried over, no weight used
      std::fill(grad_main, grad_main + count, T(0));
      std::fill(grad_loop, grad_loop + count, T(0));
      continue;
    }
    if (t > 0) {
      std::memcpy(c_prev + 1, states + (row - 1) * N + s0, count * sizeof(T));
    } else {
      std::fill(c_prev, c_prev + count + 1, SR::zero());
    }
    const T* m = p.proj + row * 2 * N + s0;
    row_backward<SR>(m, m + N, buf.first.data(), buf.last.data(), c_prev, a, grad_main, grad_loop, buf.own.data(),
                     buf.carry.data(), count);
  }
}

// The run functions compiled for AVX-512, AVX2 and the baseline, chosen per call: AVX-512 only
// for rows of 32+ states (on shorter rows its wider vectors lose more to loop set-up and
// remainders than they gain; measured: 20 states/row 40 ns with AVX2 vs 50 with AVX-512,
// 96 states 150 vs 100).  Built with -ffp-contract=off, the variants give identical results.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define RRNN_ISA_VARIANTS 1
#endif

enum class Isa : int { kBaseline = 0, kAvx2 = 1, kAvx512 = 2 };

std::atomic<int> max_isa{static_cast<int>(Isa::kAvx512)};  // lowered only by tests (set_max_isa)

Isa isa_for(int64_t count) {
#ifdef RRNN_ISA_VARIANTS
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  static const bool avx2 = __builtin_cpu_supports("avx2");
  const int limit = max_isa.load(std::memory_order_relaxed);
  if (avx512 && count >= 32 && limit >= static_cast<int>(Isa::kAvx512)) return Isa::kAvx512;
  if (avx2 && limit >= static_cast<int>(Isa::kAvx2)) return Isa::kAvx2;
#else
  (void)count;
#endif
  return Isa::kBaseline;
}

// forward_run / backward_run compiled once more per instruction set (the bodies are inlined)
#define RRNN_RUN_VARIANTS(SUFFIX, ATTRIBUTES)                                                            \
  template <typename SR, typename T>                                                                    \
  ATTRIBUTES void forward_run_##SUFFIX(const LayerPointers<T>& p, int64_t b, int64_t k0, int64_t k1,     \
                                       RunBuffers<T>& buf, T* final_grid, T* states) {                  \
    forward_run<SR, T>(p, b, k0, k1, buf, final_grid, states);                                          \
  }                                                                                                     \
  template <typename SR, typename T>                                                                    \
  ATTRIBUTES void backward_run_##SUFFIX(const LayerPointers<T>& p, int64_t b, int64_t k0, int64_t k1,    \
                                        RunBuffers<T>& buf, const T* states, const T* grad_final_grid,  \
                                        const T* grad_states, T* grad_proj) {                           \
    backward_run<SR, T>(p, b, k0, k1, buf, states, grad_final_grid, grad_states, grad_proj);            \
  }

RRNN_RUN_VARIANTS(baseline, __attribute__((noinline)))
#ifdef RRNN_ISA_VARIANTS
RRNN_RUN_VARIANTS(avx2, __attribute__((noinline, target("avx2"))))
RRNN_RUN_VARIANTS(avx512, __attribute__((noinline, target("avx512f"))))
#endif

template <typename SR, typename T>
void layer_forward_impl(const LayerPointers<T>& p, T* final_grid, T* states, bool flush) {
  parallel_runs<RunBuffers<T>>(p.B, p.K, layer_grain(p.steps, p.N, p.K), flush,
                               [&](RunBuffers<T>& buf, int64_t b, int64_t k0, int64_t k1) {
    switch (isa_for(p.offsets[k1] - p.offsets[k0])) {
#ifdef RRNN_ISA_VARIANTS
      case Isa::kAvx512:
        return forward_run_avx512<SR, T>(p, b, k0, k1, buf, final_grid, states);
      case Isa::kAvx2:
        return forward_run_avx2<SR, T>(p, b, k0, k1, buf, final_grid, states);
#endif
      default:
        return forward_run_baseline<SR, T>(p, b, k0, k1, buf, final_grid, states);
    }
  });
}

template <typename SR, typename T>
void layer_backward_impl(const LayerPointers<T>& p, const T* states, const T* grad_final_grid, const T* grad_states,
                         T* grad_proj, bool flush) {
  parallel_runs<RunBuffers<T>>(p.B, p.K, layer_grain(p.steps, p.N, p.K), flush,
                               [&](RunBuffers<T>& buf, int64_t b, int64_t k0, int64_t k1) {
    switch (isa_for(p.offsets[k1] - p.offsets[k0])) {
#ifdef RRNN_ISA_VARIANTS
      case Isa::kAvx512:
        return backward_run_avx512<SR, T>(p, b, k0, k1, buf, states, grad_final_grid, grad_states, grad_proj);
      case Isa::kAvx2:
        return backward_run_avx2<SR, T>(p, b, k0, k1, buf, states, grad_final_grid, grad_states, grad_proj);
#endif
      default:
        return backward_run_baseline<SR, T>(p, b, k0, k1, buf, states, grad_final_grid, grad_states,
                                            grad_proj);
    }
  });
}

void check_inputs(const at::Tensor& u, const at::Tensor& f, const c10::optional<at::Tensor>& mask) {
  check_grid_inputs(u, f, mask, at::kCPU, "wfsa_cpu");
}

template <typename T, typename Fn>
void dispatch(int64_t semiring, const Fn& fn) {
  dispatch_semiring<T>(semiring, fn, "wfsa_cpu");
}

}  // namespace

// Returns {final (B, K, S), states (B, T, K, S) or an undefined tensor}.
std::vector<at::Tensor> forward(const at::Tensor& u, const at::Tensor& f, const c10::optional<at::Tensor>& mask,
                                int64_t semiring, bool save_states, bool flush_denormals) {
  check_inputs(u, f, mask);
  const int64_t B = u.size(0), steps = u.size(1), K = u.size(2), S = u.size(3);
  at::Tensor final_c = at::empty({B, K, S}, u.options());
  at::Tensor states = save_states ? at::empty_like(u) : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "wfsa_cpu_forward", [&] {
    dispatch<scalar_t>(semiring, [&](auto sr) {
      forward_impl<decltype(sr)>(u.data_ptr<scalar_t>(), f.data_ptr<scalar_t>(), mask_ptr(mask),
                                 final_c.data_ptr<scalar_t>(), save_states ? states.data_ptr<scalar_t>() : nullptr,
                                 B, steps, K, S, flush_denormals);
    });
  });
  return {final_c, states};
}

// Returns {dL/du, dL/df}.  grad_final: dL/d(final) or absent; grad_states: dL/d(states) or absent.
std::vector<at::Tensor> backward(const at::Tensor& u, const at::Tensor& f, const c10::optional<at::Tensor>& mask,
                                 const at::Tensor& states, const c10::optional<at::Tensor>& grad_final,
                                 const c10::optional<at::Tensor>& grad_states, int64_t semiring,
                                 bool flush_denormals) {
  check_inputs(u, f, mask);
  TORCH_CHECK(states.sizes() == u.sizes() && states.is_contiguous() && states.scalar_type() == u.scalar_type(),
              "wfsa_cpu: states must match u");
  const int64_t B = u.size(0), steps = u.size(1), K = u.size(2), S = u.size(3);
  const bool has_final = grad_final && grad_final->defined();
  const bool has_states = grad_states && grad_states->defined();
  if (has_final) {
    TORCH_CHECK(grad_final->is_contiguous() && grad_final->sizes() == at::IntArrayRef({B, K, S}) &&
                    grad_final->scalar_type() == u.scalar_type(),
                "wfsa_cpu: bad grad_final");
  }
  if (has_states) {
    TORCH_CHECK(grad_states->is_contiguous() && grad_states->sizes() == u.sizes() &&
                    grad_states->scalar_type() == u.scalar_type(),
                "wfsa_cpu: bad grad_states");
  }
  at::Tensor grad_u = at::empty_like(u);
  at::Tensor grad_f = at::empty_like(f);
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "wfsa_cpu_backward", [&] {
    dispatch<scalar_t>(semiring, [&](auto sr) {
      backward_impl<decltype(sr)>(u.data_ptr<scalar_t>(), f.data_ptr<scalar_t>(), mask_ptr(mask),
                                  states.data_ptr<scalar_t>(), has_final ? grad_final->data_ptr<scalar_t>() : nullptr,
                                  has_states ? grad_states->data_ptr<scalar_t>() : nullptr,
                                  grad_u.data_ptr<scalar_t>(), grad_f.data_ptr<scalar_t>(), B, steps, K, S,
                                  flush_denormals);
    });
  });
  return {grad_u, grad_f};
}

namespace {

template <typename T>
LayerPointers<T> layer_pointers(const at::Tensor& projection, const at::Tensor& offsets,
                                const c10::optional<at::Tensor>& mask, int64_t width) {
  return LayerPointers<T>{projection.data_ptr<T>(), offsets.data_ptr<int64_t>(), mask_ptr(mask), projection.size(0),
                          projection.size(1), offsets.size(0) - 1, projection.size(2) / 2, width};
}

void check_layer_inputs(const at::Tensor& projection, const at::Tensor& offsets, const c10::optional<at::Tensor>& mask,
                        int64_t width) {
  TORCH_CHECK(projection.device().is_cpu() && projection.dim() == 3 && projection.size(2) % 2 == 0 &&
                  projection.is_contiguous(),
              "wfsa_cpu: projection must be a contiguous CPU tensor (batch, time, 2 * states), got ",
              projection.sizes());
  TORCH_CHECK(offsets.device().is_cpu() && offsets.scalar_type() == at::kLong && offsets.dim() == 1 &&
                  offsets.size(0) >= 1 && offsets.is_contiguous(),
              "wfsa_cpu: offsets must be a contiguous int64 CPU tensor (wfsas + 1)");
  const int64_t* o = offsets.data_ptr<int64_t>();
  const int64_t K = offsets.size(0) - 1;
  TORCH_CHECK(o[0] == 0 && o[K] == projection.size(2) / 2, "wfsa_cpu: offsets must run from 0 to the number of states");
  for (int64_t k = 0; k < K; ++k) {
    TORCH_CHECK(o[k + 1] - o[k] >= 1 && o[k + 1] - o[k] <= width, "wfsa_cpu: WFSA ", k, " has length ",
                o[k + 1] - o[k], ", outside 1..", width);
  }
  if (mask && mask->defined()) {
    TORCH_CHECK(mask->scalar_type() == at::kBool && mask->is_contiguous() && mask->device().is_cpu() &&
                    mask->dim() == 2 && mask->size(0) == projection.size(0) && mask->size(1) == projection.size(1),
                "wfsa_cpu: mask must be a contiguous bool CPU tensor (batch, time)");
  }
}

}  // namespace

// Returns {final (B, K, width) on the grid, states (B, T, N) or an undefined tensor}.
std::vector<at::Tensor> layer_forward(const at::Tensor& projection, const at::Tensor& offsets,
                                      const c10::optional<at::Tensor>& mask, int64_t semiring, int64_t width,
                                      bool save_states, bool flush_denormals) {
  check_layer_inputs(projection, offsets, mask, width);
  const int64_t B = projection.size(0), steps = projection.size(1), N = projection.size(2) / 2;
  const int64_t K = offsets.size(0) - 1;
  at::Tensor final_grid = at::empty({B, K, width}, projection.options());
  at::Tensor states = save_states ? at::empty({B, steps, N}, projection.options()) : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(projection.scalar_type(), "wfsa_cpu_layer_forward", [&] {
    const auto p = layer_pointers<scalar_t>(projection, offsets, mask, width);
    dispatch<scalar_t>(semiring, [&](auto sr) {
      layer_forward_impl<decltype(sr)>(p, final_grid.data_ptr<scalar_t>(),
                                       save_states ? states.data_ptr<scalar_t>() : nullptr, flush_denormals);
    });
  });
  return {final_grid, states};
}

// Returns dL/d(projection).  grad_final: on the grid (B, K, width); grad_states: (B, T, N).
at::Tensor layer_backward(const at::Tensor& projection, const at::Tensor& offsets, const c10::optional<at::Tensor>& mask,
                          const at::Tensor& states, const c10::optional<at::Tensor>& grad_final,
                          const c10::optional<at::Tensor>& grad_states, int64_t semiring, int64_t width,
                          bool flush_denormals) {
  check_layer_inputs(projection, offsets, mask, width);
  const int64_t B = projection.size(0), steps = projection.size(1), N = projection.size(2) / 2;
  const int64_t K = offsets.size(0) - 1;
  auto matches = [&](const at::Tensor& x, at::IntArrayRef shape) {
    return x.sizes() == shape && x.is_contiguous() && x.scalar_type() == projection.scalar_type() && x.device().is_cpu();
  };
  const std::vector<int64_t> per_state{B, steps, N};
  const std::vector<int64_t> grid{B, K, width};
  TORCH_CHECK(matches(states, per_state), "wfsa_cpu: bad saved states");
  const bool has_final = grad_final && grad_final->defined();
  const bool has_states = grad_states && grad_states->defined();
  TORCH_CHECK(!has_final || matches(*grad_final, grid), "wfsa_cpu: bad grad_final");
  TORCH_CHECK(!has_states || matches(*grad_states, per_state), "wfsa_cpu: bad grad_states");
  at::Tensor grad_projection = at::empty_like(projection);
  AT_DISPATCH_FLOATING_TYPES(projection.scalar_type(), "wfsa_cpu_layer_backward", [&] {
    const auto p = layer_pointers<scalar_t>(projection, offsets, mask, width);
    dispatch<scalar_t>(semiring, [&](auto sr) {
      layer_backward_impl<decltype(sr)>(p, states.data_ptr<scalar_t>(),
                                        has_final ? grad_final->data_ptr<scalar_t>() : nullptr,
                                        has_states ? grad_states->data_ptr<scalar_t>() : nullptr,
                                        grad_projection.data_ptr<scalar_t>(), flush_denormals);
    });
  });
  return grad_projection;
}

// Flushing on (or off) for the calling thread AND every thread of its OpenMP team, i.e. the
// threads that run torch's own parallel work, MKL's GEMMs included.  The encoder's backward
// spends most of its denormal time there, in the projection's weight-gradient GEMM, not in the
// recurrence (torch.set_flush_denormal only reaches the calling thread).  Threads the team
// creates later inherit the mode of the thread that creates them.
// Caps the instruction set of the fused layer's loops (0 baseline, 1 AVX2, 2 AVX-512), so that
// tests can check that every variant computes the same; returns the variants this CPU can run.
int64_t set_max_isa(int64_t level) {
  max_isa.store(static_cast<int>(std::clamp<int64_t>(level, 0, 2)));
#ifdef RRNN_ISA_VARIANTS
  return __builtin_cpu_supports("avx512f") ? 2 : (__builtin_cpu_supports("avx2") ? 1 : 0);
#else
  return 0;
#endif
}

bool set_flush_denormals(bool on) {
  if (!kCanFlush) return false;
  write_fp_mode(with_flushing(read_fp_mode(), on));
#ifdef _OPENMP
#pragma omp parallel
  { write_fp_mode(with_flushing(read_fp_mode(), on)); }
#endif
  return true;
}

}  // namespace rrnn
