// saveModel against the file system: it writes as durably as a checkpoint (a temporary file next
// to the target, fsync, rename, fsync of the folder). A save that fails (the target is a folder,
// the folder is missing or is a file, the disk is full) is an IoError naming the path, leaves a
// previous model byte-identical and leaves no temporary file behind; a save that succeeds leaves
// only the model, which parses back. The tests run as root, where permissions do not stop a
// write, so a full disk is played by RLIMIT_FSIZE (which binds root too).
#include <gtest/gtest.h>

#include <onnx/onnx_pb.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "singa/core/error.h"
#include "singa/nn/layers.h"
#include "singa/onnx/export.h"
#include "singa/onnx/model_io.h"

namespace fs = std::filesystem;

namespace singa {
namespace {

using onnxio::saveModel;

class SaveModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("singa_save_model_test_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string file(const std::string& name) const { return (dir_ / name).string(); }
  // The names in the test folder (a temporary file left behind would show up here).
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  fs::path dir_;
};

// An exported Linear(in, out): the model's size grows with in * out.
onnx::ModelProto linearModel(int64_t in, int64_t out) {
  Linear layer(in, out);
  return onnxio::exportModule(layer, {Tensor::ones({2, in})});
}

std::string readBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// The message of the IoError `fn` throws ("" when it throws none).
template <class Fn>
std::string ioErrorOf(Fn fn) {
  try {
    fn();
  } catch (const IoError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an IoError";
  return "";
}

// The dims of the first initializer (the weight) of the model at `path`, parsed back.
std::vector<int64_t> firstInitializerDims(const std::string& path) {
  onnx::ModelProto back = onnxio::loadModel(path);
  EXPECT_GT(back.graph().initializer_size(), 0);
  const auto& dims = back.graph().initializer(0).dims();
  return std::vector<int64_t>(dims.begin(), dims.end());
}

TEST_F(SaveModelTest, SuccessfulSaveReplacesTheModelAndLeavesNoTemporaryFile) {
  const std::string path = file("model.onnx");
  saveModel(linearModel(4, 3), path);
  EXPECT_EQ(entries(), std::vector<std::string>{"model.onnx"});
  EXPECT_EQ(firstInitializerDims(path), (std::vector<int64_t>{3, 4}));
  saveModel(linearModel(8, 5), path);  // over the previous one
  EXPECT_EQ(entries(), std::vector<std::string>{"model.onnx"});
  EXPECT_EQ(firstInitializerDims(path), (std::vector<int64_t>{5, 8}));
  // A bare file name lands in the working directory's folder, through the same path.
  const fs::path cwd = fs::current_path();
  fs::current_path(dir_);
  saveModel(linearModel(2, 2), "bare.onnx");
  fs::current_path(cwd);
  EXPECT_EQ(entries(), (std::vector<std::string>{"bare.onnx", "model.onnx"}));
}

TEST_F(SaveModelTest, TargetThatIsADirectoryIsRefusedNamingIt) {
  const std::string path = file("model.onnx");
  fs::create_directory(path);
  fs::create_directory(file("model.onnx/keep"));
  const std::string msg = ioErrorOf([&] { saveModel(linearModel(4, 3), path); });
  EXPECT_NE(msg.find("'" + path + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("is a directory"), std::string::npos) << msg;
  EXPECT_TRUE(fs::is_directory(file("model.onnx/keep")));
  EXPECT_EQ(entries(), std::vector<std::string>{"model.onnx"});
}

TEST_F(SaveModelTest, MissingFolderOrAFileInPlaceOfTheFolderIsAnIoErrorNamingThePath) {
  const std::string missing = file("no_such_folder/model.onnx");
  std::string msg = ioErrorOf([&] { saveModel(linearModel(4, 3), missing); });
  EXPECT_NE(msg.find("'" + missing + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("No such file or directory"), std::string::npos) << msg;

  const std::string notAFolder = file("notes.txt");
  std::ofstream(notAFolder) << "not a folder\n";
  const std::string under = notAFolder + "/model.onnx";
  msg = ioErrorOf([&] { saveModel(linearModel(4, 3), under); });
  EXPECT_NE(msg.find("'" + under + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Not a directory"), std::string::npos) << msg;
  EXPECT_EQ(readBytes(notAFolder), "not a folder\n");
  EXPECT_EQ(entries(), std::vector<std::string>{"notes.txt"});
}

// Lowers the file size limit (RLIMIT_FSIZE, which binds root too) so a write past `bytes` fails
// with EFBIG instead of raising SIGXFSZ: a full disk, for this process. Restores both on exit.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved_);
    savedHandler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit lowered = saved_;
    lowered.rlim_cur = bytes;
    ok_ = setrlimit(RLIMIT_FSIZE, &lowered) == 0;
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, savedHandler_);
  }
  bool ok() const { return ok_; }

 private:
  rlimit saved_{};
  void (*savedHandler_)(int) = SIG_DFL;
  bool ok_ = false;
};

TEST_F(SaveModelTest, FullDiskLeavesThePreviousModelByteIdenticalAndNoTemporaryFile) {
  const std::string path = file("model.onnx");
  saveModel(linearModel(4, 3), path);
  const std::string before = readBytes(path);
  ASSERT_FALSE(before.empty());
  onnx::ModelProto larger = linearModel(64, 64);  // ~16 KiB of weights: past the limit below
  std::string msg;
  {
    FileSizeLimit limit(static_cast<rlim_t>(before.size()) + 1024);
    ASSERT_TRUE(limit.ok());
    msg = ioErrorOf([&] { saveModel(larger, path); });
  }
  EXPECT_NE(msg.find("'" + path + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("File too large"), std::string::npos) << msg;
  EXPECT_EQ(readBytes(path), before);
  EXPECT_EQ(entries(), std::vector<std::string>{"model.onnx"});
  // With room again, the same save succeeds.
  saveModel(larger, path);
  EXPECT_EQ(firstInitializerDims(path), (std::vector<int64_t>{64, 64}));
}

}  // namespace
}  // namespace singa
