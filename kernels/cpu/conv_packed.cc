// Packed float32 convolution forward (see conv_packed.h for the design).
#include "kernels/cpu/conv_packed.h"

// The kernel is x86-64 AVX-512 code; elsewhere only the "not supported" answers below are built.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SINGA_PACKED_CONV 1
#include <immintrin.h>
#else
#define SINGA_PACKED_CONV 0
#endif

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"
#include "kernels/cpu/depthwise.h"

namespace singa::cpu {

#if SINGA_PACKED_CONV

#define SINGA_TARGET_AVX512 __attribute__((target("avx512f,fma")))

namespace {

constexpr int kMR = 8;               // output channels per register tile
constexpr int kVec = 16;             // floats per zmm register
constexpr int kNV = 3;               // zmm vectors per panel
constexpr int64_t kNR = kVec * kNV;  // output positions per panel
constexpr int64_t kMaxKc = 320;      // K rows per block: one packed panel is <= 60 KiB
constexpr int64_t kGroup = 4;        // panels packed together; an 8-row weight slice is reused over them

// acc[MR][NV] = (first ? bias : c) + a[MR, kc] * b[kc, NV * 16]; stores back into c (through a
// ReLU when relu: the last K block). a rows are
// lda apart (the weights in place), b is a packed panel (rows of NV * 16 floats, 64-byte
// aligned), c rows ldc apart; the last vector of each c row is masked by lastMask (a panel that
// ends before 16 * NV columns).
template <int MR, int NV>
SINGA_TARGET_AVX512 void microKernel(int64_t kc, const float* __restrict a, int64_t lda, const float* __restrict b,
                                     float* __restrict c, int64_t ldc, __mmask16 lastMask, bool first,
                                     const float* bias, bool relu) {
  __m512 acc[MR][NV];
  if (first) {
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m) {
      const __m512 init = bias ? _mm512_set1_ps(bias[m]) : _mm512_setzero_ps();
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v) acc[m][v] = init;
    }
  } else {
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v) {
        const float* p = c + m * ldc + v * kVec;
        acc[m][v] = v == NV - 1 && lastMask != 0xFFFF ? _mm512_maskz_loadu_ps(lastMask, p) : _mm512_loadu_ps(p);
      }
    }
  }
  for (int64_t k = 0; k < kc; ++k, b += NV * kVec) {
    __m512 bv[NV];
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(b + v * kVec);
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m) {
      const __m512 av = _mm512_set1_ps(a[m * lda + k]);
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v) acc[m][v] = _mm512_fmadd_ps(av, bv[v], acc[m][v]);
    }
  }
  if (relu) {  // keep the lanes > 0 (an ordered compare: NaN gives 0, as the Relu kernel does)
    const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v) {
        acc[m][v] = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(acc[m][v], zero, _CMP_GT_OQ), acc[m][v]);
      }
    }
  }
#pragma GCC unroll 8
  for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) {
      float* p = c + m * ldc + v * kVec;
      if (v == NV - 1 && lastMask != 0xFFFF) {  // masked stores are slow on some CPUs: only at the edge
        _mm512_mask_storeu_ps(p, lastMask, acc[m][v]);
      } else {
        _mm512_storeu_ps(p, acc[m][v]);
      }
    }
  }
}

using MicroFn = void (*)(int64_t, const float*, int64_t, const float*, float*, int64_t, __mmask16, bool, const float*,
                         bool);

template <int MR>
constexpr MicroFn kRow[kNV] = {&microKernel<MR, 1>, &microKernel<MR, 2>, &microKernel<MR, 3>};

// kMicro[mr - 1][nv - 1]: the tile of mr rows and nv vectors.
const MicroFn* const kMicro[kMR] = {kRow<1>, kRow<2>, kRow<3>, kRow<4>, kRow<5>, kRow<6>, kRow<7>, kRow<8>};

// Bits [a, b) of a 16-lane mask, a and b clamped to [0, 16].
inline __mmask16 laneRange(int64_t a, int64_t b) {
  a = std::clamp<int64_t>(a, 0, kVec);
  b = std::clamp<int64_t>(b, a, kVec);
  return static_cast<__mmask16>(((1u << b) - 1u) & ~((1u << a) - 1u));
}

// A run of output positions inside one output row: (od, oh, xx) for xx in [x0, x1), landing at
// column dst of the panel.
struct Segment {
  int64_t od, oh, x0, x1, dst;
};

int buildSegments(const WindowGeom& g, int64_t n0, int64_t width, Segment* segs) {
  const int64_t OW = g.out[2], OH = g.out[1];
  int count = 0;
  for (int64_t n = n0, end = n0 + width; n < end;) {
    const int64_t ow = n % OW, row = n / OW, od = row / OH, oh = row % OH;
    const int64_t len = std::min(OW - ow, end - n);
    segs[count++] = Segment{od, oh, ow, ow + len, n - n0};
    n += len;
  }
  return count;
}

// The input coordinate o * stride + off of an output coordinate o under a tap (offset off), for
// an (o, tap) pair inside the image. A model's strides and pads are untrusted: o * stride and
// off may each be near the int64 limits while their sum is a small in-image index, so the sum
// is taken modulo 2^64 (exact for an in-image result) instead of in signed arithmetic.
inline int64_t inputCoord(int64_t o, int64_t stride, int64_t off) {
  return static_cast<int64_t>(static_cast<uint64_t>(o) * static_cast<uint64_t>(stride) + static_cast<uint64_t>(off));
}

// Writes rows [k0, k0 + kc) of the column matrix, output positions [n0, n0 + width), as a panel
// with rows ldb floats apart (a multiple of 16; columns past width are zero). Segments are
// written left to right with full 16-lane stores that may run past their end (the next segment,
// or the next row, overwrites that; the buffer has 16 floats of slack): masked stores are slow
// on some AVX-512 CPUs. Loads that could leave the image are masked (masked-off lanes read
// nothing).
SINGA_TARGET_AVX512 void packPanel(const float* x, const WindowPlan& plan, bool pointwise, int64_t k0, int64_t kc,
                                   int64_t n0, int64_t width, const Segment* segs, int nseg, int64_t ldb,
                                   float* __restrict dst) {
  const WindowGeom& g = plan.g;
  const int64_t kSize = g.kSize(), inSize = g.inSize(), in1 = g.in[1], in2 = g.in[2], s2 = g.stride[2];
  // The gather indexes a row in 32-bit lanes: wider rows take the scalar loop.
  const bool gather32 = in2 <= std::numeric_limits<int32_t>::max();
  const __m512 zero = _mm512_setzero_ps();
  const __m512i lanes = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  // Only used with gather32, where two lanes inside one row are less than in2 apart.
  const __m512i step = _mm512_set1_epi32(static_cast<int>(std::min(s2, gather32 ? in2 : int64_t{0})));
  const __m512i evens = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const int64_t lastChunk = ldb - kVec;
  const __mmask16 lastKeep = laneRange(0, width - lastChunk);  // lanes of the last chunk inside width
  for (int64_t kk = 0; kk < kc; ++kk, dst += ldb) {
    const int64_t k = k0 + kk;
    const float* plane = x + k / kSize * inSize;
    if (pointwise) {
      for (int64_t col = 0; col < width; col += kVec) {
        const __m512 v = col + kVec <= width ? _mm512_loadu_ps(plane + n0 + col)
                                             : _mm512_maskz_loadu_ps(laneRange(0, width - col), plane + n0 + col);
        _mm512_store_ps(dst + col, v);
      }
      continue;
    }
    const WindowTap& t = plan.taps[static_cast<size_t>(k % kSize)];
    for (int s = 0; s < nseg; ++s) {
      const Segment& sg = segs[s];
      float* d = dst + sg.dst - sg.x0;  // d[xx] for xx in [x0, x1)
      const int64_t lo = std::clamp(t.lo[2], sg.x0, sg.x1), hi = std::clamp(t.hi[2], lo, sg.x1);
      if (sg.od < t.lo[0] || sg.od >= t.hi[0] || sg.oh < t.lo[1] || sg.oh >= t.hi[1] || lo == hi) {
        for (int64_t xx = sg.x0; xx < sg.x1; xx += kVec) _mm512_storeu_ps(d + xx, zero);
        continue;
      }
      for (int64_t xx = sg.x0; xx < lo; xx += kVec) _mm512_storeu_ps(d + xx, zero);
      // src[(xx - lo) * s2] is the input of output column xx: the offset is formed only for an
      // in-image position (column lo), never from the tap's raw (possibly huge) offsets.
      const float* src = plane + (inputCoord(sg.od, g.stride[0], t.off[0]) * in1 +
                                  inputCoord(sg.oh, g.stride[1], t.off[1])) * in2 + inputCoord(lo, s2, t.off[2]);
      for (int64_t xx = lo; xx < hi; xx += kVec) {
        const int64_t rel = xx - lo;
        __m512 v;
        if (s2 == 1) {
          v = xx + kVec <= hi ? _mm512_loadu_ps(src + rel) : _mm512_maskz_loadu_ps(laneRange(0, hi - xx), src + rel);
        } else if (s2 == 2) {  // two loads and an even-lane shuffle: gathers are slow
          const int64_t need = 2 * std::min<int64_t>(hi - xx, kVec) - 1;  // source floats up to the last lane's
          const __m512 a = _mm512_maskz_loadu_ps(laneRange(0, need), src + 2 * rel);
          const __m512 b = _mm512_maskz_loadu_ps(laneRange(0, need - kVec), src + 2 * rel + kVec);
          v = _mm512_permutex2var_ps(a, evens, b);
        } else if (gather32) {  // lanes inside [lo, hi) index at most in2 floats
          const __m512i idx =
              _mm512_mullo_epi32(_mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(rel)), lanes), step);
          v = _mm512_mask_i32gather_ps(zero, laneRange(0, hi - xx), idx, src, 4);
        } else {
          alignas(64) float vals[kVec] = {};
          for (int64_t l = 0; l < std::min<int64_t>(kVec, hi - xx); ++l) vals[l] = src[(rel + l) * s2];
          v = _mm512_load_ps(vals);
        }
        _mm512_storeu_ps(d + xx, v);
      }
      for (int64_t xx = hi; xx < sg.x1; xx += kVec) _mm512_storeu_ps(d + xx, zero);
    }
    if (width < ldb) _mm512_store_ps(dst + lastChunk, _mm512_maskz_mov_ps(lastKeep, _mm512_load_ps(dst + lastChunk)));
  }
}

// The tail columns of an output (positions [n0, n0 + width), width < 16) as dot products along
// K: a 16-wide panel would spend most of its lanes on nothing (ResNet's 7 x 7 = 49 positions are
// 48 + 1). col receives the column matrix of one position (K contiguous floats).
void packColumn(const float* x, const WindowPlan& plan, int64_t K, int64_t n, float* __restrict col) {
  const WindowGeom& g = plan.g;
  const int64_t kSize = g.kSize(), inSize = g.inSize(), OW = g.out[2], OH = g.out[1];
  const int64_t ow = n % OW, oh = (n / OW) % OH, od = n / (OW * OH);
  for (int64_t k = 0; k < K; ++k) {
    const WindowTap& t = plan.taps[static_cast<size_t>(k % kSize)];
    const bool inside = od >= t.lo[0] && od < t.hi[0] && oh >= t.lo[1] && oh < t.hi[1] && ow >= t.lo[2] && ow < t.hi[2];
    col[k] = inside ? x[(k / kSize) * inSize +
                        (inputCoord(od, g.stride[0], t.off[0]) * g.in[1] + inputCoord(oh, g.stride[1], t.off[1])) *
                            g.in[2] +
                        inputCoord(ow, g.stride[2], t.off[2])]
                    : 0.0f;
  }
}

// The sum of the 16 lanes (through memory: GCC 12 warns falsely inside the AVX-512 reduction and
// shuffle intrinsics, and this runs once per dot product).
SINGA_TARGET_AVX512 inline float laneSum(__m512 v) {
  alignas(64) float lanes[kVec];
  _mm512_store_ps(lanes, v);
  float s = 0;
  for (float f : lanes) s += f;
  return s;
}

// c[m * ldc] = bias[m] + a[m, :K] . col for MR rows.
template <int MR>
SINGA_TARGET_AVX512 void dotKernel(int64_t K, const float* __restrict a, int64_t lda, const float* __restrict col,
                                   float* __restrict c, int64_t ldc, const float* bias, bool relu) {
  __m512 acc[MR];
#pragma GCC unroll 8
  for (int m = 0; m < MR; ++m) acc[m] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; k += kVec) {
    const __mmask16 mask = laneRange(0, K - k);
    const __m512 bv = _mm512_maskz_loadu_ps(mask, col + k);
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m) acc[m] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, a + m * lda + k), bv, acc[m]);
  }
#pragma GCC unroll 8
  for (int m = 0; m < MR; ++m) {
    const float v = (bias ? bias[m] : 0.0f) + laneSum(acc[m]);
    c[m * ldc] = relu && !(v > 0.0f) ? 0.0f : v;
  }
}

using DotFn = void (*)(int64_t, const float*, int64_t, const float*, float*, int64_t, const float*, bool);
const DotFn kDot[kMR] = {&dotKernel<1>, &dotKernel<2>, &dotKernel<3>, &dotKernel<4>,
                         &dotKernel<5>, &dotKernel<6>, &dotKernel<7>, &dotKernel<8>};

// Tail positions handled as dot products: at most this many (a 16-wide panel is cheaper above).
constexpr int64_t kMaxDotColumns = 4;

// The calling thread's panel buffer (kGroup panels of one K block), 64-byte aligned.
float* panelBuffer() {
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  constexpr size_t kFloats = static_cast<size_t>(kGroup * kMaxKc * kNR + kVec);  // + slack for packPanel
  thread_local std::unique_ptr<float, Free> buf(static_cast<float*>(std::aligned_alloc(64, kFloats * sizeof(float))));
  if (buf == nullptr) throw std::bad_alloc();
  return buf.get();
}

// The calling thread's buffer for one column of K floats (the dot-product tail).
float* columnBuffer(int64_t K) {
  thread_local std::vector<float> col;
  if (static_cast<int64_t>(col.size()) < K) col.resize(static_cast<size_t>(K));
  return col.data();
}

struct Problem {
  const float* x;
  const WindowPlan* plan;
  bool pointwise;
  const float* w;
  const float* bias;
  float* y;
  int64_t M, K, P, kc;
  int64_t numPanels;  // panels of up to 48 positions covering [0, P - tail)
  int64_t tail;       // last positions done as dot products (0..kMaxDotColumns)
  bool relu;
};

// Output rows [m0, m1) of the tail positions.
void runTail(const Problem& pb, int64_t m0, int64_t m1) {
  if (pb.tail == 0 || m1 <= m0) return;
  float* col = columnBuffer(pb.K);
  for (int64_t n = pb.P - pb.tail; n < pb.P; ++n) {
    packColumn(pb.x, *pb.plan, pb.K, n, col);
    for (int64_t m = m0; m < m1; m += kMR) {
      const int64_t mr = std::min<int64_t>(kMR, m1 - m);
      kDot[mr - 1](pb.K, pb.w + m * pb.K, pb.K, col, pb.y + m * pb.P + n, pb.P, pb.bias ? pb.bias + m : nullptr,
                   pb.relu);
    }
  }
}

// Output rows [m0, m1) x panels [p0, p1) of one image.
void runTile(const Problem& pb, int64_t p0, int64_t p1, int64_t m0, int64_t m1) {
  if (p1 <= p0 || m1 <= m0) return;
  float* buf = panelBuffer();
  Segment segs[kGroup][kNR];
  int nseg[kGroup];
  for (int64_t g0 = p0; g0 < p1; g0 += kGroup) {
    const int64_t gn = std::min(kGroup, p1 - g0);
    int64_t n0[kGroup], width[kGroup];
    int nv[kGroup];
    __mmask16 mask[kGroup];
    for (int64_t i = 0; i < gn; ++i) {
      n0[i] = (g0 + i) * kNR;
      width[i] = std::min(kNR, pb.P - pb.tail - n0[i]);
      nv[i] = static_cast<int>((width[i] + kVec - 1) / kVec);
      const int64_t rem = width[i] - (nv[i] - 1) * kVec;
      mask[i] = static_cast<__mmask16>(rem == kVec ? 0xFFFFu : (1u << rem) - 1u);
      nseg[i] = pb.pointwise ? 0 : buildSegments(pb.plan->g, n0[i], width[i], segs[i]);
    }
    for (int64_t k0 = 0; k0 < pb.K; k0 += pb.kc) {
      const int64_t kc = std::min(pb.kc, pb.K - k0);
      float* panel[kGroup];
      for (int64_t i = 0; i < gn; ++i) {
        panel[i] = buf + i * kMaxKc * kNR;
        packPanel(pb.x, *pb.plan, pb.pointwise, k0, kc, n0[i], width[i], segs[i], nseg[i], nv[i] * kVec, panel[i]);
      }
      for (int64_t m = m0; m < m1; m += kMR) {
        const int64_t mr = std::min<int64_t>(kMR, m1 - m);
        const float* a = pb.w + m * pb.K + k0;
        const float* bias = pb.bias ? pb.bias + m : nullptr;
        for (int64_t i = 0; i < gn; ++i) {
          kMicro[mr - 1][nv[i] - 1](kc, a, pb.K, panel[i], pb.y + m * pb.P + n0[i], pb.P, mask[i], k0 == 0, bias,
                                    pb.relu && k0 + kc == pb.K);
        }
      }
    }
  }
}

bool cpuSupportsAvx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
}

bool envAllows() {
  const char* v = std::getenv("SINGA_CONV_PACKED");
  return !(v && std::strcmp(v, "0") == 0);
}

std::atomic<bool>& enabledFlag() {
  static std::atomic<bool> flag(cpuSupportsAvx512() && envAllows());
  return flag;
}

// depthwisePlaneLoops compiled for AVX-512 (the loops vectorise 16 wide).
SINGA_TARGET_AVX512 void depthwisePlane(const float* xs, const float* ws, float b0, float* ys, const WindowPlan& plan,
                                        bool relu) {
  depthwisePlaneLoops<float>(xs, ws, b0, ys, plan, relu);
}

}  // namespace

void packedDepthwisePlane(const float* xs, const float* ws, float b0, float* ys, const WindowPlan& plan, bool relu) {
  depthwisePlane(xs, ws, b0, ys, plan, relu);
}

bool packedConvSupported() {
  static const bool supported = cpuSupportsAvx512();
  return supported;
}

bool packedConvEnabled() { return enabledFlag().load(std::memory_order_relaxed); }

bool setPackedConvEnabled(bool on) { return enabledFlag().exchange(on && packedConvSupported()); }

void packedConvImage(const float* x, int64_t channels, const WindowPlan& plan, const float* w, int64_t M,
                     const float* bias, float* y, bool relu, bool parallel) {
  const WindowGeom& g = plan.g;
  const int64_t K = channels * g.kSize(), P = g.outSize();
  if (M <= 0 || P <= 0) return;
  if (K == 0) {  // no input channels: the output is the bias
    for (int64_t m = 0; m < M; ++m) {
      const float v = bias ? bias[m] : 0.0f;
      std::fill(y + m * P, y + (m + 1) * P, relu && !(v > 0.0f) ? 0.0f : v);
    }
    return;
  }
  const int64_t kBlocks = (K + kMaxKc - 1) / kMaxKc;
  const int64_t tail = P % kVec <= kMaxDotColumns ? P % kVec : 0;
  const Problem pb{
      x,    &plan, g.pointwise(), w, bias, y, M, K, P, (K + kBlocks - 1) / kBlocks, (P - tail + kNR - 1) / kNR,
      tail, relu};
  const int64_t threads = parallel ? numThreads() : 1;
  if (threads <= 1) {
    runTile(pb, 0, pb.numPanels, 0, M);
    runTail(pb, 0, M);
    return;
  }
  // Enough panels: each thread takes a contiguous share of them over all rows (the last one
  // also the tail). Few panels (the late, small layers): each thread takes a share of the output
  // channels over all positions.
  const bool splitRows = pb.numPanels < 4 * threads && M >= 2 * kMR;
  parallelFor(threads, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      if (splitRows) {
        const int64_t tiles = (M + kMR - 1) / kMR;
        const int64_t m0 = std::min(M, tiles * t / threads * kMR), m1 = std::min(M, tiles * (t + 1) / threads * kMR);
        runTile(pb, 0, pb.numPanels, m0, m1);
        runTail(pb, m0, m1);
      } else {
        runTile(pb, pb.numPanels * t / threads, pb.numPanels * (t + 1) / threads, 0, M);
        if (t == threads - 1) runTail(pb, 0, M);
      }
    }
  });
}

#else  // !SINGA_PACKED_CONV

bool packedConvSupported() { return false; }
bool packedConvEnabled() { return false; }
bool setPackedConvEnabled(bool) { return false; }

void packedConvImage(const float*, int64_t, const WindowPlan&, const float*, int64_t, const float*, float*, bool, bool) {
  SINGA_THROW(NotSupportedError, "the packed convolution kernel needs an x86-64 CPU with AVX-512F");
}

void packedDepthwisePlane(const float*, const float*, float, float*, const WindowPlan&, bool) {
  SINGA_THROW(NotSupportedError, "the packed convolution kernel needs an x86-64 CPU with AVX-512F");
}

#endif  // SINGA_PACKED_CONV

}  // namespace singa::cpu
