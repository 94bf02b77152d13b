// oneDNN convolution kernels (see conv_dnnl.h).
//
// Primitives: one per (direction, shapes, strides, dilations, pads, group, bias, layout, thread
// count), created once and kept in an LRU cache of kCacheSize entries, so steady-state training
// creates none. A primitive oneDNN refuses (dnnl::error while creating it: no implementation for
// the shape) is cached as "refused" and the caller's own kernel runs, then and every later step.
// The thread count is part of the key: oneDNN partitions the work when it creates a primitive,
// from omp_get_max_threads(), which setNumThreads() sets.
//
// Memory: every buffer oneDNN works in comes from the CPU allocator (Storage), under the
// framework's memory limit (core/memory_limit.h) and counted as in use while held: the
// scratchpad (scratchpad_mode::user, sized by the primitive) and, in the blocked layout, the
// reordered operands, held for the call; and inference weights reordered once (cacheWeights),
// held with the weights' storage. The only memory oneDNN allocates itself is its generated code
// and descriptors (small, bounded by the cache).
//
// Inference: with no gradient recorded (ConvKernelParams::cacheWeights) a forward is oneDNN's
// forward_inference (on AVX-512 it picks the brgemm kernels, channels last: the CNN's 20 -> 50
// 5x5 at batch 64 1.14 -> 0.69 ms, its 20 channels no longer padded to 32), runs in the layout
// oneDNN chooses and leaves its output there (BlockedLayout, attached to the output's Storage):
// the next convolution takes that buffer as its input, Add / Relu of such tensors run on the
// buffers (laid_out.h) and MaxPool on channel-blocked ones (pool.cc, channelBlockedOf), so a
// chain reorders nothing; anything else reading the tensor has the plain memory written first
// (Storage::readData). Batch 1, 2 threads, Intel family 6 model 167: mobilenet_v2 5.38 -> ~4.1
// ms, resnet18 11.3 -> ~10.5 ms; the CNN at batch 64 2.03 -> ~1.5 ms.
//
// ReLU and Clip: a fused Relu (ConvKernelParams::fuseRelu) runs as our own pass over the output, not as
// oneDNN's eltwise_relu post-op: ours maps NaN to 0 like the Relu kernel, while oneDNN's relu,
// by its documented formula s > 0 ? s : alpha * s, keeps NaN. The fused form only runs in inference.
//
// Geometry: ours is ONNX's (begin pads in win.pads[0..nd), end pads implied by the tensors'
// shapes); oneDNN's dilation is ours minus one, and its right padding is chosen so its output
// size equals the tensor's (the smallest non-negative one when several give it).
#include "singa/kernels/cpu/conv_dnnl.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "singa/core/blas_coretype.h"
#include "singa/core/device.h"
#include "singa/core/error.h"
#include "singa/core/parallel.h"
#include "singa/kernels/cpu/conv_activation.h"
#include "singa/kernels/cpu/conv_packed.h"
#include "singa/kernels/cpu/im2col.h"
#include "singa/kernels/cpu/laid_out.h"

#ifdef SINGA_USE_DNNL
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace singa::cpu {
namespace {

// SINGA_CONV=dnnl|native, read once; unset: oneDNN when this build has it.
bool convEnvDefault() {
  const char* v = std::getenv("SINGA_CONV");
  if (v == nullptr || *v == '\0') return dnnlConvAvailable();
  const std::string s(v);
  if (s == "native") return false;
  SINGA_CHECK(s == "dnnl", ValueError,
              "SINGA_CONV='" << s << "' is not a convolution backend: use SINGA_CONV=dnnl or SINGA_CONV=native");
  SINGA_CHECK(dnnlConvAvailable(), NotSupportedError,
              "SINGA_CONV=dnnl but this build has no oneDNN: install libdnnl-dev and reconfigure with "
              "-DSINGA_USE_DNNL=ON, or unset SINGA_CONV");
  return true;
}

// SINGA_CONV_LAYOUT=auto|plain|blocked, read once (for A/B runs of whole models).
DnnlConvLayout layoutEnvDefault() {
  const char* v = std::getenv("SINGA_CONV_LAYOUT");
  if (v == nullptr || *v == '\0') return DnnlConvLayout::kAuto;
  const std::string s(v);
  if (s == "auto") return DnnlConvLayout::kAuto;
  if (s == "plain") return DnnlConvLayout::kPlain;
  SINGA_CHECK(s == "blocked", ValueError,
              "SINGA_CONV_LAYOUT='" << s << "' is not a oneDNN layout choice: use auto, plain or blocked");
  return DnnlConvLayout::kBlocked;
}

std::atomic<int> gDnnlEnabled{-1};  // -1: not read from the environment yet
std::atomic<int> gDnnlLayout{-1};   // a DnnlConvLayout; -1: SINGA_CONV_LAYOUT's

DnnlConvLayout currentLayout() {
  const int v = gDnnlLayout.load(std::memory_order_relaxed);
  if (v >= 0) return static_cast<DnnlConvLayout>(v);
  static const DnnlConvLayout fromEnv = layoutEnvDefault();
  return fromEnv;
}
std::atomic<uint64_t> gDnnlRuns{0};
std::atomic<uint64_t> gDnnlPacks{0};
std::atomic<uint64_t> gBlockedOutputs{0};
std::atomic<uint64_t> gBlockedInputs{0};
std::atomic<bool> gKeepBlocked{true};

}  // namespace

bool dnnlConvEnabled() {
  int v = gDnnlEnabled.load(std::memory_order_relaxed);
  if (v < 0) {
    static const bool fromEnv = convEnvDefault();
    int expected = -1;
    gDnnlEnabled.compare_exchange_strong(expected, fromEnv ? 1 : 0);
    v = gDnnlEnabled.load(std::memory_order_relaxed);
  }
  return v == 1;
}

bool setDnnlConvEnabled(bool on) {
  const bool old = dnnlConvEnabled();
  gDnnlEnabled.store(on && dnnlConvAvailable() ? 1 : 0);
  return old;
}

DnnlConvLayout setDnnlConvLayout(DnnlConvLayout layout) {
  const DnnlConvLayout old = currentLayout();
  gDnnlLayout.store(static_cast<int>(layout));
  return old;
}

bool setDnnlKeepBlocked(bool on) { return gKeepBlocked.exchange(on); }

uint64_t dnnlConvRuns() { return gDnnlRuns.load(); }
uint64_t dnnlWeightPacks() { return gDnnlPacks.load(); }
uint64_t dnnlBlockedOutputs() { return gBlockedOutputs.load(); }
uint64_t dnnlBlockedInputs() { return gBlockedInputs.load(); }

std::string cpuKernelsDescription() { return cpuAndGemmDescription() + "; conv: " + convBackendDescription(); }

#ifndef SINGA_USE_DNNL

bool dnnlConvAvailable() { return false; }
std::string convBackendDescription() {
  dnnlConvEnabled();  // a SINGA_CONV naming oneDNN or nothing known is an error here too
  return packedConvEnabled() ? "packed AVX-512 + im2col + OpenBLAS" : "im2col + OpenBLAS";
}
bool dnnlConvForward(KernelContext&) { return false; }
ChannelBlocked channelBlockedOf(const Tensor&) { return {}; }
size_t channelBlockedBytes(const Shape&, const ChannelBlocked&) { return 0; }
void setChannelBlocked(Tensor&, std::shared_ptr<Storage>, const ChannelBlocked&) {
  SINGA_THROW(NotSupportedError, "setChannelBlocked: this build has no oneDNN");
}
bool dnnlConvGradInput(KernelContext&) { return false; }
bool dnnlConvGradWeight(KernelContext&) { return false; }

#else

namespace {

using dnnl::memory;
using Dims = memory::dims;

constexpr size_t kCacheSize = 256;
// oneDNN indexes with int64 but multiplies dims and strides freely: geometry values past 2^31
// (a crafted model's pad or dilation) run on our own kernels, whose arithmetic is checked.
constexpr int64_t kMaxGeometryValue = int64_t{1} << 31;

// kInference: a forward with no gradient recorded (oneDNN's forward_inference, which may choose
// other kernels: brgconv for the CNN's 20 -> 50 5x5, 1.14 -> 0.69 ms at batch 64).
enum class Direction { kForward, kInference, kBackwardData, kBackwardWeights };

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

const char* isaName(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_mic: return "avx512_mic";
    case dnnl::cpu_isa::avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "no vector ISA";
  }
}

// One convolution in oneDNN's terms: x [N, C, in...], w [Cout, C/group, k...] (as
// [group, Cout/group, C/group, k...] when grouped), y [N, Cout, out...].
struct Geometry {
  int64_t group = 1;
  bool depthwise = false;  // one input channel per group (any channel multiplier)
  bool oneByOne = false;   // a 1x1 kernel without padding (any stride)
  int64_t inPerGroup = 0, outPerGroup = 0;
  Dims src, weights, dst, bias;
  Dims strides, dilations, padL, padR;
};

// False when a value is past kMaxGeometryValue (our own kernels run).
bool geometryOf(const Shape& image, const Shape& out, const Shape& w, const ops::ConvParams& win, Geometry& g) {
  const int nd = static_cast<int>(image.size()) - 2;
  if (nd < 1 || nd > 3) return false;
  const WindowGeom wg = makeWindowGeom(image, out, std::vector<int64_t>(w.begin() + 2, w.end()), win.strides,
                                       win.pads, win.dilations);  // validates, as for our kernels
  g.group = win.group;
  g.src.assign(image.begin(), image.end());
  g.dst.assign(out.begin(), out.end());
  if (g.group > 1) {
    g.weights = {g.group, w[0] / g.group};
    g.weights.insert(g.weights.end(), w.begin() + 1, w.end());
  } else {
    g.weights.assign(w.begin(), w.end());
  }
  g.bias = {w[0]};
  g.inPerGroup = image[1] / g.group;
  g.outPerGroup = w[0] / g.group;
  g.depthwise = g.group > 1 && g.inPerGroup == 1;
  g.oneByOne = true;
  for (int i = 3 - nd; i < 3; ++i) {
    const int64_t extent = (wg.k[i] - 1) * wg.dil[i] + 1;
    // The smallest right pad giving out[i] outputs, raised to 0 when a non-negative one does too.
    int64_t padR = (wg.out[i] - 1) * wg.stride[i] + extent - wg.in[i] - wg.pad[i];
    if (padR < 0 && padR + wg.stride[i] - 1 >= 0) padR = 0;
    for (int64_t v : {wg.stride[i], wg.dil[i], wg.pad[i], padR, extent}) {
      if (v >= kMaxGeometryValue || v <= -kMaxGeometryValue) return false;
    }
    g.oneByOne = g.oneByOne && wg.k[i] == 1 && wg.pad[i] == 0 && padR == 0;
    g.strides.push_back(wg.stride[i]);
    g.dilations.push_back(wg.dil[i] - 1);
    g.padL.push_back(wg.pad[i]);
    g.padR.push_back(padR);
  }
  return true;
}

memory::format_tag plainTag(size_t ndims, bool grouped) {
  using T = memory::format_tag;
  if (grouped) return ndims == 4 ? T::goiw : ndims == 5 ? T::goihw : T::goidhw;  // weights [g, o, i, k...]
  return ndims == 3 ? T::ncw : ndims == 4 ? T::nchw : T::ncdhw;                  // same order as oihw
}

memory::desc plainDesc(const Dims& dims, bool grouped = false) {
  return memory::desc(dims, memory::data_type::f32,
                      dims.size() == 1 ? memory::format_tag::a : plainTag(dims.size(), grouped));
}

memory::desc anyDesc(const Dims& dims) { return memory::desc(dims, memory::data_type::f32, memory::format_tag::any); }

enum class Route { kNative, kPlain, kBlocked };

// The default choice (DnnlConvLayout::kAuto), measured with `conv_bench layers T` on the layers
// of resnet18, mobilenet_v2 (batch 16, 224 x 224) and the tutorial CNN (batch 64), AMD EPYC Zen 3
// (AVX2), 1 and 2 threads; ms per call, 2 threads, native / oneDNN plain / oneDNN blocked:
//  - depthwise: blocked in every direction (dw 144 3x3 @56: fwd 7.2 / 19.6 / 5.1, bwd data
//    9.7 / 35.6 / 5.2, bwd weights 19.1 / 35.4 / 6.1); on plain tensors oneDNN is slowest.
//  - 1x1 without padding: plain for forward and backward data (pw 16->96 @112: fwd 9.8 / 6.9 /
//    10.2, bwd data 6.4 / 4.6 / 8.6), our kernels for weights (8.4 / 11.6 / 14.7).
//  - other: blocked for forward (resnet18's 3x3 layers summed: 392 / 438 / 333) and for
//    backward data when both sides have 32 channels per group or more (372 / 464 / 295; the
//    CNN's 20->50 5x5: 1.70 / 2.08 / 2.83); our kernels for weights (395 / 440 / 438).
// Weights on oneDNN's AVX-512 kernels (Intel family 6 model 167, 2 threads, same command):
// blocked is faster where the outputs have 32 channels per group or more and the inputs too, or
// are an image's few channels (resnet18 summed: 289 / 341 / 216; its 3->64 7x7 first layer
// 27.6 / 37.8 / 18.8; mobilenet_v2's 3->32 first layer 5.3 / 7.6 / 3.1), and slower on narrow
// layers (the CNN's 20->50 5x5: 1.22 / 1.79 / 1.81); 1x1 weights stay ours (16->96 @112: 9.2 /
// 12.0 / 14.4).
bool avx512Kernels() {
  static const bool v = [] {
    switch (dnnl::get_effective_cpu_isa()) {
      case dnnl::cpu_isa::avx512_core:
      case dnnl::cpu_isa::avx512_core_vnni:
      case dnnl::cpu_isa::avx512_core_bf16:
      case dnnl::cpu_isa::avx512_core_amx: return true;
      default: return false;
    }
  }();
  return v;
}

// An inference forward always runs in the layout oneDNN picks: its input usually comes in it from
// the layer before and its output stays in it for the next (so the choice does not depend on
// whether it does: keeping outputs on or off gives the same bits).
Route routeOf(Direction dir, const Geometry& g) {
  switch (currentLayout()) {
    case DnnlConvLayout::kPlain: return Route::kPlain;
    case DnnlConvLayout::kBlocked: return Route::kBlocked;
    case DnnlConvLayout::kAuto: break;
  }
  if (g.depthwise || dir == Direction::kInference) return Route::kBlocked;
  if (g.oneByOne) return dir == Direction::kBackwardWeights ? Route::kNative : Route::kPlain;
  switch (dir) {
    case Direction::kForward:
    case Direction::kInference: return Route::kBlocked;
    case Direction::kBackwardData:
      return g.inPerGroup >= 32 && g.outPerGroup >= 32 ? Route::kBlocked : Route::kNative;
    case Direction::kBackwardWeights:
      return avx512Kernels() && g.outPerGroup >= 32 && (g.inPerGroup >= 32 || g.inPerGroup <= 4) ? Route::kBlocked
                                                                                                 : Route::kNative;
  }
  return Route::kNative;
}

// One tensor argument of a primitive: our plain layout, the one the primitive runs on, and the
// reorder between them when they differ.
struct Operand {
  int arg = 0;
  bool output = false;
  memory::desc user, inner;
  std::optional<dnnl::reorder> reorder;
};

struct Primitive {
  dnnl::primitive prim;
  memory::desc scratchpad;
  std::vector<Operand> operands;  // in the order the kernels pass their pointers
};

Operand operand(int arg, bool output, const memory::desc& user, const memory::desc& inner) {
  Operand o{arg, output, user, inner, std::nullopt};
  if (user != inner) {
    o.reorder = output ? dnnl::reorder(dnnl::reorder::primitive_desc(engine(), inner, engine(), user))
                       : dnnl::reorder(dnnl::reorder::primitive_desc(engine(), user, engine(), inner));
  }
  return o;
}

// Creates the primitive; throws dnnl::error when oneDNN has none for it.
std::shared_ptr<Primitive> create(Direction dir, const Geometry& g, bool withBias, bool blocked) {
  const bool grouped = g.group > 1;
  const memory::desc src = plainDesc(g.src), wei = plainDesc(g.weights, grouped), dst = plainDesc(g.dst);
  const memory::desc bias = withBias ? plainDesc(g.bias) : memory::desc();
  const memory::desc srcIn = blocked ? anyDesc(g.src) : src, weiIn = blocked ? anyDesc(g.weights) : wei,
                     dstIn = blocked ? anyDesc(g.dst) : dst;
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  const auto algo = dnnl::algorithm::convolution_direct;
  const bool forward = dir == Direction::kForward || dir == Direction::kInference;
  const dnnl::convolution_forward::desc fwd(
      dir == Direction::kInference ? dnnl::prop_kind::forward_inference : dnnl::prop_kind::forward_training, algo, srcIn,
      weiIn, forward ? bias : memory::desc(), dstIn, g.strides,
                                            g.dilations, g.padL, g.padR);
  auto p = std::make_shared<Primitive>();
  if (forward) {
    const dnnl::convolution_forward::primitive_desc pd(fwd, attr, engine());
    p->prim = dnnl::convolution_forward(pd);
    p->scratchpad = pd.scratchpad_desc();
    p->operands = {operand(DNNL_ARG_SRC, false, src, pd.src_desc()),
                   operand(DNNL_ARG_WEIGHTS, false, wei, pd.weights_desc())};
    if (withBias) p->operands.push_back(operand(DNNL_ARG_BIAS, false, bias, pd.bias_desc()));
    p->operands.push_back(operand(DNNL_ARG_DST, true, dst, pd.dst_desc()));
    return p;
  }
  const dnnl::convolution_forward::primitive_desc hint(fwd, engine());
  if (dir == Direction::kBackwardData) {
    const dnnl::convolution_backward_data::desc d(algo, srcIn, weiIn, dstIn, g.strides, g.dilations, g.padL, g.padR);
    const dnnl::convolution_backward_data::primitive_desc pd(d, attr, engine(), hint);
    p->prim = dnnl::convolution_backward_data(pd);
    p->scratchpad = pd.scratchpad_desc();
    p->operands = {operand(DNNL_ARG_DIFF_DST, false, dst, pd.diff_dst_desc()),
                   operand(DNNL_ARG_WEIGHTS, false, wei, pd.weights_desc()),
                   operand(DNNL_ARG_DIFF_SRC, true, src, pd.diff_src_desc())};
    return p;
  }
  const dnnl::convolution_backward_weights::desc d(algo, srcIn, weiIn, bias, dstIn, g.strides, g.dilations, g.padL,
                                                   g.padR);
  const dnnl::convolution_backward_weights::primitive_desc pd(d, attr, engine(), hint);
  p->prim = dnnl::convolution_backward_weights(pd);
  p->scratchpad = pd.scratchpad_desc();
  p->operands = {operand(DNNL_ARG_SRC, false, src, pd.src_desc()),
                 operand(DNNL_ARG_DIFF_DST, false, dst, pd.diff_dst_desc()),
                 operand(DNNL_ARG_DIFF_WEIGHTS, true, wei, pd.diff_weights_desc())};
  if (withBias) p->operands.push_back(operand(DNNL_ARG_DIFF_BIAS, true, bias, pd.diff_bias_desc()));
  return p;
}

// The LRU cache of primitives; a null entry records a refusal.
class PrimitiveCache {
 public:
  std::shared_ptr<Primitive> get(Direction dir, const Geometry& g, bool withBias) {
    const Route route = routeOf(dir, g);
    if (route == Route::kNative) return nullptr;
    const bool blocked = route == Route::kBlocked;
    const std::string key = keyOf(dir, g, withBias, blocked);
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = index_.find(key);
      if (it != index_.end()) {
        order_.splice(order_.begin(), order_, it->second);
        return it->second->second;
      }
    }
    std::shared_ptr<Primitive> p;  // created outside the lock: it can take milliseconds
    try {
      p = create(dir, g, withBias, blocked);
    } catch (const dnnl::error&) {
      p = nullptr;  // no oneDNN implementation: our own kernel runs
    }
    std::lock_guard<std::mutex> lock(mu_);
    auto it = index_.find(key);
    if (it != index_.end()) return it->second->second;  // another thread made it meanwhile
    order_.emplace_front(key, p);
    index_[key] = order_.begin();
    if (order_.size() > kCacheSize) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
    return p;
  }

 private:
  static std::string keyOf(Direction dir, const Geometry& g, bool withBias, bool blocked) {
    std::vector<int64_t> v{static_cast<int64_t>(dir), withBias, blocked, numThreads(), g.group};
    for (const Dims* d : {&g.src, &g.weights, &g.dst, &g.strides, &g.dilations, &g.padL, &g.padR}) {
      v.push_back(static_cast<int64_t>(d->size()));
      v.insert(v.end(), d->begin(), d->end());
    }
    return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(int64_t));
  }

  std::mutex mu_;
  std::list<std::pair<std::string, std::shared_ptr<Primitive>>> order_;  // most recent first
  std::unordered_map<std::string, std::list<std::pair<std::string, std::shared_ptr<Primitive>>>::iterator> index_;
};

PrimitiveCache& cache() {
  static PrimitiveCache c;
  return c;
}

// Runs p on the tensors at `data` (one pointer per operand, in order): inputs reordered into the
// primitive's layouts, outputs out of them, every buffer from the CPU allocator. The operands
// whose bit is set in `prepared` are already in the primitive's layout (inputs) or stay in it
// (outputs).
void execute(const Primitive& p, const std::vector<void*>& data, const char* what, uint32_t prepared = 0) {
  // This call's buffers (reordered operands, scratchpad), freed when it returns. Blocks of 32 MiB
  // and more come back from the CPU allocator's cache with their pages mapped, smaller ones from
  // the C heap, so a call does not fault pages in; and a block freed here serves the next
  // tensor of its size. (Kept per thread across calls, they held up to 150 MiB through the
  // whole training step: mobilenet_v2's peak RSS at 16 x 224 was 1,935 MiB, now 1,785.)
  std::vector<std::unique_ptr<Storage>> held;
  auto buffer = [&](const memory::desc& d) {
    held.push_back(std::make_unique<Storage>(d.get_size(), Device::cpu()));
    return held.back()->data();
  };
  try {
    dnnl::stream s(engine());
    std::unordered_map<int, memory> args;
    std::vector<std::pair<memory, memory>> outputs;  // (primitive's, ours) to reorder after
    for (size_t i = 0; i < p.operands.size(); ++i) {
      const Operand& o = p.operands[i];
      const bool ready = (prepared >> i) & 1u;
      memory user(ready ? o.inner : o.user, engine(), data[i]);
      if (!o.reorder || ready) {
        args.emplace(o.arg, user);
        continue;
      }
      memory inner(o.inner, engine(), buffer(o.inner));
      if (o.output) {
        outputs.emplace_back(inner, user);
      } else {
        o.reorder->execute(s, user, inner);
      }
      args.emplace(o.arg, inner);
    }
    if (p.scratchpad.get_size() > 0) args.emplace(DNNL_ARG_SCRATCHPAD, memory(p.scratchpad, engine(), buffer(p.scratchpad)));
    p.prim.execute(s, args);
    for (size_t i = 0, k = 0; i < p.operands.size(); ++i) {
      if (p.operands[i].output && p.operands[i].reorder && !((prepared >> i) & 1u)) {
        p.operands[i].reorder->execute(s, outputs[k].first, outputs[k].second);
        ++k;
      }
    }
    s.wait();
    gDnnlRuns.fetch_add(1, std::memory_order_relaxed);
  } catch (const dnnl::error& e) {
    SINGA_THROW(Error, "oneDNN " << what << " failed: " << e.what() << " (status " << static_cast<int>(e.status)
                                 << "); SINGA_CONV=native runs the built-in convolution kernels instead");
  }
}

// Inference weights reordered once (ConvKernelParams::cacheWeights): the forward primitive's
// weights, kept with the weight tensor's storage (Storage::derived) and reused while its
// version() stands, so a batch-1 run reads them once instead of reading the plain ones and
// writing and reading a reordered copy (a third of resnet18's time at batch 1). At most a few
// layouts per storage (views at other offsets, other shapes choosing other layouts); entries
// of an older version are dropped when a new one is made, and all of them when the weights run
// in a training forward.
struct PackedWeights {
  struct Entry {
    int64_t offset = 0;  // the view's offset in the storage (elements)
    memory::desc layout;
    uint64_t version = 0;
    std::shared_ptr<Storage> packed;
  };
  std::vector<Entry> entries;  // immutable once stored: replaced whole
};
constexpr size_t kPackedPerStorage = 4;
const char kPackedTag = 0;  // Storage::derived owner

// w reordered into o's layout, from the cache or made now and cached; null when the storage is
// not tracked (memory shared with NumPy, DLPack or borrowed: it can change unseen).
std::shared_ptr<Storage> packedWeights(const Tensor& w, const Operand& o) {
  const Storage& st = *w.impl().storage;
  const std::optional<uint64_t> version = st.version();  // read before the data
  if (!version) return nullptr;
  const auto cached = std::static_pointer_cast<const PackedWeights>(st.derived(&kPackedTag));
  if (cached) {
    for (const PackedWeights::Entry& e : cached->entries) {
      if (e.version == *version && e.offset == w.offset() && e.layout == o.inner) return e.packed;
    }
  }
  auto packed = std::make_shared<Storage>(o.inner.get_size(), Device::cpu());
  try {
    dnnl::stream s(engine());
    memory user(o.user, engine(), const_cast<float*>(w.readData<float>()));  // read only: the reorder's source
    memory inner(o.inner, engine(), packed->data());
    o.reorder->execute(s, user, inner);
    s.wait();
  } catch (const dnnl::error& e) {
    SINGA_THROW(Error, "oneDNN weight reorder failed: " << e.what() << " (status " << static_cast<int>(e.status)
                                                       << "); SINGA_CONV=native runs the built-in convolution kernels instead");
  }
  auto next = std::make_shared<PackedWeights>();
  next->entries.push_back({w.offset(), o.inner, *version, packed});
  if (cached) {
    for (const PackedWeights::Entry& e : cached->entries) {
      if (e.version == *version && next->entries.size() < kPackedPerStorage) next->entries.push_back(e);
    }
  }
  st.setDerived(&kPackedTag, std::move(next));
  gDnnlPacks.fetch_add(1, std::memory_order_relaxed);
  return packed;
}

// A convolution's output held in the primitive's layout (inference, setDnnlKeepBlocked): the
// next convolution takes the buffer as its input when its primitive wants that layout; anything
// else reading the tensor gets it reordered into the plain memory first (Storage::readData).
class BlockedLayout final : public StorageLayout {
 public:
  BlockedLayout(std::shared_ptr<Storage> buffer, memory::desc inner, memory::desc plain, dnnl::reorder toPlain)
      : StorageLayout(std::move(buffer)), inner_(std::move(inner)), plain_(std::move(plain)), reorder_(std::move(toPlain)) {}

  const memory::desc& inner() const { return inner_; }

  void toPlain(void* plain) const override {
    try {
      dnnl::stream s(engine());
      memory src(inner_, engine(), const_cast<void*>(buffer().readData()));  // read only: the reorder's source
      memory dst(plain_, engine(), plain);
      reorder_.execute(s, src, dst);
      s.wait();
    } catch (const dnnl::error& e) {
      SINGA_THROW(Error, "oneDNN reorder of a convolution's output failed: "
                             << e.what() << " (status " << static_cast<int>(e.status)
                             << "); SINGA_CONV=native runs the built-in convolution kernels instead");
    }
  }
  bool sameAs(const StorageLayout& other) const override {
    const auto* o = dynamic_cast<const BlockedLayout*>(&other);
    return o != nullptr && o->inner_ == inner_ && o->plain_ == plain_;
  }
  std::shared_ptr<const StorageLayout> over(std::shared_ptr<Storage> buffer) const override {
    return std::make_shared<BlockedLayout>(std::move(buffer), inner_, plain_, reorder_);
  }

 private:
  memory::desc inner_, plain_;
  dnnl::reorder reorder_;
};

std::shared_ptr<const BlockedLayout> blockedLayoutOf(const Tensor& t) {
  if (!isWhole(t)) return nullptr;
  return std::dynamic_pointer_cast<const BlockedLayout>(t.impl().storage->layout());
}

// The fused activation maps 0 to +0, so it may run over a blocked buffer's zero padding.
bool epilogueKeepsZero(const ConvKernelParams& cp) {
  const float z = convActivationOf(0.0f, cp);
  return !std::signbit(z) && z == 0.0f;
}

// The channel-blocked layouts (conv_dnnl.h), in ChannelBlocked::Format's order.
constexpr memory::format_tag kChannelBlockedTags[] = {memory::format_tag::aBcd16b, memory::format_tag::aBcd8b,
                                                      memory::format_tag::acdb};
int64_t channelBlock(ChannelBlocked::Format f, int64_t channels) {
  return f == ChannelBlocked::kBlock16 ? 16 : f == ChannelBlocked::kBlock8 ? 8 : channels;
}

Dims dimsOf(const Shape& s) { return Dims(s.begin(), s.end()); }

// Reorders from a channel-blocked layout to the plain one, made once per shape and block (a
// pooled output's layout has no convolution primitive to borrow its reorder from). Bounded:
// the oldest goes past kCacheSize entries.
dnnl::reorder blockedToPlain(const memory::desc& inner, const memory::desc& plain) {
  static std::mutex mu;
  static std::list<std::tuple<memory::desc, memory::desc, dnnl::reorder>> made;  // newest first
  {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& [i, p, r] : made) {
      if (i == inner && p == plain) return r;
    }
  }
  dnnl::reorder r;
  try {
    r = dnnl::reorder(dnnl::reorder::primitive_desc(engine(), inner, engine(), plain));
  } catch (const dnnl::error& e) {
    SINGA_THROW(Error, "oneDNN reorder from the blocked layout failed: " << e.what() << " (status "
                                                                        << static_cast<int>(e.status) << ")");
  }
  std::lock_guard<std::mutex> lock(mu);
  made.emplace_front(inner, plain, r);
  if (made.size() > kCacheSize) made.pop_back();
  return r;
}

const Tensor* optionalInput(const KernelContext& ctx, size_t i) {
  return ctx.inputs.size() > i && ctx.in(i).defined() ? &ctx.in(i) : nullptr;
}

void* ptr(const Tensor& t) { return const_cast<float*>(t.data<float>()); }

// y[n, c, :] += bias[c]
void addBias(float* y, const float* bias, int64_t N, int64_t C, int64_t P) {
  parallelFor(N * C, std::max<int64_t>(1, 16384 / std::max<int64_t>(P, 1)), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const float bc = bias[t % C];
      float* d = y + t * P;
      for (int64_t p = 0; p < P; ++p) d[p] += bc;
    }
  });
}

}  // namespace

bool dnnlConvAvailable() { return true; }

ChannelBlocked channelBlockedOf(const Tensor& t) {
  if (t.dtype() != DType::kFloat32 || t.ndim() != 4) return {};
  const std::shared_ptr<const BlockedLayout> l = blockedLayoutOf(t);
  if (!l) return {};
  for (int f = 0; f < static_cast<int>(std::size(kChannelBlockedTags)); ++f) {
    if (l->inner() == memory::desc(dimsOf(t.shape()), memory::data_type::f32, kChannelBlockedTags[f])) {
      const auto format = static_cast<ChannelBlocked::Format>(f);
      return {static_cast<const float*>(l->buffer().readData()), channelBlock(format, t.dim(1)), format};
    }
  }
  return {};
}

namespace {
memory::desc channelBlockedDesc(const Shape& shape, const ChannelBlocked& like) {
  const int f = static_cast<int>(like.format);
  SINGA_CHECK(shape.size() == 4 && f >= 0 && f < static_cast<int>(std::size(kChannelBlockedTags)), ValueError,
              "channel-blocked layout: a 4-D shape and one of ChannelBlocked's formats");
  return memory::desc(dimsOf(shape), memory::data_type::f32, kChannelBlockedTags[f]);
}
}  // namespace

size_t channelBlockedBytes(const Shape& shape, const ChannelBlocked& like) {
  return channelBlockedDesc(shape, like).get_size();
}

void setChannelBlocked(Tensor& y, std::shared_ptr<Storage> buffer, const ChannelBlocked& like) {
  const memory::desc inner = channelBlockedDesc(y.shape(), like);
  SINGA_CHECK(y.dtype() == DType::kFloat32 && isWhole(y) && buffer && buffer->bytes() == inner.get_size(), ValueError,
              "setChannelBlocked: a whole 4-D float32 tensor and a buffer of its blocked size");
  const memory::desc plain = plainDesc(dimsOf(y.shape()));
  y.impl().storage->setLayout(std::make_shared<BlockedLayout>(std::move(buffer), inner, plain, blockedToPlain(inner, plain)),
                              true);
}

std::string convBackendDescription() {
  if (!dnnlConvEnabled()) return packedConvEnabled() ? "packed AVX-512 + im2col + OpenBLAS" : "im2col + OpenBLAS";
  const DnnlConvLayout layout = currentLayout();  // a bad SINGA_CONV_LAYOUT is an error here, at start
  const dnnl_version_t* v = dnnl_version();
  return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) + " " +
         isaName(dnnl::get_effective_cpu_isa()) +
         (layout == DnnlConvLayout::kPlain ? " (plain layout)" : layout == DnnlConvLayout::kBlocked ? " (blocked layout)" : "");
}

bool dnnlConvForward(KernelContext& ctx) {
  if (!dnnlConvEnabled()) return false;
  const Tensor& x = ctx.in(0);
  const Tensor& w = ctx.in(1);
  const Tensor* b = optionalInput(ctx, 2);
  Tensor& y = ctx.out(0);
  if (x.numel() == 0 || w.numel() == 0 || y.numel() == 0) return false;
  const ConvKernelParams& cp = ctx.paramsAs<ConvKernelParams>("Conv");
  Geometry g;
  if (!geometryOf(x.shape(), y.shape(), w.shape(), cp.window, g)) return false;
  // Inference: the input may come blocked from the convolution before, and the output may stay
  // blocked for the next one (an activation that keeps the padding's zeros zero).
  const bool inference = cp.cacheWeights;
  const std::shared_ptr<const BlockedLayout> xBlocked = inference ? blockedLayoutOf(x) : nullptr;
  const bool keep = inference && gKeepBlocked.load(std::memory_order_relaxed) && epilogueKeepsZero(cp) &&
                    isWhole(y) && y.impl().storage->version().has_value();
  const std::shared_ptr<Primitive> p = cache().get(inference ? Direction::kInference : Direction::kForward, g, b != nullptr);
  if (!p) return false;
  uint32_t prepared = 0;
  const Operand& xo = p->operands[0];
  const void* src = nullptr;
  if (xBlocked && xo.inner == xBlocked->inner()) {
    src = xBlocked->buffer().readData();
    prepared |= 1u;
    gBlockedInputs.fetch_add(1, std::memory_order_relaxed);
  } else {
    src = x.readData<float>();  // writes the plain tensor first if it is held blocked
  }
  const Operand& wo = p->operands[1];
  std::shared_ptr<Storage> packed;
  if (cp.cacheWeights && wo.reorder) {
    packed = packedWeights(w, wo);
  } else if (!cp.cacheWeights && w.impl().storage->derived(&kPackedTag)) {
    w.impl().storage->setDerived(&kPackedTag, nullptr);  // training: the weights will change; free the copies
  }
  if (packed) prepared |= 2u;
  std::vector<void*> data{const_cast<void*>(src), packed ? packed->data() : const_cast<float*>(w.readData<float>())};
  if (b) data.push_back(const_cast<float*>(b->readData<float>()));
  const size_t yi = data.size();
  const Operand& yo = p->operands[yi];
  std::shared_ptr<Storage> yBlocked;
  if (keep && yo.reorder) {
    yBlocked = std::make_shared<Storage>(yo.inner.get_size(), Device::cpu());
    prepared |= 1u << yi;
    data.push_back(yBlocked->data());
  } else {
    data.push_back(y.data<float>());
  }
  execute(*p, data, "convolution forward", prepared);
  if (yBlocked) {
    // The activation runs over the padding too (zero in, zero out: epilogueKeepsZero).
    applyConvActivation(static_cast<float*>(yBlocked->data()), static_cast<int64_t>(yo.inner.get_size() / sizeof(float)), cp);
    // y is the Conv op's fresh output (runOp): its plain memory is allocated only if read.
    y.impl().storage->setLayout(std::make_shared<BlockedLayout>(std::move(yBlocked), yo.inner, yo.user, *yo.reorder),
                                true);
    gBlockedOutputs.fetch_add(1, std::memory_order_relaxed);
  } else {
    applyConvActivation(y.data<float>(), y.numel(), cp);
  }
  return true;
}

bool dnnlConvGradInput(KernelContext& ctx) {
  if (!dnnlConvEnabled()) return false;
  const Tensor& dy = ctx.in(0);
  const Tensor& w = ctx.in(1);
  const Tensor* b = optionalInput(ctx, 2);
  Tensor& dx = ctx.out(0);
  if (dy.numel() == 0 || w.numel() == 0 || dx.numel() == 0) return false;
  const ConvKernelParams& cp = ctx.paramsAs<ConvKernelParams>("ConvGradInput");
  Geometry g;
  if (!geometryOf(dx.shape(), dy.shape(), w.shape(), cp.window, g)) return false;
  const std::shared_ptr<Primitive> p = cache().get(Direction::kBackwardData, g, false);
  if (!p) return false;
  execute(*p, {ptr(dy), ptr(w), dx.data<float>()}, "convolution backward data");
  if (b) addBias(dx.data<float>(), b->data<float>(), dx.dim(0), dx.dim(1), dx.numel() / (dx.dim(0) * dx.dim(1)));
  return true;
}

bool dnnlConvGradWeight(KernelContext& ctx) {
  if (!dnnlConvEnabled()) return false;
  const Tensor& x = ctx.in(0);
  const Tensor& dy = ctx.in(1);
  Tensor& dw = ctx.out(0);
  const bool withBias = ctx.outputs.size() > 1;
  if (x.numel() == 0 || dy.numel() == 0 || dw.numel() == 0) return false;
  const ConvKernelParams& cp = ctx.paramsAs<ConvKernelParams>("ConvGradWeight");
  Geometry g;
  if (!geometryOf(x.shape(), dy.shape(), dw.shape(), cp.window, g)) return false;
  const std::shared_ptr<Primitive> p = cache().get(Direction::kBackwardWeights, g, withBias);
  if (!p) return false;
  std::vector<void*> data{ptr(x), ptr(dy), dw.data<float>()};
  if (withBias) data.push_back(ctx.out(1).data<float>());
  execute(*p, data, "convolution backward weights");
  return true;
}

#endif  // SINGA_USE_DNNL

}  // namespace singa::cpu
