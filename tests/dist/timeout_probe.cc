// A rank that never joins a collective: rank LATE (argv[1], default 1) sleeps for argv[2] seconds
// (default 600) before the barrier; the others must give up after SINGA_COMM_TIMEOUT seconds,
// name the missing rank and abort the job. Used by failure_test.sh.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "singa/comm/communicator.h"

int main(int argc, char** argv) {
  const int late = argc > 1 ? std::atoi(argv[1]) : 1;
  const int sleepSeconds = argc > 2 ? std::atoi(argv[2]) : 600;
  auto comm = singa::makeCommunicator("auto");
  comm->barrier();  // everyone arrives once
  if (comm->rank() == late) std::this_thread::sleep_for(std::chrono::seconds(sleepSeconds));
  comm->barrier();
  std::printf("rank %d: second barrier completed\n", comm->rank());
  return 0;
}
