// String-tensor operators (inference only). The engine's Tensor holds raw bytes, so ONNX STRING
// tensors flow through the graph as Value::Kind::kStrings (shape + row-major std::strings) and
// these converters work on them on the host: Cast / CastLike to and from STRING, Equal on
// strings, StringNormalizer, StringConcat, StringSplit, RegexFullMatch, the layout operators
// (Reshape, Squeeze, Unsqueeze, Concat, Gather) on string tensors, and ai.onnx.ml LabelEncoder (a
// repeated key: the last wins, as the spec says). Identity passes any value through already
// (converters_sequence.cc). Nothing here is differentiable.
//
// What is supported where ONNX leaves room:
//  - numbers print as the shortest text that reads back to the same value (float32 as float32,
//    float16/bfloat16 through float32); NaN and infinities as "NaN", "INF", "-INF"; bool as "1"/"0".
//  - text parses as C-locale decimal or scientific notation, case-insensitive "INF", "+INF",
//    "-INF", "INFINITY", "NaN", with surrounding ASCII spaces; anything else is an error.
//  - StringNormalizer changes the case of ASCII letters only, whatever `locale` says; a string
//    with non-ASCII bytes under a case change or a case-insensitive comparison is an error.
//  - RegexFullMatch: see converters_string_regex.cc.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <map>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "singa/core/error.h"
#include "singa/onnx/converter.h"
#include "singa/onnx/converter_util.h"
#include "singa/onnx/string_tensor.h"
#include "singa/onnx/tensor_proto.h"

namespace singa::onnxio {
namespace {

using Values = std::vector<Value>;
constexpr int64_t kOnnxString = 8;  // TensorProto.STRING

int64_t totalBytes(const std::vector<std::string>& items) {
  int64_t n = 0;
  for (const std::string& s : items) n += static_cast<int64_t>(s.size());
  return n;
}

// ---- broadcasting ------------------------------------------------------------------------------

// For each element of the broadcast shape of `a` and `b` (numpy rules), its flat index in a and b.
Shape broadcastPairs(const ConvertContext& ctx, const Shape& a, const Shape& b,
                     std::vector<std::pair<int64_t, int64_t>>* pairs) {
  const size_t nd = std::max(a.size(), b.size());
  Shape pa(nd - a.size(), 1), pb(nd - b.size(), 1), out(nd);
  pa.insert(pa.end(), a.begin(), a.end());
  pb.insert(pb.end(), b.begin(), b.end());
  for (size_t d = 0; d < nd; ++d) {
    ctx.check(pa[d] == pb[d] || pa[d] == 1 || pb[d] == 1,
              "shapes " + shapeStr(a) + " and " + shapeStr(b) + " do not broadcast");
    out[d] = pa[d] == 1 ? pb[d] : pa[d];
  }
  const int64_t n = numelOf(out);
  checkStringBudget(n, 0, ctx.opType + ": the output " + shapeStr(out));
  std::vector<int64_t> sa(nd, 0), sb(nd, 0);
  for (int64_t d = static_cast<int64_t>(nd) - 1, ma = 1, mb = 1; d >= 0; --d) {
    sa[d] = pa[d] == 1 ? 0 : ma;
    sb[d] = pb[d] == 1 ? 0 : mb;
    ma *= pa[d];
    mb *= pb[d];
  }
  pairs->clear();
  pairs->reserve(static_cast<size_t>(n));
  std::vector<int64_t> pos(nd, 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t ia = 0, ib = 0;
    for (size_t d = 0; d < nd; ++d) ia += pos[d] * sa[d], ib += pos[d] * sb[d];
    pairs->emplace_back(ia, ib);
    for (int64_t d = static_cast<int64_t>(nd) - 1; d >= 0; --d) {
      if (++pos[d] < out[d]) break;
      pos[d] = 0;
    }
  }
  return out;
}

// ---- Cast, CastLike ----------------------------------------------------------------------------

template <class F>
std::string shortest(F v) {
  if (v != v) return "NaN";
  if (v == std::numeric_limits<F>::infinity()) return "INF";
  if (v == -std::numeric_limits<F>::infinity()) return "-INF";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

std::vector<std::string> formatNumbers(const Tensor& t) {
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(t.numel()));
  const DType dt = t.dtype();
  if (dt == DType::kFloat64) {
    for (double d : doublesOf(t)) out.push_back(shortest(d));
  } else if (isFloating(dt)) {  // float32, and the 16-bit floats (exact in float32)
    for (double d : doublesOf(t)) out.push_back(shortest(static_cast<float>(d)));
  } else if (dt == DType::kBool) {
    for (int64_t v : intsOf(t)) out.push_back(v ? "1" : "0");
  } else if (dt == DType::kUInt64) {
    for (int64_t v : intsOf(t)) out.push_back(std::to_string(static_cast<uint64_t>(v)));  // intsOf keeps the bits
  } else {
    for (int64_t v : intsOf(t)) out.push_back(std::to_string(v));
  }
  return out;
}

bool isSpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// `s` without surrounding ASCII spaces and one leading '+' (from_chars takes neither).
std::string_view numberText(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && isSpace(s[b])) ++b;
  while (e > b && isSpace(s[e - 1])) --e;
  std::string_view v(s.data() + b, e - b);
  if (v.size() > 1 && v[0] == '+' && v[1] != '-' && v[1] != '+') v.remove_prefix(1);
  return v;
}

template <class N>
bool parseWhole(std::string_view v, N* out) {
  if (v.empty()) return false;
  const char* end = v.data() + v.size();
  auto r = std::from_chars(v.data(), end, *out);
  if constexpr (std::is_floating_point_v<N>) {
    // Out of range: from_chars leaves *out alone; strtod/strtof give +/- infinity or the underflow
    // (the spec's "+/- infinity if OOR"); the text is already known to be a whole number.
    if (r.ec == std::errc::result_out_of_range && r.ptr == end) {
      const std::string text(v);
      if constexpr (std::is_same_v<N, float>) {
        *out = std::strtof(text.c_str(), nullptr);
      } else {
        *out = std::strtod(text.c_str(), nullptr);
      }
      return true;
    }
  }
  return r.ec == std::errc() && r.ptr == end;
}

Tensor parseNumbers(const ConvertContext& ctx, const Value& x, DType to) {
  const auto& items = x.strings;
  auto fail = [&](size_t i) {
    ctx.check(false, "element " + std::to_string(i) + " '" + excerpt(items[i]) + "' is not a number " +
                         "(decimal or scientific notation, INF, -INF or NaN)");
  };
  checkHostBuffer(ctx, static_cast<int64_t>(items.size()), sizeof(double), "the output " + shapeStr(x.stringShape));
  if (to == DType::kFloat32) {
    Tensor t(x.stringShape, DType::kFloat32, Device::cpu());
    float* p = static_cast<float*>(t.rawData());
    for (size_t i = 0; i < items.size(); ++i) {
      if (!parseWhole(numberText(items[i]), &p[i])) fail(i);
    }
    return t.to(ctx.device);
  }
  if (isFloating(to) || to == DType::kBool) {
    std::vector<double> v(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      if (!parseWhole(numberText(items[i]), &v[i])) fail(i);
    }
    return fromDoubles(v, x.stringShape, to, ctx.device);
  }
  std::vector<int64_t> v(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string_view text = numberText(items[i]);
    uint64_t u = 0;
    if (parseWhole(text, &v[i])) continue;
    if (to == DType::kUInt64 && parseWhole(text, &u)) {
      v[i] = static_cast<int64_t>(u);  // fromInts keeps the bits
      continue;
    }
    double d = 0;
    if (!parseWhole(text, &d)) fail(i);
    ctx.check(d == d && d > -9.3e18 && d < 1.9e19, "element " + std::to_string(i) + " '" + excerpt(items[i]) +
                                                        "' is out of range for " + dtypeName(to));
    v[i] = d >= 9.2e18 ? static_cast<int64_t>(static_cast<uint64_t>(d)) : static_cast<int64_t>(d);  // "100.5" -> 100
  }
  return fromInts(v, x.stringShape, to, ctx.device);
}

bool castsToString(const Attrs& attrs) { return attrs.has("to") && attrs.getInt("to") == kOnnxString; }

Values castValue(const ConvertContext& ctx, const Values& in) {
  ctx.check(!in.empty() && (in[0].isTensor() || in[0].isStrings()),
            "input 0 must be a tensor, got " + (in.empty() ? std::string("none") : "a " + in[0].describe()));
  const Value& x = in[0];
  bool toString = false;
  DType to = DType::kFloat32;
  if (ctx.opType == "CastLike") {
    ctx.check(in.size() >= 2 && (in[1].isStrings() || (in[1].isTensor() && in[1].tensor.defined())),
              "input 1 (target_type) is required");
    toString = in[1].isStrings();
    if (!toString) to = in[1].tensor.dtype();
  } else {
    ctx.check(ctx.attrs.has("to"), "attribute 'to' is required");
    toString = castsToString(ctx.attrs);
    if (!toString) to = dtypeFromOnnx(static_cast<int>(ctx.attrs.getInt("to")));
  }
  if (x.isStrings()) return {toString ? x : Value(parseNumbers(ctx, x, to))};
  ctx.check(toString && x.tensor.defined(), "input 0 is required");
  checkStringBudget(x.tensor.numel(), 0, ctx.opType + ": the output " + shapeStr(x.tensor.shape()));
  std::vector<std::string> text = formatNumbers(x.tensor);
  checkStringBudget(static_cast<int64_t>(text.size()), totalBytes(text), ctx.opType + ": the output");
  return {Value::ofStrings(x.tensor.shape(), std::move(text))};
}

// ---- Equal, StringConcat -----------------------------------------------------------------------

Values equalStrings(const ConvertContext& ctx, const Values& in) {
  const Value& a = stringInput(ctx, in, 0, "A");
  const Value& b = stringInput(ctx, in, 1, "B");
  std::vector<std::pair<int64_t, int64_t>> pairs;
  Shape shape = broadcastPairs(ctx, a.stringShape, b.stringShape, &pairs);
  std::vector<int64_t> eq(pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) eq[i] = a.strings[pairs[i].first] == b.strings[pairs[i].second];
  return {Value(fromInts(eq, shape, DType::kBool, ctx.device))};
}

Values stringConcat(const ConvertContext& ctx, const Values& in) {
  const Value& a = stringInput(ctx, in, 0, "X");
  const Value& b = stringInput(ctx, in, 1, "Y");
  std::vector<std::pair<int64_t, int64_t>> pairs;
  Shape shape = broadcastPairs(ctx, a.stringShape, b.stringShape, &pairs);
  int64_t bytes = 0;
  for (const auto& [ia, ib] : pairs) bytes += static_cast<int64_t>(a.strings[ia].size() + b.strings[ib].size());
  checkStringBudget(static_cast<int64_t>(pairs.size()), bytes, "StringConcat: the output " + shapeStr(shape));
  std::vector<std::string> out;
  out.reserve(pairs.size());
  for (const auto& [ia, ib] : pairs) out.push_back(a.strings[ia] + b.strings[ib]);
  return {Value::ofStrings(shape, std::move(out))};
}

// ---- StringNormalizer --------------------------------------------------------------------------

std::string asciiCase(std::string s, bool upper) {
  for (char& c : s) {
    if (upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (!upper && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

Values stringNormalizer(const ConvertContext& ctx, const Values& in) {
  const Value& x = stringInput(ctx, in, 0, "X");
  const Shape& shape = x.stringShape;
  ctx.check(shape.size() == 1 || (shape.size() == 2 && shape[0] == 1),
            "X must have shape [C] or [1, C], got " + shapeStr(shape));
  const std::string action = ctx.attrs.getString("case_change_action", "NONE");
  ctx.check(action == "NONE" || action == "LOWER" || action == "UPPER",
            "case_change_action must be NONE, LOWER or UPPER, got '" + excerpt(action) + "'");
  const bool caseSensitive = ctx.attrs.getInt("is_case_sensitive", 0) != 0;
  const std::vector<std::string> stopwords = stringsAttr(ctx.attrs, "stopwords");
  auto requireAscii = [&](const std::string& s, const std::string& what) {
    ctx.check(isAscii(s), what + " '" + excerpt(s) + "' holds non-ASCII bytes; singa changes and compares the " +
                              "case of ASCII letters only (any locale)");
  };
  std::unordered_set<std::string> stops;
  for (const std::string& w : stopwords) {
    if (!caseSensitive) requireAscii(w, "stopword");
    stops.insert(caseSensitive ? w : asciiCase(w, false));
  }
  std::vector<std::string> kept;
  for (const std::string& s : x.strings) {
    if (!stops.empty() && !caseSensitive) requireAscii(s, "element");
    if (stops.count(caseSensitive || stops.empty() ? s : asciiCase(s, false))) continue;
    if (action != "NONE") requireAscii(s, "element");
    kept.push_back(action == "NONE" ? s : asciiCase(s, action == "UPPER"));
  }
  if (kept.empty()) kept.emplace_back();  // all dropped: one empty string, [1] or [1, 1]
  const int64_t c = static_cast<int64_t>(kept.size());
  return {Value::ofStrings(shape.size() == 1 ? Shape{c} : Shape{1, c}, std::move(kept))};
}

// ---- StringSplit -------------------------------------------------------------------------------

// Python's str.split(delimiter, maxsplit) (maxsplit < 0: no limit; empty delimiter: runs of ASCII
// whitespace, tab included), except that the unsplit rest loses its trailing whitespace as the spec says.
// At most `budget` pieces (more throws MemoryError: a short string of delimiters must not become
// millions of strings before the output's size is checked).
std::vector<std::string> splitOne(const std::string& s, const std::string& delim, int64_t maxsplit, int64_t budget) {
  std::vector<std::string> parts;
  auto grow = [&] {
    SINGA_CHECK(static_cast<int64_t>(parts.size()) < budget, MemoryError,
                "StringSplit: the output would hold more than " << kMaxStringElements << " strings");
  };
  if (delim.empty()) {
    size_t i = 0;
    while (true) {
      while (i < s.size() && isSpace(s[i])) ++i;
      if (i == s.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
        size_t e = s.size();  // the spec: leading and trailing whitespace is removed
        while (e > i && isSpace(s[e - 1])) --e;
        parts.push_back(s.substr(i, e - i));
        break;
      }
      size_t j = i;
      while (j < s.size() && !isSpace(s[j])) ++j;
      grow();
      parts.push_back(s.substr(i, j - i));
      i = j;
    }
    return parts;
  }
  size_t start = 0;
  while (true) {
    const size_t at = maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit ? std::string::npos
                                                                                       : s.find(delim, start);
    if (at == std::string::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    grow();
    parts.push_back(s.substr(start, at - start));
    start = at + delim.size();
  }
}

Values stringSplit(const ConvertContext& ctx, const Values& in) {
  const Value& x = stringInput(ctx, in, 0, "X");
  const std::string delim = ctx.attrs.getString("delimiter", "");
  const int64_t maxsplit = ctx.attrs.getInt("maxsplit", -1);
  ctx.check(!ctx.attrs.has("maxsplit") || maxsplit >= 0, "maxsplit must be >= 0, got " + std::to_string(maxsplit));
  std::vector<std::vector<std::string>> parts;
  parts.reserve(x.strings.size());
  int64_t width = 0;
  std::vector<int64_t> counts;
  int64_t pieces = 0;
  for (const std::string& s : x.strings) {
    parts.push_back(splitOne(s, delim, maxsplit, kMaxStringElements - pieces));
    pieces += static_cast<int64_t>(parts.back().size());
    counts.push_back(static_cast<int64_t>(parts.back().size()));
    width = std::max(width, counts.back());
  }
  Shape shape = x.stringShape;
  shape.push_back(width);
  const int64_t n = static_cast<int64_t>(x.strings.size());
  checkStringBudget(width == 0 ? 0 : checkedMul(n, width, "StringSplit output"), totalBytes(x.strings),
                    "StringSplit: the output " + shapeStr(shape));
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(n * width));
  for (auto& p : parts) {
    for (int64_t k = 0; k < width; ++k) out.push_back(k < static_cast<int64_t>(p.size()) ? std::move(p[k]) : "");
  }
  return {Value::ofStrings(shape, std::move(out)), Value(intsTensor(counts, x.stringShape, ctx.device))};
}

// ---- layout operators on string tensors --------------------------------------------------------

Values reshapeStrings(const ConvertContext& ctx, const Values& in) {
  const Value& x = stringInput(ctx, in, 0, "data");
  ctx.check(in.size() >= 2 && in[1].isTensor() && in[1].tensor.defined(), "input 1 (shape) is required");
  Shape shape = intsOf(in[1].tensor);
  const bool allowZero = ctx.attrs.getInt("allowzero", 0) != 0;
  int64_t known = 1, infer = -1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 0 && !allowZero) {
      ctx.check(d < x.stringShape.size(), "shape " + shapeStr(shape) + " copies a dim the input lacks");
      shape[d] = x.stringShape[d];
    }
    if (shape[d] == -1) {
      ctx.check(infer < 0, "shape " + shapeStr(shape) + " has more than one -1");
      infer = static_cast<int64_t>(d);
      continue;
    }
    ctx.check(shape[d] >= 0, "shape " + shapeStr(shape) + " has a negative dim");
    known = checkedMul(known, shape[d], "Reshape shape");
  }
  const int64_t n = static_cast<int64_t>(x.strings.size());
  if (infer >= 0) {
    ctx.check(known > 0 && n % known == 0, "cannot infer -1 in " + shapeStr(shape) + " for " + std::to_string(n) +
                                               " elements");
    shape[infer] = n / known;
  }
  ctx.check(numelOf(shape) == n, "shape " + shapeStr(shape) + " does not hold the input's " + std::to_string(n) +
                                     " elements");
  return {Value::ofStrings(shape, x.strings)};
}

std::vector<int64_t> axesOf(const ConvertContext& ctx, const Values& in) {
  if (in.size() >= 2 && in[1].isTensor() && in[1].tensor.defined()) return intsOf(in[1].tensor);
  return ctx.attrs.getInts("axes", {});
}

Values squeezeStrings(const ConvertContext& ctx, const Values& in) {
  const Value& x = stringInput(ctx, in, 0, "data");
  const int nd = static_cast<int>(x.stringShape.size());
  std::vector<int64_t> axes = normalizeAxes(ctx, axesOf(ctx, in), nd);
  Shape shape;
  for (int d = 0; d < nd; ++d) {
    const bool listed = std::find(axes.begin(), axes.end(), d) != axes.end();
    ctx.check(!listed || x.stringShape[d] == 1, "axis " + std::to_string(d) + " has size " +
                                                    std::to_string(x.stringShape[d]) + ", not 1");
    if (!(listed || (axes.empty() && x.stringShape[d] == 1))) shape.push_back(x.stringShape[d]);
  }
  return {Value::ofStrings(shape, x.strings)};
}

Values unsqueezeStrings(const ConvertContext& ctx, const Values& in) {
  const Value& x = stringInput(ctx, in, 0, "data");
  const std::vector<int64_t> raw = axesOf(ctx, in);
  const int nd = static_cast<int>(x.stringShape.size() + raw.size());
  std::vector<int64_t> axes = normalizeAxes(ctx, raw, nd);
  std::vector<int64_t> sorted = axes;
  std::sort(sorted.begin(), sorted.end());
  ctx.check(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end(), "an axis is listed twice");
  Shape shape;
  for (int d = 0, k = 0; d < nd; ++d) {
    const bool added = std::binary_search(sorted.begin(), sorted.end(), d);
    shape.push_back(added ? 1 : x.stringShape[k++]);
  }
  return {Value::ofStrings(shape, x.strings)};
}

Values concatStrings(const ConvertContext& ctx, const Values& in) {
  ctx.check(!in.empty(), "at least one input is required");
  const Value& first = stringInput(ctx, in, 0, "inputs");
  const int nd = static_cast<int>(first.stringShape.size());
  ctx.check(nd >= 1 && ctx.attrs.has("axis"), "a rank >= 1 input and attribute 'axis' are required");
  const int64_t axis = normalizeAxes(ctx, {ctx.attrs.getInt("axis")}, nd)[0];
  Shape shape = first.stringShape;
  shape[axis] = 0;
  int64_t bytes = 0;
  for (size_t k = 0; k < in.size(); ++k) {
    const Value& v = stringInput(ctx, in, k, "inputs");
    ctx.check(v.stringShape.size() == first.stringShape.size(), "inputs differ in rank");
    for (int d = 0; d < nd; ++d) {
      ctx.check(d == axis || v.stringShape[d] == first.stringShape[d],
                "input shapes " + shapeStr(first.stringShape) + " and " + shapeStr(v.stringShape) + " differ off the axis");
    }
    shape[axis] += v.stringShape[axis];
    bytes += totalBytes(v.strings);
  }
  checkStringBudget(numelOf(shape), bytes, "Concat: the output " + shapeStr(shape));
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= shape[d];
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(numelOf(shape)));
  for (int64_t o = 0; o < outer; ++o) {
    for (const Value& v : in) {
      const int64_t block = static_cast<int64_t>(v.strings.size()) / std::max<int64_t>(outer, 1);
      out.insert(out.end(), v.strings.begin() + o * block, v.strings.begin() + (o + 1) * block);
    }
  }
  return {Value::ofStrings(shape, std::move(out))};
}

Values gatherStrings(const ConvertContext& ctx, const Values& in) {
  const Value& x = stringInput(ctx, in, 0, "data");
  ctx.check(in.size() >= 2 && in[1].isTensor() && in[1].tensor.defined(), "input 1 (indices) is required");
  const Tensor& idx = in[1].tensor;
  const int nd = static_cast<int>(x.stringShape.size());
  ctx.check(nd >= 1, "data must have rank >= 1");
  const int64_t axis = normalizeAxes(ctx, {ctx.attrs.getInt("axis", 0)}, nd)[0];
  const int64_t dim = x.stringShape[axis];
  std::vector<int64_t> indices = intsOf(idx);
  for (int64_t& i : indices) {
    ctx.check(i >= -dim && i < dim, "index " + std::to_string(i) + " is out of range for a dim of " + std::to_string(dim));
    if (i < 0) i += dim;
  }
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.stringShape[d];
  for (int64_t d = axis + 1; d < nd; ++d) inner *= x.stringShape[d];
  Shape shape(x.stringShape.begin(), x.stringShape.begin() + axis);
  shape.insert(shape.end(), idx.shape().begin(), idx.shape().end());
  shape.insert(shape.end(), x.stringShape.begin() + axis + 1, x.stringShape.end());
  const int64_t n = checkedMul(checkedMul(outer, static_cast<int64_t>(indices.size()), "Gather output"), inner,
                               "Gather output");
  checkStringBudget(n, 0, "Gather: the output " + shapeStr(shape));
  int64_t bytes = 0;
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i : indices) {
      for (int64_t k = 0; k < inner; ++k) bytes += static_cast<int64_t>(x.strings[(o * dim + i) * inner + k].size());
    }
  }
  checkStringBudget(n, bytes, "Gather: the output " + shapeStr(shape));
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(n));
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i : indices) {
      for (int64_t k = 0; k < inner; ++k) out.push_back(x.strings[(o * dim + i) * inner + k]);
    }
  }
  return {Value::ofStrings(shape, std::move(out))};
}

// ---- LabelEncoder (ai.onnx.ml) -----------------------------------------------------------------

// One side of the mapping (keys or values): strings, or numbers with their dtype.
struct LabelList {
  bool present = false;
  bool isString = false;
  std::vector<std::string> text;
  std::vector<double> numbers;
  DType dtype = DType::kInt64;
  size_t size() const { return isString ? text.size() : numbers.size(); }
};

LabelList labelList(const ConvertContext& ctx, const std::string& side) {
  LabelList l;
  const auto& all = ctx.attrs.all();
  int found = 0;
  if (all.count(side + "_strings")) {
    l = {true, true, stringsAttr(ctx.attrs, side + "_strings"), {}, DType::kInt64};
    ++found;
  }
  if (all.count(side + "_int64s")) {
    const auto& v = ctx.attrs.getInts(side + "_int64s");
    l = {true, false, {}, std::vector<double>(v.begin(), v.end()), DType::kInt64};
    ++found;
  }
  if (all.count(side + "_floats")) {
    l = {true, false, {}, ctx.attrs.getFloats(side + "_floats"), DType::kFloat32};
    ++found;
  }
  auto t = all.find(side + "_tensor");
  if (t != all.end()) {
    if (const auto* tensor = std::get_if<Tensor>(&t->second)) {
      l = {true, false, {}, doublesOf(*tensor), tensor->dtype()};
    } else {
      l = {true, true, stringsAttr(ctx.attrs, side + "_tensor"), {}, DType::kInt64};
    }
    ++found;
  }
  ctx.check(found == 1, "exactly one " + side + "_* attribute must be set, got " + std::to_string(found));
  return l;
}

Values labelEncoder(const ConvertContext& ctx, const Values& in) {
  ctx.check(!in.empty() && (in[0].isStrings() || (in[0].isTensor() && in[0].tensor.defined())),
            "input 0 (X) must be a tensor or a string tensor");
  const LabelList keys = labelList(ctx, "keys"), values = labelList(ctx, "values");
  ctx.check(keys.size() == values.size(), "keys and values differ in length (" + std::to_string(keys.size()) +
                                              " and " + std::to_string(values.size()) + ")");
  const Value& x = in[0];
  ctx.check(x.isStrings() == keys.isString, std::string("the keys are ") + (keys.isString ? "strings" : "numbers") +
                                                 " but X is a " + x.describe());
  // The default: default_tensor (one element), else default_<type of the values>.
  std::string defaultText = ctx.attrs.getString("default_string", "_Unused");
  double defaultNumber = values.dtype == DType::kInt64 ? static_cast<double>(ctx.attrs.getInt("default_int64", -1))
                                                       : ctx.attrs.getFloat("default_float", -0.0);
  auto d = ctx.attrs.all().find("default_tensor");
  if (d != ctx.attrs.all().end()) {
    if (const auto* t = std::get_if<Tensor>(&d->second)) {
      ctx.check(!values.isString && t->numel() == 1, "default_tensor must hold one value of the values' type");
      defaultNumber = doublesOf(*t)[0];
    } else {
      const std::vector<std::string> v = stringsAttr(ctx.attrs, "default_tensor");
      ctx.check(values.isString && v.size() == 1, "default_tensor must hold one value of the values' type");
      defaultText = v[0];
    }
  }
  // index[i]: which value element i maps to, or -1 for the default. A repeated key: the last wins.
  std::vector<int64_t> index;
  if (keys.isString) {
    std::unordered_map<std::string, int64_t> lookup;
    for (size_t k = 0; k < keys.size(); ++k) lookup[keys.text[k]] = static_cast<int64_t>(k);
    for (const std::string& s : x.strings) {
      auto it = lookup.find(s);
      index.push_back(it == lookup.end() ? -1 : it->second);
    }
  } else {
    std::map<double, int64_t> lookup;
    int64_t nanIndex = -1;  // NaN keys match any NaN
    for (size_t k = 0; k < keys.size(); ++k) {
      if (keys.numbers[k] != keys.numbers[k]) {
        nanIndex = static_cast<int64_t>(k);
      } else {
        lookup[keys.numbers[k]] = static_cast<int64_t>(k);
      }
    }
    for (double v : doublesOf(x.tensor)) {
      auto it = lookup.find(v);
      index.push_back(v != v ? nanIndex : it == lookup.end() ? -1 : it->second);
    }
  }
  const Shape shape = x.isStrings() ? x.stringShape : x.tensor.shape();
  if (values.isString) {
    std::vector<std::string> out;
    int64_t bytes = 0;
    for (int64_t k : index) bytes += static_cast<int64_t>((k < 0 ? defaultText : values.text[k]).size());
    checkStringBudget(static_cast<int64_t>(index.size()), bytes, "LabelEncoder: the output " + shapeStr(shape));
    for (int64_t k : index) out.push_back(k < 0 ? defaultText : values.text[k]);
    return {Value::ofStrings(shape, std::move(out))};
  }
  std::vector<double> out;
  for (int64_t k : index) out.push_back(k < 0 ? defaultNumber : values.numbers[k]);
  return {Value(fromDoubles(out, shape, values.dtype, ctx.device))};
}

// LabelEncoder nodes whose outputs are strings (values_strings, or a STRING values_tensor).
bool writesStrings(const Attrs& attrs) {
  auto t = attrs.all().find("values_tensor");
  return attrs.has("values_strings") || (t != attrs.all().end() && !std::holds_alternative<Tensor>(t->second));
}

}  // namespace

void registerStringConverters(ConverterRegistry& r) {
  r.setValueForm("Cast", castValue, castsToString);  // a tensor in, STRING out: the value form too
  r.setValueForm("CastLike", castValue);
  r.setValueForm("Equal", equalStrings);
  r.setValueForm("Reshape", reshapeStrings);
  r.setValueForm("Squeeze", squeezeStrings);
  r.setValueForm("Unsqueeze", unsqueezeStrings);
  r.setValueForm("Concat", concatStrings);
  r.setValueForm("Gather", gatherStrings);
  r.addValueOp("StringNormalizer", 10, stringNormalizer, false);
  r.addValueOp("StringConcat", 20, stringConcat, false);
  r.addValueOp("StringSplit", 20, stringSplit, false);
  r.addValueOp("RegexFullMatch", 20, convertRegexFullMatch, false);  // converters_string_regex.cc
  // ai.onnx.ml LabelEncoder, every key and value type (strings or numbers; tensors since ml opset 4).
  // When a numeric tensor converter is registered already, this becomes its value form: taken for
  // string inputs, and for nodes whose values are strings.
  const std::string labelEncoderKey = "ai.onnx.ml:LabelEncoder";
  if (r.knows(labelEncoderKey)) {
    r.setValueForm(labelEncoderKey, labelEncoder, writesStrings);
  } else {
    r.addValueOp(labelEncoderKey, 1, labelEncoder, false);
  }
}

}  // namespace singa::onnxio
