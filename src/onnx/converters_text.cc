// Text ONNX operators: TfIdfVectorizer (opset 9) on integer token ids. The pool of n-grams is a
// compile-time attribute, so the counting runs on the host: each row of the input is scanned for
// every n-gram length in [min_gram_length, max_gram_length] and every skip in [0, max_skip_count]
// (the items of an n-gram are skip + 1 positions apart; unigrams are counted once, not per skip),
// and each pool n-gram found adds one to its count. The output coordinate of the i-th pool n-gram
// is ngram_indexes[i]; the value is the count (TF), its weight when the count is positive (IDF) or
// count * weight (TFIDF). String tokens (pool_strings) need string tensors, which the engine lacks.
// Inference only: the result is an integer count, not differentiable in the token ids.
#include <algorithm>
#include <map>

#include "singa/core/shape.h"
#include "singa/onnx/converter.h"
#include "singa/onnx/converter_util.h"

namespace singa::onnxio {
namespace {

using Tensors = std::vector<Tensor>;

// Host work ceiling of one TfIdfVectorizer node (n-gram look-ups), so a huge skip on a long input
// fails with an error instead of hanging.
constexpr int64_t kMaxTfIdfLookups = int64_t{1} << 31;

// The pool, split by n-gram length: pools[n - 1] maps each n-gram to its index in pool order.
struct NgramPool {
  std::vector<std::map<std::vector<int64_t>, int64_t>> byLength;
  int64_t count = 0;  // n-grams in the pool (the size ngram_indexes must have)
};

NgramPool buildPool(const ConvertContext& ctx, const std::vector<int64_t>& pool,
                    const std::vector<int64_t>& starts) {
  ctx.check(!starts.empty(), "ngram_counts is empty; it must give the start in the pool of each n-gram length");
  NgramPool p;
  const auto poolSize = static_cast<int64_t>(pool.size());
  for (size_t level = 0; level < starts.size(); ++level) {
    const int64_t begin = starts[level];
    const int64_t end = level + 1 < starts.size() ? starts[level + 1] : poolSize;
    ctx.check(begin >= 0 && begin <= end && end <= poolSize,
              "ngram_counts must be non-decreasing starts within the pool of " + std::to_string(poolSize) +
                  " items; entry " + std::to_string(level) + " is " + std::to_string(begin));
    const auto n = static_cast<int64_t>(level + 1);
    ctx.check((end - begin) % n == 0, "the " + std::to_string(n) + "-grams of the pool (items " +
                                          std::to_string(begin) + ".." + std::to_string(end) +
                                          ") are not a whole number of " + std::to_string(n) + "-grams");
    std::map<std::vector<int64_t>, int64_t> grams;
    for (int64_t i = begin; i < end; i += n) {
      grams.emplace(std::vector<int64_t>(pool.begin() + i, pool.begin() + i + n), p.count++);
    }
    p.byLength.push_back(std::move(grams));
  }
  return p;
}

Tensors convertTfIdfVectorizer(const ConvertContext& ctx, const Tensors& in) {
  const Tensor& x = requireInput(ctx, in, 0, "X");
  if (!ctx.attrs.has("pool_int64s")) {
    throw NotSupportedError("only integer tokens (pool_int64s) are supported; string tokens (pool_strings) "
                            "need string tensors, which singa does not have (map the strings to int64 ids first)");
  }
  ctx.check(x.dtype() == DType::kInt32 || x.dtype() == DType::kInt64,
            "input X must be int32 or int64 token ids, got " + std::string(dtypeName(x.dtype())));
  ctx.check(x.ndim() == 1 || x.ndim() == 2, "input X must be 1-D [C] or 2-D [N, C], got rank " + std::to_string(x.ndim()));

  const std::string mode = ctx.attrs.getString("mode", "");
  ctx.check(mode == "TF" || mode == "IDF" || mode == "TFIDF", "mode must be TF, IDF or TFIDF, got '" + mode + "'");
  const int64_t minN = ctx.attrs.getInt("min_gram_length", 0);
  const int64_t maxN = ctx.attrs.getInt("max_gram_length", 0);
  const int64_t maxSkip = ctx.attrs.getInt("max_skip_count", 0);
  ctx.check(minN >= 1 && maxN >= minN, "min_gram_length and max_gram_length must satisfy 1 <= min <= max, got " +
                                          std::to_string(minN) + " and " + std::to_string(maxN));
  ctx.check(maxSkip >= 0, "max_skip_count must be >= 0, got " + std::to_string(maxSkip));

  const NgramPool pool = buildPool(ctx, ctx.attrs.getInts("pool_int64s"), ctx.attrs.getInts("ngram_counts", {}));
  const std::vector<int64_t> outIndex = ctx.attrs.getInts("ngram_indexes", {});
  ctx.check(static_cast<int64_t>(outIndex.size()) == pool.count,
            "ngram_indexes has " + std::to_string(outIndex.size()) + " entries; the pool holds " +
                std::to_string(pool.count) + " n-grams and needs one output index each");
  int64_t width = 0;
  for (int64_t o : outIndex) {
    ctx.check(o >= 0, "ngram_indexes must be non-negative, got " + std::to_string(o));
    width = std::max(width, checkedAdd(o, 1, "TfIdfVectorizer output width"));
  }
  std::vector<double> weights = ctx.attrs.has("weights") ? ctx.attrs.getFloats("weights") : std::vector<double>{};
  ctx.check(weights.empty() || static_cast<int64_t>(weights.size()) == pool.count,
            "weights has " + std::to_string(weights.size()) + " entries; it needs one per pool n-gram (" +
                std::to_string(pool.count) + ")");
  if (weights.empty()) weights.assign(static_cast<size_t>(pool.count), 1.0);

  const int64_t rows = x.ndim() == 2 ? x.shape()[0] : 1;
  const int64_t cols = x.ndim() == 2 ? x.shape()[1] : x.shape()[0];
  checkHostBuffer(ctx, checkedMul(rows, width, "TfIdfVectorizer output"), sizeof(double), "the TfIdfVectorizer output");
  // Only lengths the pool has can match; skips past the row length find nothing.
  const int64_t topN = std::min<int64_t>(maxN, static_cast<int64_t>(pool.byLength.size()));
  const int64_t skips = std::min<int64_t>(maxSkip, std::max<int64_t>(cols - 1, 0)) + 1;
  const int64_t work =
      checkedMul(checkedMul(checkedMul(rows, cols, "TfIdfVectorizer work"), skips, "TfIdfVectorizer work"),
                 std::max<int64_t>(topN, 1), "TfIdfVectorizer work");
  ctx.check(work <= kMaxTfIdfLookups, "scanning " + std::to_string(rows) + " rows of " + std::to_string(cols) +
                                          " tokens with up to " + std::to_string(skips - 1) +
                                          " skips needs too many n-gram look-ups; lower max_skip_count");

  const std::vector<int64_t> tokens = intsOf(x);
  std::vector<double> out(static_cast<size_t>(rows * width), 0.0);
  std::vector<int64_t> counts(static_cast<size_t>(pool.count));
  std::vector<int64_t> gram;
  for (int64_t r = 0; r < rows; ++r) {
    std::fill(counts.begin(), counts.end(), 0);
    const int64_t* row = tokens.data() + r * cols;
    for (int64_t step = 1; step <= skips; ++step) {
      for (int64_t start = 0; start < cols; ++start) {
        gram.clear();
        for (int64_t n = 1; n <= topN; ++n) {
          const int64_t pos = start + (n - 1) * step;
          if (pos >= cols) break;
          gram.push_back(row[pos]);
          if (n < minN || (n == 1 && step > 1)) continue;  // unigrams once, not once per skip
          const auto& grams = pool.byLength[static_cast<size_t>(n - 1)];
          auto it = grams.find(gram);
          if (it != grams.end()) ++counts[static_cast<size_t>(it->second)];
        }
      }
    }
    double* dst = out.data() + r * width;
    for (int64_t i = 0; i < pool.count; ++i) {
      const auto c = static_cast<double>(counts[static_cast<size_t>(i)]);
      const double w = weights[static_cast<size_t>(i)];
      const double v = mode == "TF" ? c : mode == "IDF" ? (c > 0 ? w : 0.0) : c * w;
      dst[outIndex[static_cast<size_t>(i)]] += v;
    }
  }
  const Shape outShape = x.ndim() == 2 ? Shape{rows, width} : Shape{width};
  return one(fromDoubles(out, outShape, DType::kFloat32, x.device()));
}

}  // namespace

void registerTextConverters(ConverterRegistry& r) { r.add("TfIdfVectorizer", 9, convertTfIdfVectorizer, false); }

}  // namespace singa::onnxio
