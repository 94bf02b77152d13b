// The sequence-model operators (converters_seqmodel.cc): CausalConvWithState, LinearAttention and
// FlexAttention. Forward values against plain double-precision loops written from the operators'
// formulas here; gradients of every float input against finite differences (float64, every
// float input a graph input); export of the traced model and re-import (same outputs); and
// hostile attributes and shapes, which must fail with a message naming the node and the fix.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gradcheck.h"
#include "singa/onnx/export.h"
#include "singa/onnx/import.h"
#include "onnx_model_builder.h"

namespace singa {
namespace {

using namespace singa::test;

constexpr const char* kPreview = "ai.onnx.preview";

std::vector<double> vec(const Tensor& t) { return t.to(DType::kFloat64).toVector<double>(); }

struct In {
  std::string name;  // empty: an absent optional input
  Tensor value;
};

// One node of `op` reading graph inputs `ins` (float64), `outputs` float64 outputs y0, y1, ...
struct SeqModel {
  onnx::ModelProto proto;
  onnx::NodeProto* node = nullptr;
  std::vector<Tensor> values;
  SeqModel(const std::string& op, std::vector<In> ins, int opset, int outputs, const std::string& domain = "") {
    proto = makeModel(opset);
    if (!domain.empty()) {
      auto* imp = proto.add_opset_import();
      imp->set_domain(domain);
      imp->set_version(1);
    }
    std::vector<std::string> names;
    for (In& in : ins) {
      names.push_back(in.name);
      if (in.name.empty()) continue;
      addInput(proto, in.name, in.value.shape(), onnx::TensorProto::DOUBLE);
      values.push_back(in.value.to(DType::kFloat64));
    }
    std::vector<std::string> outs;
    for (int k = 0; k < outputs; ++k) outs.push_back("y" + std::to_string(k));
    node = addNode(proto, op, names, outs, "n");
    node->set_domain(domain);
    for (const auto& o : outs) {
      addOutput(proto, o);
      proto.mutable_graph()->mutable_output()->rbegin()->mutable_type()->mutable_tensor_type()->set_elem_type(
          onnx::TensorProto::DOUBLE);
    }
  }
  SeqModel(const SeqModel&) = delete;  // `node` points into `proto`
  SeqModel& operator=(const SeqModel&) = delete;

  std::vector<Tensor> run() { return onnxio::prepare(proto)->run(values); }
  // Every output, flattened into one vector, against finite differences.
  void checkGradients() {
    auto model = onnxio::prepare(proto);
    std::vector<Tensor> xs;
    for (const Tensor& v : values) xs.push_back(v.clone().setRequiresGrad(true));
    expectGradientsMatch(
        [&](const std::vector<Tensor>& in) {
          std::vector<Tensor> flat;
          for (const Tensor& y : model->run(in)) flat.push_back(ops::reshape(y, {-1}));
          return ops::concat(flat, 0);
        },
        xs, 1e-6, 1e-5, 1e-4);
  }
  // Traced and exported (as the engine ops the converter composed), re-imported: same outputs.
  void checkExportRoundTrip() {
    auto model = onnxio::prepare(proto);
    const std::vector<Tensor> want = model->run(values);
    const onnx::ModelProto exported =
        onnxio::exportFunction([&](const std::vector<Tensor>& xs) { return model->run(xs); }, values);
    const std::vector<Tensor> got = onnxio::prepare(exported)->run(values);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].shape(), want[i].shape());
      const std::vector<double> g = vec(got[i]), w = vec(want[i]);
      for (size_t j = 0; j < g.size(); ++j) EXPECT_NEAR(g[j], w[j], 1e-12) << "output " << i << " element " << j;
    }
  }
  // The message of the error running the model throws (a test failure when none).
  std::string error() {
    try {
      run();
    } catch (const Error& e) {
      return e.what();
    }
    ADD_FAILURE() << "no exception";
    return "";
  }
};

void setString(onnx::NodeProto* n, const std::string& name, const std::string& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}

// The message names the node, the op and each of `words`.
void expectNames(const std::string& msg, const std::string& op, const std::vector<std::string>& words) {
  EXPECT_NE(msg.find("node 'n' (" + op + ")"), std::string::npos) << msg;
  for (const std::string& w : words) EXPECT_NE(msg.find(w), std::string::npos) << "missing '" << w << "' in: " << msg;
}

Tensor values(const Shape& shape, double scale = 1.0, double shift = 0.0, double freq = 0.7) {
  std::vector<double> v(static_cast<size_t>(numelOf(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = scale * std::sin(freq * static_cast<double>(i) + 0.3) + shift;
  return Tensor::fromVector(v, shape);
}

void expectNear(const Tensor& got, const std::vector<double>& want, const Shape& shape, double tol = 1e-9) {
  ASSERT_EQ(got.shape(), shape);
  const std::vector<double> g = vec(got);
  ASSERT_EQ(g.size(), want.size());
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], want[i], tol) << "element " << i;
}

// ---- CausalConvWithState -----------------------------------------------------------------------

// out[b,c,t] = act(bias[c] + sum_j w[c,j] * p[b,c,t+j]), p = past ++ x; present = last k-1 of p.
void causalConvReference(const Tensor& xT, const Tensor& wT, const Tensor& biasT, const Tensor& pastT, bool silu,
                         std::vector<double>* out, std::vector<double>* present) {
  const int64_t B = xT.dim(0), C = xT.dim(1), L = xT.dim(2), K = wT.dim(2);
  const std::vector<double> x = vec(xT), w = vec(wT);
  const std::vector<double> bias = biasT.defined() ? vec(biasT) : std::vector<double>(C, 0.0);
  const std::vector<double> past = pastT.defined() ? vec(pastT) : std::vector<double>(B * C * (K - 1), 0.0);
  const int64_t P = L + K - 1;
  auto padded = [&](int64_t b, int64_t c, int64_t i) {
    return i < K - 1 ? past[(b * C + c) * (K - 1) + i] : x[(b * C + c) * L + i - (K - 1)];
  };
  out->clear();
  present->clear();
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t t = 0; t < L; ++t) {
        double s = bias[c];
        for (int64_t j = 0; j < K; ++j) s += w[c * K + j] * padded(b, c, t + j);
        out->push_back(silu ? s / (1.0 + std::exp(-s)) : s);
      }
    }
  }
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t i = P - (K - 1); i < P; ++i) present->push_back(padded(b, c, i));
    }
  }
}

TEST(OnnxSeqModel, CausalConvWithStateMatchesLoopsAndGradients) {
  const Tensor x = values({2, 3, 5}), w = values({3, 1, 4}, 0.6, 0.1), bias = values({3}, 0.3);
  const Tensor past = values({2, 3, 3}, 0.9, -0.2, 1.3);
  for (const char* act : {"none", "silu", "swish"}) {
    SeqModel m("CausalConvWithState", {{"x", x}, {"w", w}, {"b", bias}, {"past", past}}, 27, 2);
    setString(m.node, "activation", act);
    std::vector<double> out, present;
    causalConvReference(x, w, bias, past, std::string(act) != "none", &out, &present);
    const std::vector<Tensor> ys = m.run();
    expectNear(ys[0], out, {2, 3, 5});
    expectNear(ys[1], present, {2, 3, 3});
    m.checkGradients();  // input, weight, bias and past_state
    m.checkExportRoundTrip();
  }
}

TEST(OnnxSeqModel, CausalConvWithStateShortInputNoPastKeepsZeroPadding) {
  // length 2 < k - 1 = 4: the state holds two zeros of padding, then the input.
  const Tensor x = values({1, 2, 2}), w = values({2, 1, 5}, 0.5);
  SeqModel m("CausalConvWithState", {{"x", x}, {"w", w}}, 27, 2);
  std::vector<double> out, present;
  causalConvReference(x, w, Tensor(), Tensor(), false, &out, &present);
  const std::vector<Tensor> ys = m.run();
  expectNear(ys[0], out, {1, 2, 2});
  expectNear(ys[1], present, {1, 2, 4});
  EXPECT_EQ(present[0], 0.0);
  m.checkGradients();
}

TEST(OnnxSeqModel, CausalConvWithStateHostileInputsAreRejected) {
  {
    SeqModel m("CausalConvWithState", {{"x", values({1, 2, 3})}, {"w", values({2, 1, 2})}}, 27, 2);
    setString(m.node, "activation", "gelu");
    expectNames(m.error(), "CausalConvWithState", {"activation", "\"gelu\"", "silu"});
  }
  {  // weight for 3 channels, input of 2
    SeqModel m("CausalConvWithState", {{"x", values({1, 2, 3})}, {"w", values({3, 1, 2})}}, 27, 2);
    expectNames(m.error(), "CausalConvWithState", {"weight must be [channels, 1, k]", "[3, 1, 2]"});
  }
  {  // past_state of the wrong length
    SeqModel m("CausalConvWithState",
               {{"x", values({1, 2, 3})}, {"w", values({2, 1, 3})}, {"", Tensor()}, {"p", values({1, 2, 5})}}, 27, 2);
    expectNames(m.error(), "CausalConvWithState", {"past_state must be", "[1, 2, 2]", "[1, 2, 5]"});
  }
}

// ---- LinearAttention ---------------------------------------------------------------------------

struct LinearAttentionCase {
  int64_t B = 2, T = 3, hq = 4, hkv = 2, dk = 3, dv = 2;
  bool gated = true, delta = true, perHeadDecay = false, scalarBeta = false, past = true;
  double scale = 0.0;
};

// The recurrence of the operator's definition, one query head at a time.
void linearAttentionReference(const LinearAttentionCase& c, const std::vector<Tensor>& in,
                              std::vector<double>* out, std::vector<double>* state) {
  const std::vector<double> q = vec(in[0]), k = vec(in[1]), v = vec(in[2]);
  size_t next = 3;
  std::vector<double> S = c.past ? vec(in[next++]) : std::vector<double>(c.B * c.hkv * c.dk * c.dv, 0.0);
  const std::vector<double> g = c.gated ? vec(in[next++]) : std::vector<double>();
  const std::vector<double> beta = c.delta ? vec(in[next++]) : std::vector<double>();
  const double scale = c.scale != 0.0 ? c.scale : 1.0 / std::sqrt(static_cast<double>(c.dk));
  const int64_t G = c.hq / c.hkv, gw = c.perHeadDecay ? 1 : c.dk, bw = c.scalarBeta ? 1 : c.hkv;
  out->assign(c.B * c.T * c.hq * c.dv, 0.0);
  auto s = [&](int64_t b, int64_t h, int64_t i, int64_t j) -> double& {
    return S[((b * c.hkv + h) * c.dk + i) * c.dv + j];
  };
  for (int64_t t = 0; t < c.T; ++t) {
    for (int64_t b = 0; b < c.B; ++b) {
      for (int64_t h = 0; h < c.hkv; ++h) {
        const double* kt = &k[(b * c.T + t) * c.hkv * c.dk + h * c.dk];
        const double* vt = &v[(b * c.T + t) * c.hkv * c.dv + h * c.dv];
        if (c.gated) {
          for (int64_t i = 0; i < c.dk; ++i) {
            const double e = std::exp(g[((b * c.T + t) * c.hkv + h) * gw + (c.perHeadDecay ? 0 : i)]);
            for (int64_t j = 0; j < c.dv; ++j) s(b, h, i, j) *= e;
          }
        }
        std::vector<double> write(vt, vt + c.dv);
        if (c.delta) {
          const double bt = beta[(b * c.T + t) * bw + (c.scalarBeta ? 0 : h)];
          for (int64_t j = 0; j < c.dv; ++j) {
            double r = 0;
            for (int64_t i = 0; i < c.dk; ++i) r += s(b, h, i, j) * kt[i];
            write[j] = bt * (vt[j] - r);
          }
        }
        for (int64_t i = 0; i < c.dk; ++i) {
          for (int64_t j = 0; j < c.dv; ++j) s(b, h, i, j) += kt[i] * write[j];
        }
        for (int64_t gq = 0; gq < G; ++gq) {
          const int64_t qh = h * G + gq;  // the query heads of KV head h
          const double* qt = &q[(b * c.T + t) * c.hq * c.dk + qh * c.dk];
          for (int64_t j = 0; j < c.dv; ++j) {
            double o = 0;
            for (int64_t i = 0; i < c.dk; ++i) o += qt[i] * s(b, h, i, j);
            (*out)[((b * c.T + t) * c.hq + qh) * c.dv + j] = scale * o;
          }
        }
      }
    }
  }
  *state = S;
}

void checkLinearAttention(const LinearAttentionCase& c, const char* rule) {
  std::vector<In> ins{{"q", values({c.B, c.T, c.hq * c.dk}, 0.8)},
                      {"k", values({c.B, c.T, c.hkv * c.dk}, 0.5, 0.1, 1.1)},
                      {"v", values({c.B, c.T, c.hkv * c.dv}, 0.9, -0.1, 0.4)},
                      {c.past ? "past" : "", c.past ? values({c.B, c.hkv, c.dk, c.dv}, 0.4, 0.0, 0.9) : Tensor()},
                      {c.gated ? "g" : "",
                       c.gated ? values({c.B, c.T, c.hkv * (c.perHeadDecay ? 1 : c.dk)}, 0.3, -0.4, 0.5) : Tensor()},
                      {c.delta ? "beta" : "", c.delta ? values({c.B, c.T, c.scalarBeta ? 1 : c.hkv}, 0.3, 0.5, 0.8)
                                                  : Tensor()}};
  while (!ins.empty() && ins.back().name.empty()) ins.pop_back();
  SeqModel m("LinearAttention", ins, 27, 2);
  setInt(m.node, "q_num_heads", c.hq);
  setInt(m.node, "kv_num_heads", c.hkv);
  setString(m.node, "update_rule", rule);
  if (c.scale != 0.0) setFloat(m.node, "scale", static_cast<float>(c.scale));
  std::vector<double> out, state;
  linearAttentionReference(c, m.values, &out, &state);
  const std::vector<Tensor> ys = m.run();
  expectNear(ys[0], out, {c.B, c.T, c.hq * c.dv});
  expectNear(ys[1], state, {c.B, c.hkv, c.dk, c.dv});
  m.checkGradients();  // query, key, value, past_state, decay and beta
  m.checkExportRoundTrip();
}

TEST(OnnxSeqModel, LinearAttentionGatedDeltaGroupedQueryWithPast) {
  checkLinearAttention({}, "gated_delta");
}

TEST(OnnxSeqModel, LinearAttentionEveryRuleMatchesTheRecurrence) {
  LinearAttentionCase linear;
  linear.gated = linear.delta = false;
  linear.past = false;
  checkLinearAttention(linear, "linear");
  LinearAttentionCase gated;
  gated.delta = false;
  gated.perHeadDecay = true;
  gated.hq = gated.hkv;  // multi-head, no grouping
  checkLinearAttention(gated, "gated");
  LinearAttentionCase delta;
  delta.gated = false;
  delta.scalarBeta = true;
  delta.hkv = 1;  // multi-query
  delta.scale = 0.75;  // exact in the float attribute
  checkLinearAttention(delta, "delta");
}

TEST(OnnxSeqModel, LinearAttentionHostileAttributesAreRejected) {
  auto model = [](int64_t hq, int64_t hkv, const char* rule) {
    const std::vector<In> qkv{{"q", values({1, 2, 8})}, {"k", values({1, 2, 8})}, {"v", values({1, 2, 8})}};
    auto m = std::make_unique<SeqModel>("LinearAttention", qkv, 27, 2);
    setInt(m->node, "q_num_heads", hq);
    setInt(m->node, "kv_num_heads", hkv);
    setString(m->node, "update_rule", rule);
    return m;
  };
  expectNames(model(0, 2, "linear")->error(), "LinearAttention", {"q_num_heads (0)", "positive multiple"});
  expectNames(model(4, 3, "linear")->error(), "LinearAttention", {"q_num_heads (4)", "kv_num_heads (3)"});
  expectNames(model(2, 2, "mamba")->error(), "LinearAttention", {"update_rule", "\"mamba\""});
  expectNames(model(2, 2, "gated_delta")->error(), "LinearAttention", {"requires the decay input"});
  // d_k = d_v = 2^20 from 2^21-element inputs would make a 2^40-element state: refused, not allocated.
  SeqModel big("LinearAttention", {{"q", values({1, 1, 1 << 21})}, {"k", values({1, 1, 1 << 21})},
                                   {"v", values({1, 1, 1 << 21})}},
               27, 2);
  setInt(big.node, "q_num_heads", 2);
  setInt(big.node, "kv_num_heads", 2);
  setString(big.node, "update_rule", "linear");
  const std::string msg = big.error();
  expectNames(msg, "LinearAttention", {"LinearAttention state"});
}

// ---- FlexAttention -----------------------------------------------------------------------------

// A one-input one-output modifier graph: out = op(in, c) with the scalar initializer c, or
// out = tanh(in / c) * c when op is "softcap".
void addModifier(onnx::NodeProto* node, const std::string& attr, const std::string& op, double c, int outputs = 1) {
  auto* a = node->add_attribute();
  a->set_name(attr);
  a->set_type(onnx::AttributeProto::GRAPH);
  onnx::GraphProto* g = a->mutable_g();
  g->set_name(attr + "_graph");
  auto* in = g->add_input();
  in->set_name("s");
  in->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::DOUBLE);
  onnxio::toTensorProto(Tensor::fromVector<double>({c}, {}), "c", g->add_initializer());
  auto add = [&](const std::string& type, std::vector<std::string> ins, const std::string& out) {
    auto* n = g->add_node();
    n->set_op_type(type);
    for (const auto& i : ins) n->add_input(i);
    n->add_output(out);
  };
  if (op == "softcap") {
    add("Div", {"s", "c"}, "d");
    add("Tanh", {"d"}, "t");
    add("Mul", {"t", "c"}, "out");
  } else {
    add(op, {"s", "c"}, "out");
  }
  for (int k = 0; k < outputs; ++k) g->add_output()->set_name(k == 0 ? "out" : "s");
}

// Y = softmax(mod(scale Q K^T)) V per query head, K/V head h / (Hq / Hkv); mod = softcap(cap) or none.
std::vector<double> flexReference(const Tensor& qT, const Tensor& kT, const Tensor& vT, double scale, double cap) {
  const int64_t B = qT.dim(0), Hq = qT.dim(1), L = qT.dim(2), E = qT.dim(3);
  const int64_t Hkv = kT.dim(1), S = kT.dim(2), Ev = vT.dim(3);
  const std::vector<double> q = vec(qT), k = vec(kT), v = vec(vT);
  std::vector<double> y;
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < Hq; ++h) {
      const int64_t hk = h / (Hq / Hkv);
      for (int64_t i = 0; i < L; ++i) {
        std::vector<double> p(S);
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < S; ++j) {
          double s = 0;
          for (int64_t e = 0; e < E; ++e) s += q[((b * Hq + h) * L + i) * E + e] * k[((b * Hkv + hk) * S + j) * E + e];
          s *= scale;
          if (cap > 0) s = std::tanh(s / cap) * cap;
          p[j] = s;
          mx = std::max(mx, s);
        }
        for (double& x : p) sum += (x = std::exp(x - mx));
        for (int64_t d = 0; d < Ev; ++d) {
          double o = 0;
          for (int64_t j = 0; j < S; ++j) o += p[j] / sum * v[((b * Hkv + hk) * S + j) * Ev + d];
          y.push_back(o);
        }
      }
    }
  }
  return y;
}

TEST(OnnxSeqModel, FlexAttentionScoreModGroupedQueryMatchesLoopsAndGradients) {
  const Tensor q = values({1, 4, 3, 2}, 0.9), k = values({1, 2, 5, 2}, 0.8, 0.1, 1.1);
  const Tensor v = values({1, 2, 5, 3}, 1.0, 0, 0.4);
  SeqModel m("FlexAttention", {{"Q", q}, {"K", k}, {"V", v}}, 26, 1, kPreview);
  setFloat(m.node, "scale", 0.75f);
  addModifier(m.node, "score_mod", "softcap", 0.5);
  // sqrt(scale) is taken in float32 (the definition), so the product carries float32 rounding.
  expectNear(m.run()[0], flexReference(q, k, v, 0.75, 0.5), {1, 4, 3, 3}, 1e-6);
  m.checkGradients();
  m.checkExportRoundTrip();  // the score_mod subgraph's ops inlined
}

TEST(OnnxSeqModel, FlexAttentionProbModGradients) {
  const Tensor q = values({2, 1, 2, 3}, 0.9), k = values({2, 1, 3, 3}, 0.8, 0.1, 1.1), v = values({2, 1, 3, 2});
  SeqModel m("FlexAttention", {{"Q", q}, {"K", k}, {"V", v}}, 26, 1, kPreview);
  addModifier(m.node, "prob_mod", "Mul", 2.0);
  std::vector<double> want = flexReference(q, k, v, 1.0 / std::sqrt(3.0), 0);
  for (double& w : want) w *= 2.0;
  expectNear(m.run()[0], want, {2, 1, 2, 2}, 1e-6);  // the default scale passes through float32
  m.checkGradients();
}

TEST(OnnxSeqModel, FlexAttentionHostileInputsAreRejected) {
  const std::vector<In> qkv{{"Q", values({1, 3, 2, 2})}, {"K", values({1, 2, 2, 2})}, {"V", values({1, 2, 2, 2})}};
  {
    SeqModel m("FlexAttention", qkv, 26, 1, kPreview);
    expectNames(m.error(), "FlexAttention", {"query head count 3", "key/value head count 2"});
  }
  const std::vector<In> ok{{"Q", values({1, 2, 2, 2})}, {"K", values({1, 2, 2, 2})}, {"V", values({1, 2, 2, 2})}};
  {
    std::vector<In> four = ok;
    four.push_back({"extra", values({1})});
    SeqModel m("FlexAttention", four, 26, 1, kPreview);
    expectNames(m.error(), "FlexAttention", {"exactly 3 inputs", "got 4"});
  }
  {
    SeqModel m("FlexAttention", ok, 26, 1, kPreview);
    setInt(m.node, "softmax_precision", 7);
    expectNames(m.error(), "FlexAttention", {"softmax_precision = 7"});
  }
  {
    SeqModel m("FlexAttention", ok, 26, 1, kPreview);
    addModifier(m.node, "score_mod", "Add", 1.0, 2);
    expectNames(m.error(), "FlexAttention", {"score_mod must declare exactly one input and one output"});
  }
  {  // a modifier that changes the shape: Tile doubles the last dim
    SeqModel m("FlexAttention", ok, 26, 1, kPreview);
    auto* a = m.node->add_attribute();
    a->set_name("prob_mod");
    a->set_type(onnx::AttributeProto::GRAPH);
    onnx::GraphProto* g = a->mutable_g();
    g->set_name("widen");
    g->add_input()->set_name("p");
    onnxio::toTensorProto(Tensor::fromVector<int64_t>({1, 1, 1, 2}, {4}), "reps", g->add_initializer());
    auto* n = g->add_node();
    n->set_op_type("Tile");
    n->add_input("p");
    n->add_input("reps");
    n->add_output("out");
    g->add_output()->set_name("out");
    expectNames(m.error(), "FlexAttention", {"prob_mod must return its input's dtype and shape", "[1, 2, 2, 4]"});
  }
}

}  // namespace
}  // namespace singa
