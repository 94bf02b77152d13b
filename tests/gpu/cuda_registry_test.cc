// Registration coverage of the CUDA backend (runs without a GPU: registering kernels needs no
// device). Every op the CPU backend registers for float32 has a CUDA float32 kernel, the shape
// and index ops also take their integer/bool dtypes, and a missing (op, dtype) pair is a clear
// TypeError naming the dtypes that exist, never a crash.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "singa/singa.h"
#include "singa/ops/registry.h"

namespace singa {
namespace {

// The paths of the files this process has mapped whose file name contains `part`.
std::vector<std::string> mapped(const std::string& part) {
  std::ifstream maps("/proc/self/maps");
  std::vector<std::string> out;
  std::string line;
  while (std::getline(maps, line)) {
    const size_t slash = line.rfind('/');
    const size_t path = line.find('/');
    if (slash != std::string::npos && line.find(part, slash) != std::string::npos) out.push_back(line.substr(path));
  }
  return out;
}

std::string folderOf(const std::string& path) { return path.substr(0, path.rfind('/')); }

void customRelu(KernelContext&) {}

std::vector<std::string> cudaLibrariesMapped() {
  std::vector<std::string> all;
  for (const char* lib : {"libsinga_cuda", "libcudart", "libcublas", "libcudnn", "libnccl"}) {
    for (auto& name : mapped(lib)) all.push_back(name);
  }
  return all;
}

// ctest runs each test in a process of its own, so "before" is a fresh process.
TEST(CudaModule, CpuWorkMapsNoCudaLibrary) {
  ASSERT_FALSE(mapped("libsinga.so").empty()) << "the test links libsinga";
  // CPU kernels of every kind a training step uses, and the CPU registry queries.
  Tensor x = Tensor::fromVector<float>(std::vector<float>(2 * 3 * 8 * 8, 0.5f), {2, 3, 8, 8});
  Tensor w = Tensor::fromVector<float>(std::vector<float>(4 * 3 * 3 * 3, 0.25f), {4, 3, 3, 3});
  ops::ConvParams p;
  p.pads = {1, 1, 1, 1};
  Tensor y = ops::relu(ops::conv(x, w, Tensor(), p));
  Tensor m = ops::matmul(Tensor::ones({5, 7}), Tensor::ones({7, 3}));
  EXPECT_FLOAT_EQ(m.toVector<float>()[0], 7.0f);
  EXPECT_FLOAT_EQ(y.toVector<float>()[1 * 8 + 1], 27 * 0.5f * 0.25f);
  EXPECT_FALSE(KernelRegistry::global().ops(DeviceType::kCpu).empty());
  EXPECT_EQ(deviceCount(DeviceType::kCpu), 1);
  EXPECT_TRUE(cudaLibrariesMapped().empty()) << "a CPU-only run mapped " << ::testing::PrintToString(cudaLibrariesMapped());
}

TEST(CudaModule, TheFirstCudaLookupLoadsTheModuleBesideLibsinga) {
  ASSERT_TRUE(mapped("libsinga_cuda").empty());
  EXPECT_TRUE(supports(OpId::kConv, Device::cuda(0), DType::kFloat32));
  const auto module = mapped("libsinga_cuda.so");
  const auto library = mapped("libsinga.so");
  ASSERT_FALSE(module.empty());
  ASSERT_FALSE(library.empty());
  EXPECT_EQ(folderOf(module.front()), folderOf(library.front()));
  EXPECT_FALSE(mapped("libcublasLt").empty());
  EXPECT_TRUE(loadDeviceModule(DeviceType::kCuda));
}

TEST(CudaModule, AKernelAddedBeforeTheModuleLoadsReplacesTheBuiltInOne) {
  ASSERT_TRUE(mapped("libsinga_cuda").empty());
  KernelRegistry::global().add(OpId::kRelu, DeviceType::kCuda, DType::kFloat32, &customRelu);
  EXPECT_FALSE(mapped("libsinga_cuda.so").empty()) << "add() loads the module's kernels first";
  const auto* fn = KernelRegistry::global().find(OpId::kRelu, DeviceType::kCuda, DType::kFloat32)
                       .target<void (*)(KernelContext&)>();
  ASSERT_NE(fn, nullptr) << "the module's Relu replaced the one added before it loaded";
  EXPECT_EQ(*fn, &customRelu);
  EXPECT_TRUE(KernelRegistry::global().supports(OpId::kRelu, DeviceType::kCuda, DType::kFloat64));
}

TEST(CudaModule, ACudaTensorWithoutAGpuNamesTheRuntimesReason) {
  if (deviceAvailable(DeviceType::kCuda)) GTEST_SKIP() << "a GPU is visible";
  EXPECT_EQ(deviceCount(DeviceType::kCuda), 0);
  EXPECT_FALSE(mapped("libsinga_cuda.so").empty()) << "asking for the device loads the module";
  try {
    Tensor t({2}, DType::kFloat32, Device::cuda(0));
    FAIL() << "expected NotSupportedError";
  } catch (const NotSupportedError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cudaGetDeviceCount"), std::string::npos) << what;
    EXPECT_NE(what.find("--device cpu"), std::string::npos) << what;
  }
}

TEST(CudaRegistry, EveryCpuFloat32KernelHasACudaKernel) {
  const KernelRegistry& r = KernelRegistry::global();
  std::vector<std::string> missing;
  for (OpId op : r.ops(DeviceType::kCpu)) {
    if (r.supports(op, DeviceType::kCpu, DType::kFloat32) && !r.supports(op, DeviceType::kCuda, DType::kFloat32)) {
      missing.push_back(opName(op));
    }
  }
  EXPECT_TRUE(missing.empty()) << "ops with a CPU float32 kernel but no CUDA one: " << ::testing::PrintToString(missing);
  EXPECT_GE(r.ops(DeviceType::kCuda).size(), r.ops(DeviceType::kCpu).size());
}

TEST(CudaRegistry, ShapeAndIndexOpsTakeIntegerAndBoolDtypes) {
  const KernelRegistry& r = KernelRegistry::global();
  for (OpId op : {OpId::kCopy, OpId::kFill, OpId::kStridedCopy, OpId::kConcat, OpId::kGather, OpId::kPad, OpId::kTile,
                  OpId::kWhere}) {
    for (DType t : {DType::kInt32, DType::kInt64, DType::kBool, DType::kUInt8}) {
      EXPECT_TRUE(r.supports(op, DeviceType::kCuda, t)) << opName(op) << " " << dtypeName(t);
    }
  }
  for (OpId op : {OpId::kAdd, OpId::kSub, OpId::kMul, OpId::kDiv, OpId::kEqual, OpId::kLess, OpId::kReduceSum,
                  OpId::kArgMax, OpId::kRelu, OpId::kClip}) {
    for (DType t : {DType::kInt32, DType::kInt64}) EXPECT_TRUE(r.supports(op, DeviceType::kCuda, t)) << opName(op);
  }
  for (OpId op : {OpId::kAnd, OpId::kOr, OpId::kXor, OpId::kNot, OpId::kEqual}) {
    EXPECT_TRUE(r.supports(op, DeviceType::kCuda, DType::kBool)) << opName(op);
  }
}

TEST(CudaRegistry, MissingDtypeIsAClearTypeError) {
  try {
    KernelRegistry::global().find(OpId::kMatMul, DeviceType::kCuda, DType::kInt8);
    ADD_FAILURE() << "no error";
  } catch (const TypeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("MatMul: no CUDA int8 kernel"), std::string::npos) << msg;
    EXPECT_NE(msg.find("float32"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace singa
