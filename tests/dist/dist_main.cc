// main() of the dist test programs: creates the communicator (local under no launcher, mpi
// under mpirun / srun), runs the tests, and fails the job if any rank failed (a rank's exit
// status alone could hide behind the others' output).
#include <cstdio>

#include "tests/dist/dist_env.h"

namespace singa::test {
namespace {
std::unique_ptr<Communicator> gComm;
}  // namespace

Communicator& comm() { return *gComm; }

}  // namespace singa::test

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  singa::test::gComm = singa::makeCommunicator("auto");
  singa::test::gComm->setTimeout(60);
  singa::installAbortOnTerminate(singa::test::gComm.get());
  auto& c = *singa::test::gComm;
  if (c.rank() != 0) {
    // Only rank 0 prints the gtest report; the others print failures only.
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int rc = RUN_ALL_TESTS();
  // Every rank learns whether any rank failed.
  singa::Tensor flag = singa::Tensor::fromVector<int32_t>({rc != 0 ? 1 : 0}, {1});
  c.allReduce(flag);
  const int failedRanks = static_cast<int>(flag.item());
  if (c.rank() == 0) {
    std::printf("dist tests: world size %d (%s backend), %d rank(s) failed\n", c.worldSize(), c.backend().c_str(),
                failedRanks);
  }
  singa::installAbortOnTerminate(nullptr);
  singa::test::gComm.reset();
  return failedRanks == 0 ? 0 : 1;
}
