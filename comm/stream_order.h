// How the NCCL backend queues a collective behind the work that produced its data, written over
// an abstract stream API so that a test can run the same sequence on simulated streams.
//
// Kernels run on the device's compute stream (kernels/cuda/cuda_device.cc: non-blocking, so it
// does not synchronise with the legacy default stream), NCCL on a stream of its own. Without an
// explicit dependency NCCL may read a gradient, or a length just copied to the device, before the
// kernel or copy that writes it has run. And the communication thread is a thread of its own: its
// current CUDA device is 0 until it says otherwise, so each collective first selects the rank's
// device.
#pragma once

#include <utility>

namespace singa::commdetail {

/// Queues `launch` (a collective on the communication stream) after everything queued so far on
/// the compute stream. `Streams` provides setDevice() (the rank's GPU for the calling thread),
/// recordComputeDone() (an event at the current end of the compute stream) and
/// commWaitComputeDone() (the communication stream waits for that event; the host does not).
template <class Streams, class Launch>
auto enqueueAfterCompute(Streams& streams, Launch&& launch) {
  streams.setDevice();
  streams.recordComputeDone();
  streams.commWaitComputeDone();
  return std::forward<Launch>(launch)();
}

}  // namespace singa::commdetail
