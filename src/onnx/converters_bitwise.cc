// Bit-level ONNX operators: BitwiseAnd/Or/Xor (with multidirectional broadcasting), BitwiseNot
// and BitCast. They have no gradient, so they are computed on the CPU over the raw bits: an
// element of N bytes is handled as an unsigned N-byte word, which gives the same bits for the
// signed and unsigned types of that width (two's complement). BitCast copies the bytes of the
// input into a tensor of the target type of the same width (little endian on every host we build
// for, as ONNX requires).
#include <cstring>
#include <limits>

#include "singa/onnx/converter.h"
#include "singa/onnx/converter_util.h"
#include "singa/onnx/tensor_proto.h"

namespace singa::onnxio {
namespace {

using Tensors = std::vector<Tensor>;

enum class BitOp { kAnd, kOr, kXor };

template <class W>
W applyBitOp(BitOp op, W a, W b) {
  switch (op) {
    case BitOp::kAnd: return static_cast<W>(a & b);
    case BitOp::kOr: return static_cast<W>(a | b);
    case BitOp::kXor: return static_cast<W>(a ^ b);
  }
  return 0;
}

// Strides (in elements) of `shape` seen through broadcasting to `out`: 0 on broadcast dims.
std::vector<int64_t> broadcastStrides(const Shape& shape, const Shape& out) {
  std::vector<int64_t> strides(out.size(), 0);
  const std::vector<int64_t> own = contiguousStrides(shape);
  const size_t lead = out.size() - shape.size();
  for (size_t d = 0; d < shape.size(); ++d) {
    strides[lead + d] = shape[d] == 1 ? 0 : own[d];
  }
  return strides;
}

template <class W>
void bitwiseLoop(BitOp op, const W* a, const W* b, W* y, const Shape& out, const std::vector<int64_t>& sa,
                 const std::vector<int64_t>& sb, int64_t numel) {
  const size_t rank = out.size();
  std::vector<int64_t> index(rank, 0);
  int64_t offA = 0, offB = 0;
  for (int64_t i = 0; i < numel; ++i) {
    y[i] = applyBitOp<W>(op, a[offA], b[offB]);
    // Odometer increment of the output index, keeping both input offsets in step.
    for (size_t d = rank; d-- > 0;) {
      if (++index[d] < out[d]) {
        offA += sa[d];
        offB += sb[d];
        break;
      }
      offA -= sa[d] * (out[d] - 1);
      offB -= sb[d] * (out[d] - 1);
      index[d] = 0;
    }
  }
}

void requireBitType(const ConvertContext& ctx, const Tensor& t, const char* what) {
  ctx.check(isInteger(t.dtype()), std::string(what) + " must be an integer tensor, got " + dtypeName(t.dtype()) +
                                      " (cast it to an integer type first)");
}

template <BitOp Op>
Tensors convertBitwiseBinary(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& a = requireInput(ctx, in, 0, "A");
  const Tensor& b = requireInput(ctx, in, 1, "B");
  requireBitType(ctx, a, "A");
  ctx.check(a.dtype() == b.dtype(), std::string("A and B must have the same type, got ") + dtypeName(a.dtype()) +
                                        " and " + dtypeName(b.dtype()));
  const Shape out = broadcastShapes(a.shape(), b.shape(), ctx.opType.c_str());
  const int64_t numel = numelOf(out);
  checkHostBuffer(ctx, numel, dtypeSize(a.dtype()), "the " + shapeStr(out) + " result");
  const Tensor ac = a.to(Device::cpu()).contiguous();
  const Tensor bc = b.to(Device::cpu()).contiguous();
  Tensor y(out, a.dtype(), Device::cpu());
  const std::vector<int64_t> sa = broadcastStrides(a.shape(), out), sb = broadcastStrides(b.shape(), out);
  switch (dtypeSize(a.dtype())) {
    case 1:
      bitwiseLoop<uint8_t>(Op, static_cast<const uint8_t*>(ac.rawData()), static_cast<const uint8_t*>(bc.rawData()),
                           static_cast<uint8_t*>(y.rawData()), out, sa, sb, numel);
      break;
    case 2:
      bitwiseLoop<uint16_t>(Op, static_cast<const uint16_t*>(ac.rawData()),
                            static_cast<const uint16_t*>(bc.rawData()), static_cast<uint16_t*>(y.rawData()), out,
                            sa, sb, numel);
      break;
    case 4:
      bitwiseLoop<uint32_t>(Op, static_cast<const uint32_t*>(ac.rawData()),
                            static_cast<const uint32_t*>(bc.rawData()), static_cast<uint32_t*>(y.rawData()), out,
                            sa, sb, numel);
      break;
    default:
      bitwiseLoop<uint64_t>(Op, static_cast<const uint64_t*>(ac.rawData()),
                            static_cast<const uint64_t*>(bc.rawData()), static_cast<uint64_t*>(y.rawData()), out,
                            sa, sb, numel);
      break;
  }
  return one(y.to(a.device()));
}

template <class W>
void notLoop(const void* x, void* y, int64_t numel) {
  const W* src = static_cast<const W*>(x);
  W* dst = static_cast<W*>(y);
  for (int64_t i = 0; i < numel; ++i) dst[i] = static_cast<W>(~src[i]);
}

Tensors convertBitwiseNot(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  requireBitType(ctx, x, "X");
  const Tensor xc = x.to(Device::cpu()).contiguous();
  Tensor y(x.shape(), x.dtype(), Device::cpu());
  switch (dtypeSize(x.dtype())) {
    case 1: notLoop<uint8_t>(xc.rawData(), y.rawData(), x.numel()); break;
    case 2: notLoop<uint16_t>(xc.rawData(), y.rawData(), x.numel()); break;
    case 4: notLoop<uint32_t>(xc.rawData(), y.rawData(), x.numel()); break;
    default: notLoop<uint64_t>(xc.rawData(), y.rawData(), x.numel()); break;
  }
  return one(y.to(x.device()));
}

Tensors convertBitCast(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "input");
  ctx.check(ctx.attrs.has("to"), "attribute 'to' (the target ONNX data type) is required");
  const int64_t code = ctx.attrs.getInt("to");
  ctx.check(code > 0 && code <= std::numeric_limits<int>::max(),
            "attribute 'to' = " + std::to_string(code) + " is not an ONNX data type code");
  const DType to = dtypeFromOnnx(static_cast<int>(code));
  ctx.check(dtypeSize(to) == dtypeSize(x.dtype()),
            std::string("cannot reinterpret ") + dtypeName(x.dtype()) + " (" + std::to_string(8 * dtypeSize(x.dtype())) +
                " bits) as " + dtypeName(to) + " (" + std::to_string(8 * dtypeSize(to)) +
                " bits): BitCast needs types of the same bit width (use Cast to convert values)");
  const Tensor xc = x.to(Device::cpu()).contiguous();
  Tensor y(x.shape(), to, Device::cpu());
  if (x.numel() > 0) std::memcpy(y.rawData(), xc.rawData(), x.nbytes());
  if (to == DType::kBool) {
    // A bool byte other than 0 or 1 is not a valid value in the engine: any set bit reads as true.
    auto* p = static_cast<uint8_t*>(y.rawData());
    for (int64_t i = 0; i < x.numel(); ++i) p[i] = p[i] != 0 ? 1 : 0;
  }
  return one(y.to(x.device()));
}

}  // namespace

void registerBitwiseConverters(ConverterRegistry& r) {
  r.add("BitwiseAnd", 18, convertBitwiseBinary<BitOp::kAnd>, false);
  r.add("BitwiseOr", 18, convertBitwiseBinary<BitOp::kOr>, false);
  r.add("BitwiseXor", 18, convertBitwiseBinary<BitOp::kXor>, false);
  r.add("BitwiseNot", 18, convertBitwiseNot, false);
  r.add("BitCast", 26, convertBitCast, false);
}

}  // namespace singa::onnxio
