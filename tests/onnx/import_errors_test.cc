// ONNX import error paths (missing / truncated / non-ONNX files, unsupported ops listed together,
// wrong input shape or dtype, missing external data, too-new opsets) and TensorProto I/O.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <fstream>
#include <string>

#include "singa/autograd/node.h"
#include "singa/core/error.h"
#include "singa/core/memory_limit.h"
#include "singa/onnx/backend_test.h"
#include "singa/onnx/import.h"
#include "singa/onnx/model_io.h"
#include "onnx_model_builder.h"

namespace fs = std::filesystem;

namespace singa {
namespace {

using namespace singa::test;

// A fresh directory per test under the system temp dir.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    path_ = fs::temp_directory_path() / ("singa_onnx_test_" + tag + "_" + std::to_string(::getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

void writeBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

onnx::ModelProto reluModel(int opset = 13) {
  onnx::ModelProto m = makeModel(opset);
  addInput(m, "x", {-1, 3});
  addNode(m, "Relu", {"x"}, {"y"}, "relu");
  addOutput(m, "y");
  return m;
}

template <class E>
std::string messageOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected exception not thrown";
  return "";
}

TEST(OnnxImportErrors, CopiesOfAMergedInitializerPastTheMemoryLimitAreAMemoryErrorNamingThem) {
  // A crafted model names one 16 MiB initializer through 64 Identity nodes: imported for
  // training each becomes a copy (1 GiB in all); under a 128 MiB ceiling that is a MemoryError
  // naming the copy and its source, and for inference nothing is copied.
  onnx::ModelProto m = makeModel(13);
  addInput(m, "x", {4});
  addInit(m, "big", Tensor::zeros({int64_t{4} << 20}));
  std::string sum = "x";
  for (int k = 0; k < 64; ++k) {
    const std::string alias = "alias" + std::to_string(k);
    addNode(m, "Identity", {"big"}, {alias});
    addNode(m, "Add", {sum, alias}, {"s" + std::to_string(k)});  // shapes do not matter: never run
    sum = "s" + std::to_string(k);
  }
  addOutput(m, sum);
  const size_t before = memoryLimit();
  setMemoryLimit(size_t{128} << 20);
  std::string msg;
  try {
    onnxio::prepare(m);
  } catch (const MemoryError& e) {
    msg = e.what();
  }
  onnxio::PrepareOptions inference;
  inference.trainable = false;
  EXPECT_NO_THROW(onnxio::prepare(m, Device::cpu(), inference));
  setMemoryLimit(before);
  EXPECT_NE(msg.find("a copy of initializer 'big'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("trainable = false"), std::string::npos) << msg;
}

TEST(OnnxImportErrors, MissingFileIsAnIoErrorNamingIt) {
  std::string msg = messageOf<IoError>([] { onnxio::loadModel("/nonexistent/dir/model.onnx"); });
  EXPECT_NE(msg.find("/nonexistent/dir/model.onnx"), std::string::npos) << msg;
}

TEST(OnnxImportErrors, TruncatedFileIsAnIoError) {
  TempDir dir("truncated");
  onnx::ModelProto m = reluModel();
  addInit(m, "big", Tensor::zeros({64}));
  std::string bytes = m.SerializeAsString();
  writeBytes(dir.file("model.onnx"), bytes.substr(0, bytes.size() - 40));
  std::string msg = messageOf<IoError>([&] { onnxio::loadModel(dir.file("model.onnx")); });
  EXPECT_NE(msg.find("model.onnx"), std::string::npos) << msg;
}

TEST(OnnxImportErrors, NonOnnxFileIsAnIoError) {
  TempDir dir("text");
  writeBytes(dir.file("notes.txt"), "this is a text file, not an ONNX model\n");
  std::string msg = messageOf<IoError>([&] { onnxio::loadModel(dir.file("notes.txt")); });
  EXPECT_NE(msg.find("notes.txt"), std::string::npos) << msg;
  writeBytes(dir.file("empty.onnx"), "");
  EXPECT_THROW(onnxio::loadModel(dir.file("empty.onnx")), IoError);
}

TEST(OnnxImportErrors, TooNewOpsetIsNotSupported) {
  std::string msg = messageOf<NotSupportedError>([] { onnxio::prepare(reluModel(99)); });
  EXPECT_NE(msg.find("99"), std::string::npos) << msg;
  TempDir dir("opset");
  writeBytes(dir.file("m.onnx"), reluModel(99).SerializeAsString());
  EXPECT_THROW(onnxio::loadModel(dir.file("m.onnx")), NotSupportedError);
}

TEST(OnnxImportErrors, AllUnsupportedOpsAreListedAtOnce) {
  onnx::ModelProto m = makeModel(13);
  addInput(m, "x", {2});
  addNode(m, "FancyOp", {"x"}, {"a"}, "first_fancy");
  addNode(m, "Relu", {"a"}, {"b"}, "fine");
  addNode(m, "OtherOp", {"b"}, {"c"}, "second_other");
  auto* custom = addNode(m, "Relu", {"c"}, {"y"}, "custom_relu");
  custom->set_domain("com.example");
  addOutput(m, "y");
  std::string msg = messageOf<NotSupportedError>([&] { onnxio::prepare(m); });
  for (const char* part : {"first_fancy", "FancyOp", "second_other", "OtherOp", "custom_relu", "com.example",
                           "opset 13"}) {
    EXPECT_NE(msg.find(part), std::string::npos) << part << " missing from: " << msg;
  }
  EXPECT_EQ(msg.find("'fine'"), std::string::npos) << msg;
  EXPECT_EQ(onnxio::findUnsupported(m).size(), 3u);
}

TEST(OnnxImportErrors, WrongInputShapeOrDtypeNamesTheInput) {
  auto model = onnxio::prepare(reluModel());
  EXPECT_NO_THROW(model->forward(Tensor::zeros({5, 3})));  // symbolic batch
  std::string msg = messageOf<ShapeError>([&] { model->forward(Tensor::zeros({5, 4})); });
  EXPECT_NE(msg.find("'x'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[N, 3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[5, 4]"), std::string::npos) << msg;
  EXPECT_THROW(model->forward(Tensor::zeros({3})), ShapeError);
  msg = messageOf<TypeError>([&] { model->forward(Tensor::zeros({5, 3}, DType::kInt64)); });
  EXPECT_NE(msg.find("'x'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("int64"), std::string::npos) << msg;
  EXPECT_THROW(model->run({}), ValueError);
}

TEST(OnnxImportErrors, ExternalDataIsLoadedOrTheMissingFileNamed) {
  TempDir dir("external");
  onnx::ModelProto m = makeModel(13);
  addInput(m, "x", {3});
  auto* init = m.mutable_graph()->add_initializer();
  init->set_name("w");
  init->set_data_type(onnx::TensorProto::FLOAT);
  init->add_dims(3);
  init->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* loc = init->add_external_data();
  loc->set_key("location");
  loc->set_value("weights.bin");
  addNode(m, "Add", {"x", "w"}, {"y"});
  addOutput(m, "y");
  writeBytes(dir.file("model.onnx"), m.SerializeAsString());

  std::string msg = messageOf<IoError>([&] { onnxio::loadModel(dir.file("model.onnx")); });
  EXPECT_NE(msg.find("weights.bin"), std::string::npos) << msg;

  const float w[3] = {1.0f, 2.0f, 3.0f};
  writeBytes(dir.file("weights.bin"), std::string(reinterpret_cast<const char*>(w), sizeof(w)));
  auto model = onnxio::prepareFile(dir.file("model.onnx"));
  std::vector<float> y = model->forward(Tensor::fromVector<float>({1, 1, 1}, {3})).toVector<float>();
  EXPECT_EQ(y, (std::vector<float>{2, 3, 4}));
}

// External data must really lie in the model's directory: a symbolic link named like a weights
// file may point anywhere (its bytes would come back as the tensor's values); FIFOs would hang.
TEST(OnnxImportErrors, ExternalDataOutsideTheModelDirectoryIsRefused) {
  TempDir dir("external_link");
  TempDir outside("external_secret");
  onnx::ModelProto m = makeModel(13);
  auto* init = m.mutable_graph()->add_initializer();
  init->set_name("w");
  init->set_data_type(onnx::TensorProto::FLOAT);
  init->add_dims(2);
  init->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* loc = init->add_external_data();
  loc->set_key("location");
  loc->set_value("w.bin");
  addNode(m, "Identity", {"w"}, {"y"});
  addOutput(m, "y");
  writeBytes(dir.file("model.onnx"), m.SerializeAsString());
  writeBytes(outside.file("secret"), "SECRET!!");
  fs::create_symlink(outside.file("secret"), dir.file("w.bin"));
  std::string msg = messageOf<IoError>([&] { onnxio::loadModel(dir.file("model.onnx")); });
  EXPECT_NE(msg.find("outside the model's directory"), std::string::npos) << msg;

  // A link that stays inside the directory is followed.
  fs::remove(dir.file("w.bin"));
  fs::create_directories(dir.file("data"));
  const float w[2] = {5.0f, 6.0f};
  writeBytes(dir.file("data/real.bin"), std::string(reinterpret_cast<const char*>(w), sizeof(w)));
  fs::create_symlink("data/real.bin", dir.file("w.bin"));
  auto model = onnxio::prepareFile(dir.file("model.onnx"));
  EXPECT_EQ(model->run({})[0].toVector<float>(), (std::vector<float>{5, 6}));

  fs::remove(dir.file("w.bin"));
  ASSERT_EQ(::mkfifo(dir.file("w.bin").c_str(), 0600), 0);
  msg = messageOf<IoError>([&] { onnxio::loadModel(dir.file("model.onnx")); });
  EXPECT_NE(msg.find("FIFO"), std::string::npos) << msg;
}

TEST(OnnxImportErrors, OpsetIsReadAsInt64) {
  onnx::ModelProto m = reluModel();
  m.mutable_opset_import(0)->set_version(int64_t{1} << 40);  // narrowed to int this read as opset 0
  std::string msg = messageOf<NotSupportedError>([&] { onnxio::parseModel(m.SerializeAsString(), "m"); });
  EXPECT_NE(msg.find("opset 1099511627776"), std::string::npos) << msg;
  m.mutable_opset_import(0)->set_version(0);
  msg = messageOf<IoError>([&] { onnxio::parseModel(m.SerializeAsString(), "m"); });
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
}

TEST(OnnxImportErrors, EveryValueHasOneProducer) {
  onnx::ModelProto m = reluModel();
  addNode(m, "Neg", {"x"}, {"y"}, "second");
  std::string msg = messageOf<ValueError>([&] { onnxio::prepare(m); });
  EXPECT_NE(msg.find("'relu' (Relu) and 'second' (Neg) both write 'y'"), std::string::npos) << msg;

  onnx::ModelProto w = reluModel();
  addInit(w, "b", Tensor::fromVector<float>({1, 2, 3}, {3}));
  addNode(w, "Neg", {"x"}, {"b"}, "overwrite");
  msg = messageOf<ValueError>([&] { onnxio::prepare(w); });
  EXPECT_NE(msg.find("already a graph input or initializer"), std::string::npos) << msg;
}

TEST(OnnxImportErrors, CyclesAreNamed) {
  onnx::ModelProto m = makeModel(13);
  addNode(m, "Relu", {"b"}, {"a"}, "ra");
  addNode(m, "Relu", {"a"}, {"b"}, "rb");
  addNode(m, "Identity", {"a"}, {"y"}, "out");
  addOutput(m, "y");
  std::string msg = messageOf<ValueError>([&] { onnxio::prepare(m); });
  EXPECT_NE(msg.find("cycle"), std::string::npos) << msg;
}

// 100,000 nodes listed last-first: the old ordering rescanned every pending node per placed node
// (10^10 steps, hours); this one is linear. The values must still flow in graph order.
TEST(OnnxImportErrors, LongReversedChainIsOrderedInLinearTime) {
  constexpr int kNodes = 100000;
  onnx::ModelProto m = makeModel(13);
  addInput(m, "v0", {2});
  for (int i = kNodes; i >= 1; --i) {
    addNode(m, i % 2 ? "Neg" : "Identity", {"v" + std::to_string(i - 1)}, {"v" + std::to_string(i)},
            "n" + std::to_string(i));
  }
  m.mutable_graph()->add_output()->set_name("v" + std::to_string(kNodes));
  auto model = onnxio::prepare(m);
  autograd::NoGradGuard noGrad;
  // 50,000 negations: the sign comes back.
  EXPECT_EQ(model->run({Tensor::fromVector<float>({1.5f, -2.0f}, {2})})[0].toVector<float>(),
            (std::vector<float>{1.5f, -2.0f}));
}

// A size the model asks for that passes the allocation ceiling is a MemoryError naming the node.
TEST(OnnxImportErrors, AllocationsPastTheCeilingNameTheNode) {
  onnx::ModelProto m = makeModel(13);
  addInit(m, "s", Tensor::fromVector<int64_t>({int64_t{1} << 21, int64_t{1} << 21}, {2}));
  addNode(m, "ConstantOfShape", {"s"}, {"y"}, "fill");
  addOutput(m, "y");
  auto model = onnxio::prepare(m);
  std::string msg = messageOf<MemoryError>([&] { model->run({}); });
  EXPECT_NE(msg.find("node 'fill' (ConstantOfShape): a float32[2097152, 2097152] tensor would need 16 TiB"),
            std::string::npos)
      << msg;
}

TEST(OnnxImportErrors, ModelPathThatIsNotARegularFile) {
  TempDir dir("not_regular");
  std::string msg = messageOf<IoError>([&] { onnxio::loadModel(dir.file("")); });
  EXPECT_NE(msg.find("(it is a directory)"), std::string::npos) << msg;
  ASSERT_EQ(::mkfifo(dir.file("pipe.onnx").c_str(), 0600), 0);
  msg = messageOf<IoError>([&] { onnxio::loadModel(dir.file("pipe.onnx")); });
  EXPECT_NE(msg.find("FIFO"), std::string::npos) << msg;
}

// A bool tensor's raw bytes may hold any value in a file; a C++ bool must be 0 or 1.
TEST(TensorProtoIo, BoolBytesAreNormalised) {
  onnx::TensorProto p;
  p.set_name("mask");
  p.set_data_type(onnx::TensorProto::BOOL);
  p.add_dims(3);
  p.set_raw_data(std::string("\xa2\x00\x01", 3));
  Tensor t = onnxio::fromTensorProto(p);
  const auto* bytes = static_cast<const unsigned char*>(t.rawData());
  EXPECT_EQ(bytes[0], 1);
  EXPECT_EQ(bytes[1], 0);
  EXPECT_EQ(bytes[2], 1);
}

TEST(TensorProtoIo, RoundTripsAndReadsTypedFields) {
  TempDir dir("tensors");
  Tensor t = Tensor::fromVector<int64_t>({1, -2, 3, 1LL << 40}, {2, 2});
  onnxio::writeTensorFile(t, dir.file("t.pb"), "ints");
  Tensor back = onnxio::readTensorFile(dir.file("t.pb"));
  EXPECT_EQ(back.dtype(), DType::kInt64);
  EXPECT_EQ(back.shape(), (Shape{2, 2}));
  EXPECT_EQ(back.toVector<int64_t>(), t.toVector<int64_t>());

  onnx::TensorProto p;
  p.set_data_type(onnx::TensorProto::FLOAT);
  p.add_dims(3);
  for (float v : {0.5f, -1.0f, 2.0f}) p.add_float_data(v);
  EXPECT_EQ(onnxio::fromTensorProto(p).toVector<float>(), (std::vector<float>{0.5f, -1.0f, 2.0f}));
  p.add_float_data(9.0f);  // 4 values for 3 elements
  EXPECT_THROW(onnxio::fromTensorProto(p), IoError);
  p.set_data_type(onnx::TensorProto::STRING);
  EXPECT_THROW(onnxio::fromTensorProto(p), NotSupportedError);
  writeBytes(dir.file("bad.pb"), std::string("\xff\xff\xff", 3));
  EXPECT_THROW(onnxio::readTensorFile(dir.file("bad.pb")), IoError);
  EXPECT_THROW(onnxio::readTensorFile(dir.file("missing.pb")), IoError);
}

TEST(BackendCase, ComparesLikeTheOnnxRunner) {
  Tensor a = Tensor::fromVector<float>({1.0f, 2.0f}, {2});
  EXPECT_EQ(onnxio::compareTensors(a, Tensor::fromVector<float>({1.0005f, 2.0f}, {2}), 1e-3, 1e-7), "");
  EXPECT_NE(onnxio::compareTensors(a, Tensor::fromVector<float>({1.01f, 2.0f}, {2}), 1e-3, 1e-7), "");
  EXPECT_NE(onnxio::compareTensors(a, Tensor::fromVector<double>({1.0, 2.0}, {2}), 1e-3, 1e-7), "");
  EXPECT_NE(onnxio::compareTensors(a, Tensor::fromVector<float>({1.0f, 2.0f}, {1, 2}), 1e-3, 1e-7), "");
}

TEST(BackendCase, RunsACaseDirectory) {
  TempDir dir("case");
  writeBytes(dir.file("model.onnx"), reluModel().SerializeAsString());
  fs::create_directories(dir.file("test_data_set_0"));
  onnxio::writeTensorFile(Tensor::fromVector<float>({-1, 0, 2}, {1, 3}), dir.file("test_data_set_0/input_0.pb"), "x");
  onnxio::writeTensorFile(Tensor::fromVector<float>({0, 0, 2}, {1, 3}), dir.file("test_data_set_0/output_0.pb"), "y");
  onnxio::CaseResult r = onnxio::runBackendCase(dir.file(""));
  EXPECT_EQ(r.status, onnxio::CaseStatus::kPass) << r.reason;
  onnxio::writeTensorFile(Tensor::fromVector<float>({0, 1, 2}, {1, 3}), dir.file("test_data_set_0/output_0.pb"), "y");
  r = onnxio::runBackendCase(dir.file(""));
  EXPECT_EQ(r.status, onnxio::CaseStatus::kFail);
  EXPECT_NE(r.reason.find("differ"), std::string::npos) << r.reason;
}

}  // namespace
}  // namespace singa
