// The order in which the NCCL backend queues a collective (comm/stream_order.h), run on simulated
// streams: a compute stream whose kernels run only when something waits for them, and a
// communication stream that the simulated GPU runs first (the worst legal interleaving). A
// collective reads what the compute stream's kernels wrote only if the sequence made it wait; it
// runs on the right GPU only if the sequence selected it on the calling (communication) thread.
#include <gtest/gtest.h>

#include <functional>
#include <thread>
#include <vector>

#include "comm/stream_order.h"

namespace singa {
namespace {

thread_local int tCurrentDevice = 0;  // CUDA's per-thread current device starts at 0

struct SimGpu {
  std::vector<std::function<void()>> compute;  // queued, not yet run
  size_t computeRun = 0;                       // how many have run
  size_t eventAt = 0;                          // compute-stream position the event marks
  std::vector<std::function<void()>> comm;
  void runComputeUpTo(size_t n) {
    for (; computeRun < n; ++computeRun) compute[computeRun]();
  }
  // The GPU runs the communication stream first, pulling compute work only through waits.
  void run() {
    for (auto& op : comm) op();
    runComputeUpTo(compute.size());
  }
};

// The real sequence's stream API over the simulation; `skip` leaves one step out, as the code
// before the fix did.
struct SimStreams {
  SimGpu& gpu;
  int rankDevice;
  const char* skip = "";
  void setDevice() {
    if (std::string(skip) != "setDevice") tCurrentDevice = rankDevice;
  }
  void recordComputeDone() {
    if (std::string(skip) != "record") gpu.eventAt = gpu.compute.size();
  }
  void commWaitComputeDone() {
    if (std::string(skip) == "wait") return;
    const size_t at = gpu.eventAt;
    SimGpu* g = &gpu;  // the streams object is gone when the simulated GPU runs the queue
    gpu.comm.push_back([g, at] { g->runComputeUpTo(at); });
  }
};

// One "gradient" written by a kernel on the compute stream, then all-reduced (here: read) by a
// collective queued from a communication thread for a rank driving cuda:1.
struct Outcome {
  float seen = -1;
  int launchDevice = -1;
};

Outcome runCollective(const char* skip) {
  SimGpu gpu;
  float grad = 0;
  gpu.compute.push_back([&] { grad = 3.5f; });  // backward's last kernel
  Outcome out;
  std::thread commThread([&] {
    SimStreams streams{gpu, 1, skip};
    commdetail::enqueueAfterCompute(streams, [&] {
      out.launchDevice = tCurrentDevice;  // the device the collective is queued on
      gpu.comm.push_back([&] { out.seen = grad; });
      return 0;
    });
  });
  commThread.join();
  gpu.run();
  return out;
}

TEST(NcclStreamOrder, CollectiveSeesTheComputeStreamsWritesOnTheRanksDevice) {
  const Outcome ok = runCollective("");
  EXPECT_EQ(ok.seen, 3.5f);
  EXPECT_EQ(ok.launchDevice, 1);
}

TEST(NcclStreamOrder, TheSimulationCatchesEachMissingStep) {
  // Each step matters: leaving one out gives the wrong data or the wrong device, so the test
  // above would fail on the code before the fix (no wait, no cudaSetDevice on the comm thread).
  EXPECT_EQ(runCollective("wait").seen, 0.0f);
  EXPECT_EQ(runCollective("setDevice").launchDevice, 0);
}

}  // namespace
}  // namespace singa
