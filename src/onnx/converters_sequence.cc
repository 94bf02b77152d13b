// Sequences and optionals: SequenceEmpty, SequenceConstruct, SequenceAt, SequenceLength,
// SequenceInsert, SequenceErase, ConcatFromSequence, SplitToSequence, Optional,
// OptionalHasElement, OptionalGetElement, and Identity on sequences and optionals. A sequence is
// a list of engine tensors (so ConcatFromSequence, SequenceAt and SplitToSequence stay on the
// tape and differentiate); an optional holding a value is that value, the empty one Value::none().
#include <string>
#include <vector>

#include "singa/onnx/converter_util.h"
#include "singa/onnx/tensor_proto.h"
#include "singa/ops/ops.h"

namespace singa::onnxio {
namespace {

using Values = std::vector<Value>;

const std::vector<Tensor>& sequenceInput(const ConvertContext& ctx, const Values& in, size_t i) {
  ctx.check(i < in.size() && in[i].kind == Value::Kind::kSequence,
            "input " + std::to_string(i) + " must be a sequence, got " +
                (i < in.size() ? in[i].describe() : std::string("nothing")));
  return in[i].sequence;
}

const Tensor& tensorInput(const ConvertContext& ctx, const Values& in, size_t i) {
  ctx.check(i < in.size() && in[i].isTensor() && in[i].tensor.defined(),
            "input " + std::to_string(i) + " must be a tensor, got " +
                (i < in.size() ? in[i].describe() : std::string("nothing")));
  return in[i].tensor;
}

bool present(const Values& in, size_t i) {
  return i < in.size() && !(in[i].kind == Value::Kind::kNone) && !(in[i].isTensor() && !in[i].tensor.defined());
}

// A position input (int32/int64 scalar) checked against [-size, size - 1 + extra].
int64_t position(const ConvertContext& ctx, const Tensor& p, int64_t size, int64_t extra) {
  const std::vector<int64_t> v = intsOf(p);
  ctx.check(v.size() == 1, "position must be a scalar");
  int64_t pos = v[0];
  ctx.check(pos >= -size && pos <= size - 1 + extra,
            "position " + std::to_string(pos) + " is outside [" + std::to_string(-size) + ", " +
                std::to_string(size - 1 + extra) + "] for a sequence of " + std::to_string(size));
  return pos < 0 ? pos + size : pos;
}

Values sequenceEmpty(const ConvertContext& ctx, const Values&) {
  const int64_t code = ctx.attrs.getInt("dtype", 1);  // TensorProto.FLOAT by default
  return {Value::ofSequence({}, dtypeFromOnnx(static_cast<int>(code)))};
}

Values sequenceConstruct(const ConvertContext& ctx, const Values& in) {
  ctx.check(!in.empty(), "needs at least one input tensor");
  std::vector<Tensor> items;
  for (size_t i = 0; i < in.size(); ++i) {
    items.push_back(tensorInput(ctx, in, i));
    ctx.check(items.back().dtype() == items.front().dtype(),
              "every input must have the same dtype (" + std::string(dtypeName(items.front().dtype())) + ")");
  }
  return {Value::ofSequence(std::move(items))};
}

Values sequenceAt(const ConvertContext& ctx, const Values& in) {
  const std::vector<Tensor>& seq = sequenceInput(ctx, in, 0);
  const int64_t n = static_cast<int64_t>(seq.size());
  return {Value(seq[static_cast<size_t>(position(ctx, tensorInput(ctx, in, 1), n, 0))])};
}

Values sequenceLength(const ConvertContext& ctx, const Values& in) {
  const auto n = static_cast<int64_t>(sequenceInput(ctx, in, 0).size());
  return {Value(intsTensor({n}, {}, ctx.device))};
}

Values sequenceInsert(const ConvertContext& ctx, const Values& in) {
  std::vector<Tensor> seq = sequenceInput(ctx, in, 0);
  const DType elem = in[0].elemType;
  const Tensor& t = tensorInput(ctx, in, 1);
  if (t.dtype() != elem) {
    ctx.check(false, "the inserted tensor is " + std::string(dtypeName(t.dtype())) + ", the sequence holds " +
                         dtypeName(elem));
  }
  const int64_t n = static_cast<int64_t>(seq.size());
  const int64_t pos = present(in, 2) ? position(ctx, tensorInput(ctx, in, 2), n, 1) : n;
  seq.insert(seq.begin() + pos, t);
  return {Value::ofSequence(std::move(seq), elem)};
}

Values sequenceErase(const ConvertContext& ctx, const Values& in) {
  std::vector<Tensor> seq = sequenceInput(ctx, in, 0);
  const int64_t n = static_cast<int64_t>(seq.size());
  ctx.check(n > 0, "cannot erase from an empty sequence");
  const int64_t pos = present(in, 1) ? position(ctx, tensorInput(ctx, in, 1), n, 0) : n - 1;
  seq.erase(seq.begin() + pos);
  return {Value::ofSequence(std::move(seq), in[0].elemType)};
}

Values concatFromSequence(const ConvertContext& ctx, const Values& in) {
  const std::vector<Tensor>& seq = sequenceInput(ctx, in, 0);
  ctx.check(!seq.empty(), "cannot concatenate an empty sequence");
  ctx.check(ctx.attrs.has("axis"), "the 'axis' attribute is required");
  const int64_t axis = ctx.attrs.getInt("axis");
  const bool newAxis = ctx.attrs.getInt("new_axis", 0) != 0;
  if (!newAxis) return {Value(ops::concat(seq, axis))};
  // Stacking: every item gains a dim of 1 at `axis` (in [-r-1, r]), then they are concatenated.
  const int64_t r = seq.front().ndim();
  ctx.check(axis >= -r - 1 && axis <= r, "axis " + std::to_string(axis) + " is outside [" + std::to_string(-r - 1) +
                                             ", " + std::to_string(r) + "] for new_axis=1");
  const int64_t a = axis < 0 ? axis + r + 1 : axis;
  std::vector<Tensor> items;
  for (const Tensor& t : seq) items.push_back(ops::unsqueeze(t, {a}));
  return {Value(ops::concat(items, a))};
}

Values splitToSequence(const ConvertContext& ctx, const Values& in) {
  const Tensor& x = tensorInput(ctx, in, 0);
  const int64_t r = x.ndim();
  int64_t axis = ctx.attrs.getInt("axis", 0);
  ctx.check(axis >= -r && axis < r, "axis " + std::to_string(axis) + " is outside the input's " + std::to_string(r) + " dims");
  if (axis < 0) axis += r;
  const int64_t len = x.shape()[static_cast<size_t>(axis)];
  std::vector<int64_t> sizes;
  if (!present(in, 1)) {
    sizes.assign(static_cast<size_t>(len), 1);
  } else {
    const Tensor& split = tensorInput(ctx, in, 1);
    const std::vector<int64_t> v = intsOf(split);
    if (split.ndim() == 0) {  // chunks of that size, the last one smaller
      ctx.check(v[0] > 0, "a scalar split must be positive");
      for (int64_t done = 0; done < len; done += v[0]) sizes.push_back(std::min(v[0], len - done));
    } else {
      int64_t total = 0;
      for (int64_t s : v) {
        ctx.check(s >= 0, "split lengths must be >= 0");
        total = checkedAdd(total, s, "SplitToSequence: the sum of the split lengths");
      }
      ctx.check(total == len, "split lengths sum to " + std::to_string(total) + ", the axis has " + std::to_string(len));
      sizes = v;
    }
  }
  std::vector<Tensor> parts = sizes.empty() ? std::vector<Tensor>{} : ops::split(x, axis, sizes);
  if (!present(in, 1) && ctx.attrs.getInt("keepdims", 1) == 0) {
    for (Tensor& p : parts) p = ops::squeeze(p, {axis});
  }
  return {Value::ofSequence(std::move(parts), x.dtype())};
}

Values optional(const ConvertContext&, const Values& in) {
  return {present(in, 0) ? in[0] : Value::none()};
}

Values optionalHasElement(const ConvertContext& ctx, const Values& in) {
  const bool has = present(in, 0);
  return {Value(fromDoubles({has ? 1.0 : 0.0}, {}, DType::kBool, ctx.device))};
}

Values optionalGetElement(const ConvertContext& ctx, const Values& in) {
  ctx.check(present(in, 0), "the optional is empty");
  return {in[0]};
}

Values identity(const ConvertContext&, const Values& in) { return {in.at(0)}; }

}  // namespace

void registerSequenceConverters(ConverterRegistry& r) {
  r.addValueOp("SequenceEmpty", 11, sequenceEmpty, false);
  r.addValueOp("SequenceConstruct", 11, sequenceConstruct);
  r.addValueOp("SequenceAt", 11, sequenceAt);
  r.addValueOp("SequenceLength", 11, sequenceLength, false);
  r.addValueOp("SequenceInsert", 11, sequenceInsert);
  r.addValueOp("SequenceErase", 11, sequenceErase);
  r.addValueOp("ConcatFromSequence", 11, concatFromSequence);
  r.addValueOp("SplitToSequence", 11, splitToSequence);
  r.addValueOp("Optional", 15, optional);
  r.addValueOp("OptionalHasElement", 15, optionalHasElement, false);
  r.addValueOp("OptionalGetElement", 15, optionalGetElement);
  r.setValueForm("Identity", identity);  // sequences since opset 14, optionals since 16
}

}  // namespace singa::onnxio
