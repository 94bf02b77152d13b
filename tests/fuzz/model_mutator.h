// A structure-aware mutator for ONNX models (libFuzzer's custom mutator for fuzz_onnx_exec).
// Byte flips almost never keep a ModelProto parseable and a graph wired, so they stop at the
// parser; these mutations edit the fields a crafted model would: dims of inputs and initializers,
// attribute values (axes, pads, strides, group, blocksize, modes ...), the values of integer
// initializers (index tensors, shapes, repeats), the wiring of node inputs and outputs, op types
// and the opset. Each one leaves a parseable model, so the importer's checks and then the kernels
// are reached. Debian ships no libprotobuf-mutator; this is our own, over the fields we know.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace singa::fuzz {

class ModelMutator {
 public:
  explicit ModelMutator(uint32_t seed) : rng_(seed) {}

  /// Applies 1-3 mutations to `model`.
  void mutate(onnx::ModelProto& model) {
    const int n = 1 + static_cast<int>(below(3));
    for (int i = 0; i < n; ++i) mutateOnce(model);
  }

 private:
  std::mt19937 rng_;

  uint64_t below(uint64_t n) { return n == 0 ? 0 : std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }

  // Sizes and indices at the edges: zero, one, negative, around 2^31 and 2^32, near int64's end.
  int64_t interestingInt() {
    static const int64_t kValues[] = {0, 1, 2, 3, -1, -2, 7, 64, 255, 256, 1 << 16, INT32_MAX, int64_t{1} << 31,
                                      int64_t{1} << 32, (int64_t{1} << 32) + 1, int64_t{1} << 40, int64_t{1} << 62,
                                      std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min(),
                                      -(int64_t{1} << 31), INT32_MIN};
    if (below(3) == 0) return static_cast<int64_t>(below(9)) - 4;
    return kValues[below(sizeof(kValues) / sizeof(kValues[0]))];
  }

  float interestingFloat() {
    static const float kValues[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, 2.0f, 1e-30f, 1e30f, -1e30f,
                                    std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                                    std::numeric_limits<float>::quiet_NaN(), 65536.0f};
    return kValues[below(sizeof(kValues) / sizeof(kValues[0]))];
  }

  std::string interestingString() {
    static const char* kValues[] = {"", "constant", "reflect", "edge", "wrap", "nearest", "linear", "cubic",
                                    "half_pixel", "asymmetric", "align_corners", "NOTSET", "SAME_UPPER",
                                    "SAME_LOWER", "VALID", "DCR", "CRD", "bilinear", "zeros", "border",
                                    "reflection", "add", "mul", "max", "min", "none", "ij,jk->ik", "i,i",
                                    "...ii->...i", "ab,bc->", "relu", "tanh", "sigmoid", "forward",
                                    "bidirectional", "reverse", "round_prefer_floor", "floor", "ceil",
                                    "\xff\xfe", "i,j->ijklmnopqrstuvwxyz"};
    return kValues[below(sizeof(kValues) / sizeof(kValues[0]))];
  }

  std::string someOpType() {
    static const char* kOps[] = {
        "Add", "Mul", "Div", "Mod", "Sub", "Pow", "MatMul", "Gemm", "Conv", "ConvTranspose", "MaxPool",
        "AveragePool", "GlobalAveragePool", "LpPool", "BatchNormalization", "InstanceNormalization",
        "LayerNormalization", "Relu", "Softmax", "LogSoftmax", "Reshape", "Transpose", "Flatten", "Squeeze",
        "Unsqueeze", "Concat", "Split", "Slice", "Gather", "GatherElements", "GatherND", "ScatterElements",
        "ScatterND", "Scatter", "Expand", "Tile", "Pad", "ConstantOfShape", "Range", "OneHot", "TopK",
        "ReduceSum", "ReduceMean", "ReduceMax", "ArgMax", "CumSum", "DepthToSpace", "SpaceToDepth", "Resize",
        "Upsample", "GridSample", "RoiAlign", "NonMaxSuppression", "Einsum", "Trilu", "EyeLike", "Compress",
        "Unique", "NonZero", "Where", "Cast", "Shape", "Size", "Identity", "Clip", "LRN", "Dropout",
        "MaxUnpool", "ReverseSequence", "SequenceAt", "SplitToSequence", "ConcatFromSequence", "DFT", "STFT",
        "Hardmax", "MeanVarianceNormalization", "QuantizeLinear", "DequantizeLinear", "LSTM", "GRU", "RNN",
        "CenterCropPad", "Col2Im", "Bernoulli", "RandomNormal", "Multinomial", "Det", "BitShift"};
    return kOps[below(sizeof(kOps) / sizeof(kOps[0]))];
  }

  // All value names of the graph (inputs, initializers, node outputs), for rewiring.
  static std::vector<std::string> valueNames(const onnx::GraphProto& g) {
    std::vector<std::string> names;
    for (const auto& v : g.input()) names.push_back(v.name());
    for (const auto& t : g.initializer()) names.push_back(t.name());
    for (const auto& n : g.node()) names.insert(names.end(), n.output().begin(), n.output().end());
    return names;
  }

  void mutateDims(onnx::TensorShapeProto* shape) {
    if (shape->dim_size() == 0 || below(4) == 0) {
      shape->add_dim()->set_dim_value(1 + static_cast<int64_t>(below(4)));
      return;
    }
    auto* d = shape->mutable_dim(static_cast<int>(below(static_cast<uint64_t>(shape->dim_size()))));
    if (below(5) == 0) {
      d->set_dim_param("N");
    } else {
      d->set_dim_value(interestingInt());
    }
  }

  void mutateAttribute(onnx::NodeProto* node) {
    static const char* kNames[] = {"axis", "axes", "perm", "pads", "strides", "kernel_shape", "dilations",
                                   "group", "blocksize", "k", "batch_dims", "mode", "keepdims", "split",
                                   "output_padding", "output_shape", "to", "epsilon", "alpha", "beta",
                                   "transA", "transB", "upper", "largest", "sorted", "exclusive", "reverse",
                                   "equation", "auto_pad", "ceil_pad", "ceil_mode", "storage_order", "size",
                                   "allowzero", "start", "end", "coordinate_transformation_mode",
                                   "hidden_size", "direction", "layout", "onesided", "axes_", "value"};
    if (node->attribute_size() == 0 || below(4) == 0) {
      auto* a = node->add_attribute();
      a->set_name(kNames[below(sizeof(kNames) / sizeof(kNames[0]))]);
      switch (below(4)) {
        case 0: a->set_type(onnx::AttributeProto::INT); a->set_i(interestingInt()); break;
        case 1: a->set_type(onnx::AttributeProto::INTS);
                for (uint64_t i = 0, n = below(5); i < n; ++i) a->add_ints(interestingInt());
                break;
        case 2: a->set_type(onnx::AttributeProto::FLOAT); a->set_f(interestingFloat()); break;
        default: a->set_type(onnx::AttributeProto::STRING); a->set_s(interestingString()); break;
      }
      return;
    }
    auto* a = node->mutable_attribute(static_cast<int>(below(static_cast<uint64_t>(node->attribute_size()))));
    switch (a->type()) {
      case onnx::AttributeProto::INT: a->set_i(interestingInt()); break;
      case onnx::AttributeProto::FLOAT: a->set_f(interestingFloat()); break;
      case onnx::AttributeProto::STRING: a->set_s(interestingString()); break;
      case onnx::AttributeProto::INTS:
        if (a->ints_size() > 0 && below(3) != 0) {
          a->set_ints(static_cast<int>(below(static_cast<uint64_t>(a->ints_size()))), interestingInt());
        } else if (a->ints_size() > 0 && below(2) == 0) {
          a->mutable_ints()->RemoveLast();
        } else {
          a->add_ints(interestingInt());
        }
        break;
      case onnx::AttributeProto::FLOATS:
        if (a->floats_size() > 0) {
          a->set_floats(static_cast<int>(below(static_cast<uint64_t>(a->floats_size()))), interestingFloat());
        } else {
          a->add_floats(interestingFloat());
        }
        break;
      case onnx::AttributeProto::TENSOR: mutateTensor(a->mutable_t()); break;
      default: a->set_type(onnx::AttributeProto::INT); a->set_i(interestingInt()); break;
    }
  }

  // Integer element values (index tensors, shapes, repeats, pads) and dims of a stored tensor.
  void mutateTensor(onnx::TensorProto* t) {
    const int type = t->data_type();
    if (below(4) == 0 || !t->has_raw_data()) {
      if (t->dims_size() > 0) t->set_dims(static_cast<int>(below(static_cast<uint64_t>(t->dims_size()))), interestingInt());
      return;
    }
    std::string* raw = t->mutable_raw_data();
    if (raw->empty()) return;
    if (type == onnx::TensorProto::INT64 && raw->size() >= 8) {
      const int64_t v = interestingInt();
      std::memcpy(raw->data() + 8 * below(raw->size() / 8), &v, 8);
    } else if (type == onnx::TensorProto::INT32 && raw->size() >= 4) {
      const auto v = static_cast<int32_t>(interestingInt());
      std::memcpy(raw->data() + 4 * below(raw->size() / 4), &v, 4);
    } else if (type == onnx::TensorProto::FLOAT && raw->size() >= 4) {
      const float v = interestingFloat();
      std::memcpy(raw->data() + 4 * below(raw->size() / 4), &v, 4);
    } else {
      (*raw)[below(raw->size())] = static_cast<char>(below(256));
    }
  }

  void mutateOnce(onnx::ModelProto& model) {
    onnx::GraphProto* g = model.mutable_graph();
    const auto pickNode = [&]() -> onnx::NodeProto* {
      return g->node_size() == 0 ? nullptr : g->mutable_node(static_cast<int>(below(static_cast<uint64_t>(g->node_size()))));
    };
    switch (below(10)) {
      case 0:
      case 1: {  // a node's attribute
        if (auto* n = pickNode()) mutateAttribute(n);
        break;
      }
      case 2: {  // a declared input or output shape
        auto* list = below(3) == 0 ? g->mutable_output() : g->mutable_input();
        if (list->empty()) break;
        auto* v = list->Mutable(static_cast<int>(below(static_cast<uint64_t>(list->size()))));
        mutateDims(v->mutable_type()->mutable_tensor_type()->mutable_shape());
        break;
      }
      case 3:
      case 4: {  // an initializer's values or dims
        if (g->initializer_size() == 0) break;
        mutateTensor(g->mutable_initializer(static_cast<int>(below(static_cast<uint64_t>(g->initializer_size())))));
        break;
      }
      case 5: {  // rewire a node input (another value, empty, or a name nothing produces)
        auto* n = pickNode();
        if (n == nullptr) break;
        const std::vector<std::string> names = valueNames(*g);
        const std::string name = below(6) == 0 ? std::string() : below(6) == 0 ? "missing" : names.empty() ? "" : names[below(names.size())];
        if (n->input_size() > 0 && below(4) != 0) {
          n->set_input(static_cast<int>(below(static_cast<uint64_t>(n->input_size()))), name);
        } else if (below(2) == 0) {
          n->add_input(name);
        } else if (n->input_size() > 0) {
          n->mutable_input()->RemoveLast();
        }
        break;
      }
      case 6: {  // outputs: rename, duplicate another node's, add or drop one
        auto* n = pickNode();
        if (n == nullptr) break;
        const std::vector<std::string> names = valueNames(*g);
        if (n->output_size() > 0 && below(2) == 0 && !names.empty()) {
          n->set_output(static_cast<int>(below(static_cast<uint64_t>(n->output_size()))), names[below(names.size())]);
        } else if (below(2) == 0) {
          n->add_output("extra" + std::to_string(below(4)));
        } else if (n->output_size() > 0) {
          n->mutable_output()->RemoveLast();
        }
        break;
      }
      case 7: {  // node order and count: swap, duplicate, delete
        if (g->node_size() == 0) break;
        const int a = static_cast<int>(below(static_cast<uint64_t>(g->node_size())));
        const int b = static_cast<int>(below(static_cast<uint64_t>(g->node_size())));
        const uint64_t what = below(3);
        if (what == 0) {
          g->mutable_node()->SwapElements(a, b);
        } else if (what == 1 && g->node_size() < 64) {
          *g->add_node() = g->node(a);
        } else {
          g->mutable_node()->SwapElements(a, g->node_size() - 1);
          g->mutable_node()->RemoveLast();
        }
        break;
      }
      case 8: {  // op type
        if (auto* n = pickNode()) n->set_op_type(someOpType());
        break;
      }
      default: {  // opset, or an input's element type
        if (below(2) == 0 && model.opset_import_size() > 0) {
          model.mutable_opset_import(0)->set_version(below(4) == 0 ? interestingInt() : 1 + static_cast<int64_t>(below(24)));
        } else if (g->input_size() > 0) {
          auto* v = g->mutable_input(static_cast<int>(below(static_cast<uint64_t>(g->input_size()))));
          static const int kTypes[] = {1, 2, 3, 6, 7, 9, 10, 11, 16};
          v->mutable_type()->mutable_tensor_type()->set_elem_type(kTypes[below(9)]);
        }
        break;
      }
    }
  }
};

}  // namespace singa::fuzz
