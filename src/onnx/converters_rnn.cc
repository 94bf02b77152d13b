// Recurrent ONNX operators: RNN, GRU and LSTM (forward, reverse, bidirectional; layout 0/1;
// custom activations; clip; peepholes; per-batch sequence_lens for the forward direction). The
// recurrence is unrolled into engine MatMul / elementwise ops, so an imported recurrent model
// trains like any other: gradients reach W, R, B, P and the initial states.
#include <functional>

#include "singa/onnx/converter.h"
#include "singa/onnx/converter_util.h"
#include "singa/ops/ops.h"

namespace singa::onnxio {
namespace {

using Tensors = std::vector<Tensor>;
using Activation = std::function<Tensor(const Tensor&)>;

// ONNX's named activations; alpha/beta come from activation_alpha/beta in order of use.
Activation activation(const ConvertContext& ctx, const std::string& name, std::vector<double>& alphas,
                      std::vector<double>& betas) {
  auto take = [](std::vector<double>& v, double dflt) {
    if (v.empty()) return dflt;
    double x = v.front();
    v.erase(v.begin());
    return x;
  };
  if (name == "Sigmoid") return [](const Tensor& x) { return ops::sigmoid(x); };
  if (name == "Tanh") return [](const Tensor& x) { return ops::tanh(x); };
  if (name == "Relu") return [](const Tensor& x) { return ops::relu(x); };
  if (name == "Softsign") return [](const Tensor& x) { return ops::softsign(x); };
  if (name == "Softplus") return [](const Tensor& x) { return ops::softplus(x); };
  if (name == "LeakyRelu") {
    const double a = take(alphas, 0.01);
    return [a](const Tensor& x) { return ops::leakyRelu(x, a); };
  }
  if (name == "ThresholdedRelu") {
    const double a = take(alphas, 1.0);
    return [a](const Tensor& x) { return ops::thresholdedRelu(x, a); };
  }
  if (name == "Elu") {
    const double a = take(alphas, 1.0);
    return [a](const Tensor& x) { return ops::elu(x, a); };
  }
  if (name == "HardSigmoid") {
    const double a = take(alphas, 0.2), b = take(betas, 0.5);
    return [a, b](const Tensor& x) { return ops::hardSigmoid(x, a, b); };
  }
  if (name == "Affine") {
    const double a = take(alphas, 1.0), b = take(betas, 0.0);
    return [a, b](const Tensor& x) { return ops::add(ops::mul(x, a), b); };
  }
  if (name == "ScaledTanh") {
    const double a = take(alphas, 1.0), b = take(betas, 1.0);
    return [a, b](const Tensor& x) { return ops::mul(ops::tanh(ops::mul(x, b)), a); };
  }
  ctx.check(false, "unknown activation '" + name + "'");
  return {};
}

enum class Cell { kRnn, kGru, kLstm };

template <Cell C>
Tensors convertRecurrent(const ConvertContext& ctx, const Tensors& in) {
  constexpr int kGates = C == Cell::kRnn ? 1 : (C == Cell::kGru ? 3 : 4);
  Tensor x = requireInput(ctx, in, 0, "X");
  const Tensor& w = requireInput(ctx, in, 1, "W");
  const Tensor& r = requireInput(ctx, in, 2, "R");
  const Tensor b = optionalInput(in, 3);
  const Tensor lens = optionalInput(in, 4);
  Tensor h0 = optionalInput(in, 5);
  Tensor c0 = C == Cell::kLstm ? optionalInput(in, 6) : Tensor();
  const Tensor p = C == Cell::kLstm ? optionalInput(in, 7) : Tensor();
  const int64_t hidden = ctx.attrs.getInt("hidden_size", r.dim(-1));
  const std::string direction = ctx.attrs.getString("direction", "forward");
  const int dirs = direction == "bidirectional" ? 2 : 1;
  const bool layout1 = ctx.attrs.getInt("layout", 0) != 0;
  const bool hasClip = ctx.attrs.has("clip");
  const double clip = ctx.attrs.getFloat("clip", 0.0);
  const bool linearBeforeReset = ctx.attrs.getInt("linear_before_reset", 0) != 0;
  ctx.check(ctx.attrs.getInt("input_forget", 0) == 0, "input_forget=1 is not supported");
  ctx.check(direction == "forward" || direction == "reverse" || direction == "bidirectional",
            "direction must be forward, reverse or bidirectional, got '" + direction + "'");
  ctx.check(x.ndim() == 3, "X must be 3-D ([seq, batch, input] or, with layout=1, [batch, seq, input]), got " +
                               shapeStr(x.shape()));
  ctx.check(hidden >= 1, "hidden_size must be >= 1, got " + std::to_string(hidden));
  // Compared by division: kGates * hidden overflows for a crafted hidden_size (fuzz_onnx_exec).
  ctx.check(w.ndim() == 3 && w.dim(0) == dirs && w.dim(1) % kGates == 0 && w.dim(1) / kGates == hidden,
            "W must be [num_directions, " + std::to_string(kGates) + "*hidden_size, input_size]");
  if (layout1) {
    x = ops::transpose(x, {1, 0, 2});  // [seq, batch, input]
    if (h0.defined()) h0 = ops::transpose(h0, {1, 0, 2});
    if (c0.defined()) c0 = ops::transpose(c0, {1, 0, 2});
  }
  const int64_t seq = x.dim(0), batch = x.dim(1);

  std::vector<std::string> names = stringsAttr(ctx.attrs, "activations");
  if (names.empty()) {
    const std::vector<std::string> dflt = C == Cell::kRnn ? std::vector<std::string>{"Tanh"}
                                          : C == Cell::kGru ? std::vector<std::string>{"Sigmoid", "Tanh"}
                                                            : std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"};
    for (int d = 0; d < dirs; ++d) names.insert(names.end(), dflt.begin(), dflt.end());
  }
  std::vector<double> alphas = ctx.attrs.has("activation_alpha") ? ctx.attrs.getFloats("activation_alpha") : std::vector<double>();
  std::vector<double> betas = ctx.attrs.has("activation_beta") ? ctx.attrs.getFloats("activation_beta") : std::vector<double>();
  constexpr size_t kActivations = C == Cell::kRnn ? 1 : (C == Cell::kGru ? 2 : 3);
  ctx.check(names.size() == kActivations * static_cast<size_t>(dirs),
            "activations lists " + std::to_string(names.size()) + " functions; " + std::to_string(kActivations) +
                " per direction are needed");
  const size_t perDir = names.size() / static_cast<size_t>(dirs);

  // Per-batch valid lengths (forward direction only); equal full lengths need no masking.
  std::vector<int64_t> lengths = intsOf(lens);
  ctx.check(!lens.defined() || static_cast<int64_t>(lengths.size()) == batch,
            "sequence_lens has " + std::to_string(lengths.size()) + " entries for a batch of " + std::to_string(batch));
  bool masked = false;
  for (int64_t l : lengths) masked = masked || l != seq;
  ctx.check(!masked || direction == "forward", "sequence_lens shorter than the sequence need direction=forward");

  Tensors ys, hs, cs;
  for (int d = 0; d < dirs; ++d) {
    const bool reverse = direction == "reverse" || d == 1;
    std::vector<Activation> f;
    for (size_t k = 0; k < perDir; ++k) f.push_back(activation(ctx, names[d * perDir + k], alphas, betas));
    auto act = [&](size_t k, const Tensor& t) { return f[k](hasClip ? ops::clip(t, -clip, clip) : t); };
    Tensor wd = ops::transpose(ops::squeeze(ops::slice(w, {d}, {d + 1}, {0}), {0}), {1, 0});  // [I, G*H]
    Tensor rd = ops::transpose(ops::squeeze(ops::slice(r, {d}, {d + 1}, {0}), {0}), {1, 0});  // [H, G*H]
    Tensor xw = ops::matmul(x, wd);                                                          // [S, B, G*H]
    Tensor rb;
    if (b.defined()) {
      Tensor bd = ops::squeeze(ops::slice(b, {d}, {d + 1}, {0}), {0});
      xw = ops::add(xw, ops::slice(bd, {0}, {kGates * hidden}, {0}));
      rb = ops::slice(bd, {kGates * hidden}, {2 * kGates * hidden}, {0});
    }
    auto gate = [&](const Tensor& t, int g) { return ops::slice(t, {g * hidden}, {(g + 1) * hidden}, {-1}); };
    Tensor h = h0.defined() ? ops::squeeze(ops::slice(h0, {d}, {d + 1}, {0}), {0})
                            : Tensor::zeros({batch, hidden}, x.dtype(), x.device());
    Tensor c = c0.defined() ? ops::squeeze(ops::slice(c0, {d}, {d + 1}, {0}), {0})
                            : Tensor::zeros({batch, hidden}, x.dtype(), x.device());
    Tensor pd = p.defined() ? ops::squeeze(ops::slice(p, {d}, {d + 1}, {0}), {0}) : Tensor();
    Tensors steps(static_cast<size_t>(seq));
    for (int64_t s = 0; s < seq; ++s) {
      const int64_t t = reverse ? seq - 1 - s : s;
      Tensor xt = ops::squeeze(ops::slice(xw, {t}, {t + 1}, {0}), {0});  // [B, G*H]
      Tensor hr = ops::matmul(h, rd);
      if (rb.defined() && !(C == Cell::kGru && linearBeforeReset)) hr = ops::add(hr, rb);
      Tensor hNew, cNew;
      if (C == Cell::kRnn) {
        hNew = act(0, ops::add(xt, hr));
      } else if (C == Cell::kGru) {
        if (linearBeforeReset && rb.defined()) hr = ops::add(hr, rb);
        Tensor z = act(0, ops::add(gate(xt, 0), gate(hr, 0)));
        Tensor rg = act(0, ops::add(gate(xt, 1), gate(hr, 1)));
        Tensor cand;
        if (linearBeforeReset) {
          cand = ops::add(gate(xt, 2), ops::mul(rg, gate(hr, 2)));
        } else {
          Tensor rh = ops::matmul(ops::mul(rg, h), gate(rd, 2));
          if (rb.defined()) rh = ops::add(rh, gate(rb, 2));
          cand = ops::add(gate(xt, 2), rh);
        }
        Tensor hc = act(1, cand);
        hNew = ops::add(ops::mul(ops::sub(scalarOf(1.0, z), z), hc), ops::mul(z, h));
      } else {
        Tensor pre = ops::add(xt, hr);
        Tensor ig = gate(pre, 0), og = gate(pre, 1), fg = gate(pre, 2), cg = gate(pre, 3);
        if (pd.defined()) {
          ig = ops::add(ig, ops::mul(gate(pd, 0), c));
          fg = ops::add(fg, ops::mul(gate(pd, 2), c));
        }
        Tensor i = act(0, ig), fgt = act(0, fg), ct = act(1, cg);
        cNew = ops::add(ops::mul(fgt, c), ops::mul(i, ct));
        if (pd.defined()) og = ops::add(og, ops::mul(gate(pd, 1), cNew));
        hNew = ops::mul(act(0, og), f[2](cNew));
      }
      Tensor y = hNew;
      if (masked) {
        std::vector<double> mv(static_cast<size_t>(batch));
        for (int64_t bi = 0; bi < batch; ++bi) mv[bi] = t < lengths[bi] ? 1.0 : 0.0;
        Tensor mask = fromDoubles(mv, {batch, 1}, DType::kBool, x.device());
        y = ops::where(mask, hNew, scalarOf(0.0, hNew));
        hNew = ops::where(mask, hNew, h);
        if (cNew.defined()) cNew = ops::where(mask, cNew, c);
      }
      h = hNew;
      if (cNew.defined()) c = cNew;
      steps[static_cast<size_t>(t)] = ops::unsqueeze(y, {0});
    }
    ys.push_back(ops::unsqueeze(ops::concat(steps, 0), {1}));  // [S, 1, B, H]
    hs.push_back(ops::unsqueeze(h, {0}));
    cs.push_back(ops::unsqueeze(c, {0}));
  }
  Tensor y = ys.size() == 1 ? ys[0] : ops::concat(ys, 1);   // [S, D, B, H]
  Tensor yh = hs.size() == 1 ? hs[0] : ops::concat(hs, 0);  // [D, B, H]
  Tensor yc = cs.size() == 1 ? cs[0] : ops::concat(cs, 0);
  if (layout1) {
    y = ops::transpose(y, {2, 0, 1, 3});  // [B, S, D, H]
    yh = ops::transpose(yh, {1, 0, 2});
    yc = ops::transpose(yc, {1, 0, 2});
  }
  Tensors out{y, yh};
  if (C == Cell::kLstm) out.push_back(yc);
  return out;
}

}  // namespace

void registerRnnConverters(ConverterRegistry& r) {
  r.add("RNN", 7, convertRecurrent<Cell::kRnn>);
  r.add("GRU", 7, convertRecurrent<Cell::kGru>);
  r.add("LSTM", 7, convertRecurrent<Cell::kLstm>);
}

}  // namespace singa::onnxio
