// Copy (strided input -> contiguous output, with dtype conversion: also Cast) and Fill, plus
// stridedMove(), the same-dtype strided copy that StridedCopy and Tile-like kernels share.
//
// Why so few instantiations: a same-dtype copy moves elements as 1/2/4/8-byte words (4 kernels
// serve all ten dtypes); a converting copy is templated on the source type only and picks the
// destination type with a switch that every thread of the launch takes the same way.
#include "singa/kernels/cuda/cuda_common.cuh"
#include "singa/core/half_convert.h"
#include "singa/kernels/float_to_int.h"

namespace singa::cuda {

namespace {

enum DstCode : int { kF32, kF64, kF16, kBF16, kI8, kI16, kI32, kI64, kU8, kBool };

int dstCode(DType t) {
  switch (t) {
    case DType::kFloat32: return kF32;
    case DType::kFloat64: return kF64;
    case DType::kFloat16: return kF16;
    case DType::kBFloat16: return kBF16;
    case DType::kInt8: return kI8;
    case DType::kInt16: return kI16;
    case DType::kInt32: return kI32;
    case DType::kInt64: return kI64;
    case DType::kUInt8: return kU8;
    case DType::kBool: return kBool;
    default:
      SINGA_THROW(TypeError, "Copy: no CUDA conversion to " << dtypeName(t)
                                                            << " (uint16/32/64 casts run on the CPU only)");
  }
}

// float16/bfloat16 storage (16-bit words) read as float; the conversions are the CPU's
// (half_convert.h), so both devices give the same bits.
struct HalfWord {
  uint16_t bits;
};
struct BF16Word {
  uint16_t bits;
};
__device__ __forceinline__ float loadValue(HalfWord v) { return halfconv::halfToFloat(v.bits); }
__device__ __forceinline__ float loadValue(BF16Word v) { return halfconv::bfloat16ToFloat(v.bits); }
template <class S>
__device__ __forceinline__ S loadValue(S v) {
  return v;
}

// Integer destinations: floating sources go through floatToInt (defined for NaN and out-of-range
// values, and bit-identical to the CPU kernel); integral sources wrap as C++ does.
template <class D, class S>
__device__ __forceinline__ D toInt(S v) {
  if constexpr (std::is_floating_point_v<S>) {
    return floatToInt<D>(v);
  } else {
    return static_cast<D>(v);
  }
}

template <class S>
__device__ __forceinline__ void storeAs(void* dst, int code, int64_t i, S v) {
  switch (code) {
    case kF32: static_cast<float*>(dst)[i] = static_cast<float>(v); break;
    case kF64: static_cast<double*>(dst)[i] = static_cast<double>(v); break;
    // As on the CPU: through float (a double rounds twice, as Half(float(v)) does there).
    case kF16: static_cast<uint16_t*>(dst)[i] = halfconv::floatToHalf(static_cast<float>(v)); break;
    case kBF16: static_cast<uint16_t*>(dst)[i] = halfconv::floatToBFloat16(static_cast<float>(v)); break;
    case kI8: static_cast<int8_t*>(dst)[i] = toInt<int8_t>(v); break;
    case kI16: static_cast<int16_t*>(dst)[i] = toInt<int16_t>(v); break;
    case kI32: static_cast<int32_t*>(dst)[i] = toInt<int32_t>(v); break;
    case kI64: static_cast<int64_t*>(dst)[i] = toInt<int64_t>(v); break;
    case kU8: static_cast<uint8_t*>(dst)[i] = toInt<uint8_t>(v); break;
    default: static_cast<bool*>(dst)[i] = static_cast<float>(v) != 0.0f; break;
  }
}

template <class S>
__global__ void castKernel(const S* src, void* dst, int code, int64_t n, Indexer<1> ix) {
  SINGA_GRID_LOOP(i, n) {
    int64_t o[1];
    ix.offsets(i, o);
    storeAs(dst, code, i, loadValue(src[o[0]]));
  }
}

template <class W>
__global__ void moveKernel(const W* src, W* dst, int64_t n, Indexer<2> ix) {
  SINGA_GRID_LOOP(i, n) {
    int64_t o[2];
    ix.offsets(i, o);
    dst[o[1]] = src[o[0]];
  }
}

template <class W>
__global__ void fillKernel(W* dst, W value, int64_t n) {
  SINGA_GRID_LOOP(i, n) dst[i] = value;
}

template <class W>
void launchMove(const Tensor& in, Tensor& out, cudaStream_t s) {
  const int64_t n = out.numel();
  const Indexer<2> ix = makeIndexer<2>(out.shape(), {broadcastStrides(in, out.shape()), out.strides()});
  moveKernel<W><<<blocksFor(n), kThreads, 0, s>>>(static_cast<const W*>(in.rawData()), static_cast<W*>(out.rawData()),
                                                  n, ix);
  SINGA_CUDA_LAUNCHED();
}

void copyKernel(KernelContext& ctx) {
  const Tensor& in = ctx.in(0);
  Tensor& out = ctx.out(0);
  if (out.numel() == 0) return;
  if (in.dtype() == out.dtype()) {
    stridedMove(in, out);
    return;
  }
  const int code = dstCode(out.dtype());
  SINGA_CHECK(out.isContiguous(), ValueError, "Copy: a converting copy needs a contiguous destination");
  cudaStream_t s = streamFor(out);
  const int64_t n = out.numel();
  const Indexer<1> ix = makeIndexer<1>(out.shape(), std::array<const Tensor*, 1>{&in});
  void* dst = out.rawData();
  switch (in.dtype()) {
    case DType::kFloat32: castKernel<<<blocksFor(n), kThreads, 0, s>>>(in.data<float>(), dst, code, n, ix); break;
    case DType::kFloat64: castKernel<<<blocksFor(n), kThreads, 0, s>>>(in.data<double>(), dst, code, n, ix); break;
    case DType::kInt8: castKernel<<<blocksFor(n), kThreads, 0, s>>>(in.data<int8_t>(), dst, code, n, ix); break;
    case DType::kInt16: castKernel<<<blocksFor(n), kThreads, 0, s>>>(in.data<int16_t>(), dst, code, n, ix); break;
    case DType::kInt32: castKernel<<<blocksFor(n), kThreads, 0, s>>>(in.data<int32_t>(), dst, code, n, ix); break;
    case DType::kInt64: castKernel<<<blocksFor(n), kThreads, 0, s>>>(in.data<int64_t>(), dst, code, n, ix); break;
    case DType::kUInt8: castKernel<<<blocksFor(n), kThreads, 0, s>>>(in.data<uint8_t>(), dst, code, n, ix); break;
    case DType::kBool: castKernel<<<blocksFor(n), kThreads, 0, s>>>(in.data<bool>(), dst, code, n, ix); break;
    case DType::kFloat16:
      castKernel<<<blocksFor(n), kThreads, 0, s>>>(static_cast<const HalfWord*>(in.rawData()), dst, code, n, ix);
      break;
    case DType::kBFloat16:
      castKernel<<<blocksFor(n), kThreads, 0, s>>>(static_cast<const BF16Word*>(in.rawData()), dst, code, n, ix);
      break;
    default:
      SINGA_THROW(TypeError, "Copy: no CUDA conversion from " << dtypeName(in.dtype())
                                                              << " (uint16/32/64 casts run on the CPU only)");
  }
  SINGA_CUDA_LAUNCHED();
}

/// `value` as the bytes of one element of dtype t (the CPU kernels' conversion rules).
uint64_t elementBits(double value, DType t) {
  uint64_t bits = 0;
  auto put = [&](auto v) { std::memcpy(&bits, &v, sizeof(v)); };
  switch (t) {
    case DType::kFloat32: put(static_cast<float>(value)); break;
    case DType::kFloat64: put(value); break;
    case DType::kFloat16: put(Half(static_cast<float>(value)).bits); break;
    case DType::kBFloat16: put(BFloat16(static_cast<float>(value)).bits); break;
    case DType::kInt8: put(floatToInt<int8_t>(value)); break;
    case DType::kInt16: put(floatToInt<int16_t>(value)); break;
    case DType::kInt32: put(floatToInt<int32_t>(value)); break;
    case DType::kInt64: put(floatToInt<int64_t>(value)); break;
    case DType::kUInt8: put(floatToInt<uint8_t>(value)); break;
    case DType::kBool: put(static_cast<uint8_t>(value != 0.0 ? 1 : 0)); break;
    case DType::kUInt16: put(floatToInt<uint16_t>(value)); break;
    case DType::kUInt32: put(floatToInt<uint32_t>(value)); break;
    case DType::kUInt64: put(floatToInt<uint64_t>(value)); break;
    default:
      SINGA_THROW(TypeError, "Fill: no CUDA kernel for the storage type " << dtypeName(t) << " (Cast on the CPU)");
  }
  return bits;
}

}  // namespace

void stridedMove(const Tensor& in, Tensor& out) {
  if (out.numel() == 0) return;
  cudaStream_t s = streamFor(out);
  switch (dtypeSize(out.dtype())) {
    case 1: launchMove<uint8_t>(in, out, s); break;
    case 2: launchMove<uint16_t>(in, out, s); break;
    case 4: launchMove<uint32_t>(in, out, s); break;
    default: launchMove<uint64_t>(in, out, s); break;
  }
}

void fillBits(Tensor& out, uint64_t bits) {
  const int64_t n = out.numel();
  if (n == 0) return;
  cudaStream_t s = streamFor(out);
  void* p = out.rawData();
  switch (dtypeSize(out.dtype())) {
    case 1: fillKernel<<<blocksFor(n), kThreads, 0, s>>>(static_cast<uint8_t*>(p), static_cast<uint8_t>(bits), n); break;
    case 2: fillKernel<<<blocksFor(n), kThreads, 0, s>>>(static_cast<uint16_t*>(p), static_cast<uint16_t>(bits), n); break;
    case 4: fillKernel<<<blocksFor(n), kThreads, 0, s>>>(static_cast<uint32_t*>(p), static_cast<uint32_t>(bits), n); break;
    default: fillKernel<<<blocksFor(n), kThreads, 0, s>>>(static_cast<uint64_t*>(p), bits, n); break;
  }
  SINGA_CUDA_LAUNCHED();
}

uint64_t valueBits(double value, DType t) { return elementBits(value, t); }

Tensor contiguousCopy(const Tensor& t) {
  if (t.isContiguous()) return t;
  Tensor c(t.shape(), t.dtype(), t.device());
  stridedMove(t, c);
  return c;
}

void registerCopyKernels(KernelRegistry& r) {
  const auto all = {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16, DType::kInt8,
                    DType::kInt16,   DType::kInt32,   DType::kInt64,   DType::kUInt8,    DType::kBool};
  // The input's dtype selects the kernel; the output's dtype is the conversion target.
  r.add(OpId::kCopy, DeviceType::kCuda, all, copyKernel);
  r.add(OpId::kFill, DeviceType::kCuda, all, [](KernelContext& ctx) {
    Tensor& out = ctx.out(0);
    SINGA_CHECK(out.isContiguous(), ValueError, "Fill: output must be contiguous");
    fillBits(out, elementBits(ctx.paramsAs<FillParams>("Fill").value, out.dtype()));
  });
}

}  // namespace singa::cuda
