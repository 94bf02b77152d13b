// Data-parallel fine-tuning of an imported ONNX model, with checkpoints and resume: the imported
// graph is cut before its final layer and frozen, a new 10-way head is trained at its own learning
// rate with warm-up, cosine decay, label smoothing and gradient clipping; the best epoch's
// checkpoint is kept. Rerun the same command to continue from the newest checkpoint (e.g. with
// more epochs, or after SIGTERM, which stops every rank at the same step with exit code 3).
//
//   finetune_onnx MODEL.onnx CHECKPOINT_DIR [EPOCHS] [TRAIN_LIMIT] [DATA_SPEC]
//   mpirun -np 2 finetune_onnx cnn.onnx runs/ft 2 2000
#include <singa/singa.h>

#include <cstdio>
#include <cstdlib>
#include <string>

using namespace singa;

int main(int argc, char** argv) try {
  if (argc < 3) {
    std::fprintf(stderr, "usage: finetune_onnx MODEL.onnx CHECKPOINT_DIR [EPOCHS] [TRAIN_LIMIT] [DATA_SPEC]\n");
    return 2;
  }
  std::unique_ptr<Communicator> comm = makeCommunicator();  // under mpirun: MPI; alone: one process
  manualSeed(0);
  const MnistData data = loadDataSpec(argc > 5 ? argv[5] : "fashion-mnist");
  auto model = loadForFineTuning(argv[1], /*lastLayers=*/-1, /*numClasses=*/10, {1, 1, 28, 28}, Device::cpu());

  TrainerOptions o;
  o.epochs = argc > 3 ? std::atoll(argv[3]) : 2;
  o.limitTrain = argc > 4 ? std::atoll(argv[4]) : 0;
  o.limitValidation = 1000;
  o.batchSize = 32;
  o.lr = 0.01;
  o.momentum = 0.9;
  o.freeze = {"base"};  // the whole imported graph
  o.headLr = 0.02;      // the new head ("head.weight", "head.bias") learns faster
  o.warmupEpochs = 0.5;
  o.lrSchedule = "cosine";
  o.labelSmoothing = 0.1;
  o.clipGradNorm = 5.0;
  o.checkpoint.dir = argv[2];
  o.checkpoint.resume = true;
  o.checkpoint.keepBest = true;
  o.quiet = true;
  o.programName = "finetune_onnx";

  Trainer trainer(model, o, comm.get());
  const TrainResult r = trainer.fit(data.train, &data.test);
  if (r.preempted) return 3;
  if (comm->rank() == 0) {
    std::printf("fine-tuned %s on %d ranks: test accuracy %.2f%%, best %.2f%% (kept in %s)\n", argv[1],
                comm->worldSize(), 100.0 * r.validation.accuracy, 100.0 * r.bestAccuracy, r.bestCheckpoint.c_str());
  }
  return 0;
} catch (const singa::Error& e) {
  std::fprintf(stderr, "finetune_onnx: error: %s\n", e.what());
  return 1;
}
