// Registration coverage of the CUDA backend (runs without a GPU: registering kernels needs no
// device). Every op the CPU backend registers for float32 has a CUDA float32 kernel, the shape
// and index ops also take their integer/bool dtypes, and a missing (op, dtype) pair is a clear
// TypeError naming the dtypes that exist, never a crash.
#include <gtest/gtest.h>

#include "singa/singa.h"
#include "singa/ops/registry.h"

namespace singa {
namespace {

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
