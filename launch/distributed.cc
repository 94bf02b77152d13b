// singa_train's communicator for the whole run, the job-wide abort, and the fault-injection
// hook of the failure tests (see distributed.h).
#include "launch/distributed.h"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <thread>

namespace singa::launch {
namespace {

Communicator*& instance() {
  static Communicator* c = nullptr;  // see destroyInstance() and abortIfDistributed()
  return c;
}

void destroyInstance() {
  installAbortOnTerminate(nullptr);
  delete instance();  // finalises MPI (after run() has destroyed the trainer and its threads)
  instance() = nullptr;
}

}  // namespace

Communicator& initCommunicator(const std::string& backend, Device device, double timeoutSeconds) {
  SINGA_CHECK(instance() == nullptr, ValueError, "initCommunicator called twice");
  std::unique_ptr<Communicator> comm = makeCommunicator(backend, device);
  comm->setTimeout(commTimeoutFromEnv(timeoutSeconds));
  instance() = comm.release();
  std::atexit(destroyInstance);
  installAbortOnTerminate(instance());
  return *instance();
}

void abortIfDistributed(const std::string& message) {
  Communicator* c = instance();
  if (c == nullptr || c->worldSize() == 1) return;
  c->abortJob(message, 1);
}

std::function<void(int64_t)> faultInjector(int rank) {
  const char* spec = std::getenv("SINGA_FAULT_INJECT");
  if (spec == nullptr) return [](int64_t) {};
  std::string kind, r, st;
  std::istringstream in(spec);
  int faultRank = -1;
  int64_t faultStep = -1;
  bool ok = std::getline(in, kind, ':') && std::getline(in, r, ':') && std::getline(in, st) &&
            (kind == "raise" || kind == "kill" || kind == "hang");
  try {
    if (ok) {
      faultRank = std::stoi(r);
      faultStep = std::stoll(st);
    }
  } catch (const std::exception&) {
    ok = false;
  }
  SINGA_CHECK(ok, ValueError, "SINGA_FAULT_INJECT='" << spec << "' is not KIND:RANK:STEP with KIND raise, kill or hang");
  return [kind, faultRank, faultStep, rank](int64_t globalStep) {
    if (faultRank != rank || faultStep != globalStep) return;
    if (kind == "raise") SINGA_THROW(Error, "injected failure (SINGA_FAULT_INJECT) at step " << globalStep);
    if (kind == "kill") std::raise(SIGKILL);
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));  // hang
  };
}

}  // namespace singa::launch
