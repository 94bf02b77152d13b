// The communicator, data sets and the Trainer for Python (singa.opt.DistOpt, singa.data,
// singa.Trainer). The loop runs in C++ with the GIL released; a model written in Python is a C++
// Module whose forward calls back into Python (the GIL is taken only for that call). While
// Trainer.fit runs on the main thread, SIGINT and SIGTERM are caught by C++ handlers that ask the
// loop to stop after the current step (checkpoint written when checkpoints are on); Python's own
// handlers are restored afterwards and a SIGINT stop is raised as KeyboardInterrupt.
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include <atomic>
#include <csignal>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bindings.h"
#include "singa/train/checkpointing.h"

namespace py = pybind11;

namespace singa::python {
namespace {

// ---- the process's communicator ---------------------------------------------------------------

std::unique_ptr<Communicator> gComm;

std::string gCommBackend;
Device gCommDevice = Device::cpu();

// One communicator per process (MPI is started once): a later request must ask for the same.
Communicator& processCommunicator(const std::string& backend, Device device, double timeoutSeconds) {
  if (!gComm) {
    gComm = makeCommunicator(backend, device);
    gComm->setTimeout(commTimeoutFromEnv(timeoutSeconds));
    gCommBackend = backend;
    gCommDevice = device;
  }
  SINGA_CHECK((backend == gCommBackend || backend == "auto" || backend == gComm->backend()) &&
                  device.type == gCommDevice.type,
              ValueError,
              "this process already has a '" << gComm->backend() << "' communicator for " << gCommDevice.str()
                                             << "; a second one for backend '" << backend << "' on " << device.str()
                                             << " cannot be made (one DistOpt per process)");
  return *gComm;
}

// Averages gradients over the ranks in one collective: packed into one buffer (a shared-memory
// exchange buffer where the backend offers one), all-reduced with the backend's rank-ordered sum,
// unpacked in place. The gradients share one dtype and device; the buffer is kept across steps.
class GradExchange {
 public:
  explicit GradExchange(Communicator& comm) : comm_(comm) {}

  void allReduceAverage(std::vector<Tensor>& grads) {
    if (grads.empty()) return;
    const DType dt = grads.front().dtype();
    const Device dev = grads.front().device();
    int64_t total = 0;
    for (const Tensor& g : grads) {
      SINGA_CHECK(g.defined(), ValueError, "DistOpt: a gradient is undefined");
      SINGA_CHECK(g.dtype() == dt && g.device() == dev, TypeError,
                  "DistOpt: gradients of one step must share a dtype and device, got " << dtypeName(g.dtype()) << " on "
                                                                                       << g.device().str() << " and "
                                                                                       << dtypeName(dt) << " on "
                                                                                       << dev.str());
      SINGA_CHECK(!__builtin_add_overflow(total, g.numel(), &total), ValueError,
                  "DistOpt: the gradients hold more elements than an int64 counts");
    }
    if (!buffer_.defined() || buffer_.numel() != total || buffer_.dtype() != dt || buffer_.device() != dev) {
      buffer_ = comm_.exchangeBuffer(total, dt, dev);  // collective: same model, same sizes everywhere
    }
    autograd::NoGradGuard noGrad;
    int64_t offset = 0;
    for (const Tensor& g : grads) {
      buffer_.slice(0, offset, offset + g.numel()).copyFrom(g.contiguous().reshape({g.numel()}));
      offset += g.numel();
    }
    comm_.allReduce(buffer_, ReduceOp::kAverage);
    offset = 0;
    for (Tensor& g : grads) {
      Tensor part = buffer_.slice(0, offset, offset + g.numel()).reshape(g.shape());
      g.copyFrom(part);
      offset += g.numel();
    }
  }

 private:
  Communicator& comm_;
  Tensor buffer_;
};

// A Python callable held by C++ objects that may be destroyed without the GIL (a Trainer closed
// with the GIL released): released with the GIL taken, or leaked once the interpreter is gone.
struct GilFunction {
  explicit GilFunction(py::function fn) : f(std::move(fn)) {}
  ~GilFunction() {
    if (!Py_IsInitialized()) {
      f.release();
      return;
    }
    py::gil_scoped_acquire gil;
    f = py::function();
  }
  GilFunction(const GilFunction&) = delete;
  GilFunction& operator=(const GilFunction&) = delete;
  py::function f;
};

// ---- a model written in Python, as a C++ Module ------------------------------------------------

class PythonModule : public Module {
 public:
  PythonModule(py::function forward, const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children)
      : forward_(std::make_unique<GilFunction>(std::move(forward))) {
    for (const auto& [name, child] : children) registerModule(name, child);
  }

  Tensor forward(const Tensor& x) override {
    py::gil_scoped_acquire gil;
    py::object out = forward_->f(x, isTraining());
    return out.cast<Tensor>();
  }
  std::string typeName() const override { return "PythonModel"; }

 private:
  std::unique_ptr<GilFunction> forward_;
};

// ---- stopping on SIGINT / SIGTERM while fit() runs ---------------------------------------------

std::atomic<int> gSignal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the signal flag must be lock-free");
extern "C" void onFitSignal(int sig) {
  if (sig == SIGINT && gSignal.load() == SIGINT) {
    // A second Ctrl-C while the first waits for the step to end (e.g. a rank stuck in a
    // collective): end the process the default way.
    signal(SIGINT, SIG_DFL);
    raise(SIGINT);
    return;
  }
  gSignal.store(sig);
}

// Installs the handlers for the scope of a call on the main thread and restores the previous
// ones (Python's) afterwards.
class FitSignals {
 public:
  explicit FitSignals(bool install) : installed_(install) {
    gSignal.store(0);
    train::resetStopSignal();
    if (!installed_) return;
    struct sigaction sa {};
    sa.sa_handler = onFitSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, &oldInt_);
    sigaction(SIGTERM, &sa, &oldTerm_);
  }
  ~FitSignals() {
    if (!installed_) return;
    sigaction(SIGINT, &oldInt_, nullptr);
    sigaction(SIGTERM, &oldTerm_, nullptr);
  }
  FitSignals(const FitSignals&) = delete;
  FitSignals& operator=(const FitSignals&) = delete;

  /// The signal that stopped the run (ours or the checkpointer's handler), 0 when none.
  static int received() { return gSignal.load() != 0 ? gSignal.load() : train::stopSignalNumber(); }
  static void reset() {
    gSignal.store(0);
    train::resetStopSignal();
  }

 private:
  bool installed_;
  struct sigaction oldInt_ {};
  struct sigaction oldTerm_ {};
};

// The Trainer as Python holds it: the C++ Trainer plus what it refers to.
struct PyTrainer {
  std::shared_ptr<Module> model;
  std::unique_ptr<Trainer> trainer;
  int lastSignal = 0;
  std::atomic<bool> busy{false};
};

bool stopped(const TrainResult& r) { return r.preempted; }
bool stopped(const BenchmarkResult&) { return false; }

Trainer& live(PyTrainer& t) {
  SINGA_CHECK(t.trainer != nullptr, ValueError, "Trainer: this trainer was closed; make a new one");
  return *t.trainer;
}

// Marks the trainer busy for the duration of a call (close() from another thread is refused).
class BusyScope {
 public:
  explicit BusyScope(PyTrainer& t) : t_(t) {
    SINGA_CHECK(!t_.busy.exchange(true), ValueError, "Trainer: it is already running (on another thread)");
  }
  ~BusyScope() { t_.busy.store(false); }
  BusyScope(const BusyScope&) = delete;
  BusyScope& operator=(const BusyScope&) = delete;

 private:
  PyTrainer& t_;
};

// Runs `f` (a Trainer call) with the GIL released, the export tracer off and, on the main thread,
// the stop handlers installed. Once Python's handlers are back, a SIGINT becomes KeyboardInterrupt
// (after the step it stopped, or at the end of the call when it came during validation) and a
// SIGTERM that did not stop a step (it came outside one) is sent again, to Python's own handler.
template <class F>
auto runStoppable(PyTrainer& t, bool mainThread, F&& f) {
  traceClear();
  t.lastSignal = 0;
  decltype(f()) result;
  {
    BusyScope busy(t);
    FitSignals signals(mainThread);
    py::gil_scoped_release nogil;
    result = f();
    t.lastSignal = FitSignals::received();
    FitSignals::reset();
  }
  if (t.lastSignal == SIGTERM && !stopped(result)) raise(SIGTERM);
  if (t.lastSignal == SIGINT) {
    throw py::error_already_set([] {
      PyErr_SetString(PyExc_KeyboardInterrupt,
                      "training stopped on Ctrl-C after the current step (the model holds that step's parameters; "
                      "a checkpoint was written when checkpoint_dir is set)");
      return py::error_already_set();
    }());
  }
  return result;
}

std::shared_ptr<Dataset> datasetFromArrays(const py::array& images, const py::array& labels,
                                                 const std::string& source) {
  Tensor x = fromNumpy(images, Device::cpu());
  Tensor y = fromNumpy(labels, Device::cpu());
  SINGA_CHECK(x.shape().size() >= 2, ShapeError,
              source << ": the images must be [N, ...] with one sample per row, got " << x.shape().size() << " dims");
  SINGA_CHECK(y.shape().size() == 1 && y.numel() == x.shape()[0], ShapeError,
              source << ": the labels must be [N] = [" << x.shape()[0] << "] class indices, got "
                     << shapeStr(y.shape()));
  py::gil_scoped_release nogil;
  if (y.dtype() != DType::kInt64) y = y.to(DType::kInt64);
  return std::make_shared<TensorDataset>(x.clone(), y.contiguous().clone(), source);
}

}  // namespace

void bindTrain(py::module_& m) {
  // ---- communicator ----
  py::class_<Communicator>(m, "Communicator", "The job's communicator (local, mpi or nccl).")
      .def_property_readonly("backend", &Communicator::backend, "'local', 'mpi' or 'nccl'.")
      .def_property_readonly("rank", &Communicator::rank, "This process's rank.")
      .def_property_readonly("world_size", &Communicator::worldSize, "The number of ranks.")
      .def_property_readonly("local_rank", &Communicator::localRank, "This rank's index on its node.")
      .def("all_reduce", [](Communicator& c, Tensor& t, bool average) {
        c.allReduce(t, average ? ReduceOp::kAverage : ReduceOp::kSum);
      }, Release(), py::arg("tensor"), py::arg("average") = false, "Sums (or averages) over the ranks, in place.")
      .def("broadcast", [](Communicator& c, Tensor& t, int root) {
        autograd::NoGradGuard noGrad;
        c.broadcast(t, root);
      }, Release(), py::arg("tensor"), py::arg("root") = 0, "Gives every rank root's values, in place.")
      .def("all_gather", &Communicator::allGather, Release(), "[world_size, ...]: every rank's tensor.")
      .def("barrier", &Communicator::barrier, Release(), "Waits for every rank.")
      .def("abort_job", [](Communicator& c, const std::string& message) { c.abortJob(message, 1); },
           py::arg("message"), "Ends every process of the job, printing the message with this rank.");
  m.def("communicator", &processCommunicator, py::return_value_policy::reference, py::arg("backend"),
        py::arg("device"), py::arg("timeout"),
        "The process's communicator, made on the first call (launcher detection, MPI start-up).");
  m.def("has_communicator", [] { return gComm != nullptr; });
  m.def("comm_shutdown", [] {
    py::gil_scoped_release nogil;
    gComm.reset();
  });
  m.def("detect_world_size", [] { return detectRankInfo().worldSize; });
  py::class_<GradExchange>(m, "GradExchange", "Averages a step's gradients over the ranks in one collective.")
      .def(py::init<Communicator&>(), py::keep_alive<1, 2>())
      .def("all_reduce_average", [](GradExchange& g, std::vector<Tensor> grads) { g.allReduceAverage(grads); },
           Release());

  // ---- data sets ----
  py::class_<Dataset, std::shared_ptr<Dataset>>(m, "Dataset", "A data set the Trainer reads.")
      .def("__len__", [](const Dataset& d) { return d.size(); }, "The number of samples.")
      .def_property_readonly("source", &Dataset::source, "Where the samples come from (for messages).")
      .def_property_readonly("sample_shape", [](const Dataset& d) { return py::tuple(py::cast(d.sampleShape())); },
                             "The shape of one sample as the model receives it.")
      .def("label", &Dataset::label, py::arg("index"), "The class of sample `index`.");
  m.def("dataset_from_arrays", &datasetFromArrays, py::arg("images"), py::arg("labels"), py::arg("source"));
  m.def("open_data_spec", [](const std::string& spec) {
    py::gil_scoped_release nogil;
    DataSplits s = openDataSpec(spec);
    return std::make_pair(s.train, s.test);
  }, py::arg("spec"));

  // ---- models written in Python ----
  m.def("python_module", [](py::function forward, const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children) {
    return std::static_pointer_cast<Module>(std::make_shared<PythonModule>(std::move(forward), children));
  }, py::arg("forward"), py::arg("children"));

  // ---- the Trainer ----
  py::class_<CheckpointOptions>(m, "CheckpointOptions")
      .def(py::init<>())
      .def_readwrite("dir", &CheckpointOptions::dir)
      .def_readwrite("every", &CheckpointOptions::every)
      .def_readwrite("keep", &CheckpointOptions::keep)
      .def_readwrite("resume", &CheckpointOptions::resume)
      .def_readwrite("keep_best", &CheckpointOptions::keepBest);
  py::class_<TrainerOptions>(m, "TrainerOptions", "singa::TrainerOptions (src/train/trainer_options.h).")
      .def(py::init<>())
      .def_readwrite("epochs", &TrainerOptions::epochs)
      .def_readwrite("batch_size", &TrainerOptions::batchSize)
      .def_readwrite("eval_batch_size", &TrainerOptions::evalBatchSize)
      .def_readwrite("shuffle", &TrainerOptions::shuffle)
      .def_readwrite("seed", &TrainerOptions::seed)
      .def_readwrite("limit_train", &TrainerOptions::limitTrain)
      .def_readwrite("limit_validation", &TrainerOptions::limitValidation)
      .def_readwrite("workers", &TrainerOptions::workers)
      .def_readwrite("prefetch", &TrainerOptions::prefetch)
      .def_readwrite("skip_bad_samples", &TrainerOptions::skipBadSamples)
      .def_readwrite("optimizer", &TrainerOptions::optimizer)
      .def_readwrite("lr", &TrainerOptions::lr)
      .def_readwrite("momentum", &TrainerOptions::momentum)
      .def_readwrite("nesterov", &TrainerOptions::nesterov)
      .def_readwrite("weight_decay", &TrainerOptions::weightDecay)
      .def_readwrite("lr_schedule", &TrainerOptions::lrSchedule)
      .def_readwrite("step_gamma", &TrainerOptions::stepGamma)
      .def_readwrite("step_epochs", &TrainerOptions::stepEpochs)
      .def_readwrite("warmup_epochs", &TrainerOptions::warmupEpochs)
      .def_readwrite("warmup_steps", &TrainerOptions::warmupSteps)
      .def_readwrite("warmup_start_factor", &TrainerOptions::warmupStartFactor)
      .def_readwrite("freeze", &TrainerOptions::freeze)
      .def_readwrite("head_pattern", &TrainerOptions::headPattern)
      .def_readwrite("head_lr", &TrainerOptions::headLr)
      .def_readwrite("clip_grad_norm", &TrainerOptions::clipGradNorm)
      .def_readwrite("label_smoothing", &TrainerOptions::labelSmoothing)
      .def_readwrite("early_stopping_patience", &TrainerOptions::earlyStoppingPatience)
      .def_readwrite("grad_accumulation", &TrainerOptions::gradAccumulation)
      .def_readwrite("bucket_mib", &TrainerOptions::bucketMiB)
      .def_readwrite("first_bucket_mib", &TrainerOptions::firstBucketMiB)
      .def_readwrite("grad_compression", &TrainerOptions::gradCompression)
      .def_readwrite("overlap", &TrainerOptions::overlap)
      .def_readwrite("checkpoint", &TrainerOptions::checkpoint)
      .def_readwrite("config_json", &TrainerOptions::configJson)
      .def_readwrite("metrics_json", &TrainerOptions::metricsJson)
      .def_readwrite("log_every", &TrainerOptions::logEvery)
      .def_readwrite("quiet", &TrainerOptions::quiet)
      .def_readwrite("program_name", &TrainerOptions::programName)
      .def_readwrite("benchmark_steps", &TrainerOptions::benchmarkSteps)
      .def_readwrite("benchmark_warmup_steps", &TrainerOptions::benchmarkWarmupSteps)
      .def_readwrite("benchmark_include_data", &TrainerOptions::benchmarkIncludeData);
  py::class_<EvalResult>(m, "EvalResult", "Loss and accuracy over a data set.")
      .def_readonly("loss", &EvalResult::loss)
      .def_readonly("accuracy", &EvalResult::accuracy)
      .def_readonly("top5", &EvalResult::top5)
      .def_readonly("samples", &EvalResult::samples)
      .def("__repr__", [](const EvalResult& e) {
        return "EvalResult(loss=" + std::to_string(e.loss) + ", accuracy=" + std::to_string(e.accuracy) +
               ", samples=" + std::to_string(e.samples) + ")";
      });
  py::class_<TrainResult>(m, "TrainResult", "What Trainer.fit did.")
      .def_readonly("preempted", &TrainResult::preempted)
      .def_readonly("stopped_early", &TrainResult::stoppedEarly)
      .def_readonly("epochs_run", &TrainResult::epochsRun)
      .def_readonly("final_train_loss", &TrainResult::finalTrainLoss)
      .def_readonly("train_images_per_sec", &TrainResult::trainImagesPerSec)
      .def_readonly("skipped_samples", &TrainResult::skippedSamples)
      .def_readonly("validation", &TrainResult::validation)
      .def_readonly("best_accuracy", &TrainResult::bestAccuracy)
      .def_readonly("best_epoch", &TrainResult::bestEpoch)
      .def_readonly("last_checkpoint", &TrainResult::lastCheckpoint)
      .def_readonly("best_checkpoint", &TrainResult::bestCheckpoint);
  py::class_<BenchmarkResult>(m, "BenchmarkResult", "Training speed.")
      .def_readonly("images_per_sec", &BenchmarkResult::imagesPerSec)
      .def_readonly("ms_per_step", &BenchmarkResult::msPerStep)
      .def_readonly("peak_rss_mib", &BenchmarkResult::peakRssMiB);
  py::class_<StepInfo>(m, "StepInfo", "What an on_step hook sees.")
      .def_readonly("epoch", &StepInfo::epoch)
      .def_readonly("step", &StepInfo::step)
      .def_readonly("steps_per_epoch", &StepInfo::stepsPerEpoch)
      .def_readonly("global_batch", &StepInfo::globalBatch)
      .def_readonly("loss", &StepInfo::loss)
      .def_readonly("lr", &StepInfo::lr);

  py::class_<PyTrainer>(m, "CTrainer", "The C++ Trainer (singa.Trainer wraps it).")
      .def(py::init([](std::shared_ptr<Module> model, const TrainerOptions& options, Communicator* comm) {
             auto t = std::make_unique<PyTrainer>();
             t->model = model;
             t->trainer = std::make_unique<Trainer>(model, options, comm);
             t->trainer->setStopRequest([] { return gSignal.load() != 0; });
             return t;
           }),
           py::arg("model"), py::arg("options"), py::arg("comm"), py::keep_alive<1, 4>())
      .def("on_step", [](PyTrainer& t, py::function f) {
        auto hook = std::make_shared<GilFunction>(std::move(f));
        live(t).onStep([hook](const StepInfo& s) {
          py::gil_scoped_acquire gil;
          hook->f(s);
        });
      })
      .def("fit", [](PyTrainer& t, std::shared_ptr<Dataset> train, std::shared_ptr<Dataset> validation,
                     bool mainThread) {
        return runStoppable(t, mainThread, [&] { return live(t).fit(std::move(train), std::move(validation)); });
      }, py::arg("train"), py::arg("validation"), py::arg("main_thread"))
      .def("evaluate", [](PyTrainer& t, std::shared_ptr<Dataset> data) {
        traceClear();
        Trainer& trainer = live(t);
        BusyScope busy(t);
        py::gil_scoped_release nogil;
        return trainer.evaluate(std::move(data));
      })
      .def("benchmark", [](PyTrainer& t, std::shared_ptr<Dataset> train, bool mainThread) {
        return runStoppable(t, mainThread, [&] { return live(t).benchmark(std::move(train)); });
      })
      .def_property_readonly("rank", [](PyTrainer& t) { return live(t).rank(); })
      .def_property_readonly("world_size", [](PyTrainer& t) { return live(t).worldSize(); })
      .def_property_readonly("last_signal", [](const PyTrainer& t) { return t.lastSignal; })
      .def("close", [](PyTrainer& t) {
        BusyScope busy(t);
        py::gil_scoped_release nogil;
        t.trainer.reset();
      });
}

}  // namespace singa::python
