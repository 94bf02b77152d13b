// CIFAR-10 / CIFAR-100 binary files (see cifar.h).
#include "singa/data/cifar.h"

#include <sys/stat.h>

#include <cstring>
#include <limits>
#include <sstream>
#include <vector>

#include "singa/core/error.h"
#include "singa/core/file_read.h"
#include "singa/core/memory_limit.h"

namespace singa {
namespace {

constexpr int64_t kPixels = 3 * 32 * 32;

struct Layout {
  std::vector<std::string> train;
  std::string test;
  int64_t labelBytes;  // bytes before the pixels; the class is the last of them
};

Layout layoutOf(int classes) {
  if (classes == 10) {
    return {{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"},
            "test_batch.bin",
            1};
  }
  return {{"train.bin"}, "test.bin", 2};
}

std::string joinPath(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// Appends the records of `path` to pixels/labels.
void readFile(const std::string& path, int classes, int64_t labelBytes, std::vector<uint8_t>& pixels,
              std::vector<int64_t>& labels) {
  const int64_t record = labelBytes + kPixels;
  const std::string bytes = readRegularFile(
      path, "CIFAR file", static_cast<int64_t>(std::min<size_t>(memoryLimit(), std::numeric_limits<int64_t>::max())));
  const int64_t size = static_cast<int64_t>(bytes.size());
  SINGA_CHECK(size > 0 && size % record == 0, ValueError,
              "CIFAR-" << classes << ": '" << path << "' holds " << size << " bytes, not a whole number of "
                       << record << "-byte records (" << labelBytes << " label byte" << (labelBytes > 1 ? "s" : "")
                       << " + 3072 pixels)" << (size % (record == 3073 ? 3074 : 3073) == 0 && size > 0
                                                    ? "; it looks like a CIFAR-" + std::to_string(classes == 10 ? 100 : 10) +
                                                          " file: use cifar" + std::to_string(classes == 10 ? 100 : 10) + ":DIR"
                                                    : "; a truncated or corrupt download?"));
  const int64_t n = size / record;
  checkAllocation(static_cast<size_t>(n) * static_cast<size_t>(kPixels + 8), 0);
  const size_t base = pixels.size();
  pixels.resize(base + static_cast<size_t>(n * kPixels));
  labels.reserve(labels.size() + static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const char* rec = bytes.data() + i * record;
    const int64_t label = static_cast<unsigned char>(rec[labelBytes - 1]);
    SINGA_CHECK(label < classes, ValueError,
                "CIFAR-" << classes << ": '" << path << "' record " << i << " has label " << label << ", outside 0.."
                         << classes - 1 << (classes == 10 ? "; is this a CIFAR-100 file? use cifar100:DIR" : "; a corrupt file?"));
    labels.push_back(label);
    std::memcpy(pixels.data() + base + static_cast<size_t>(i * kPixels), rec + labelBytes, kPixels);
  }
}

MnistSplit loadSplit(const std::vector<std::string>& paths, int classes, int64_t labelBytes) {
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  for (const std::string& p : paths) readFile(p, classes, labelBytes, pixels, labels);
  const int64_t n = static_cast<int64_t>(labels.size());
  MnistSplit split;
  split.images = Tensor::fromVector<uint8_t>(pixels, {n, 3, 32, 32});
  split.labels = Tensor::fromVector<int64_t>(labels, {n});
  return split;
}

}  // namespace

MnistData loadCifarDir(const std::string& dir, int classes) {
  SINGA_CHECK(classes == 10 || classes == 100, ValueError, "CIFAR: " << classes << " classes; there are CIFAR-10 and CIFAR-100");
  const Layout layout = layoutOf(classes);
  std::vector<std::string> train;
  std::ostringstream missing;
  for (const std::string& f : layout.train) {
    train.push_back(joinPath(dir, f));
    if (!exists(train.back())) missing << " " << train.back();
  }
  const std::string test = joinPath(dir, layout.test);
  if (!exists(test)) missing << " " << test;
  SINGA_CHECK(missing.str().empty(), IoError,
              "CIFAR-" << classes << ": missing" << missing.str() << "; cifar" << classes
                       << ":DIR wants the binary version's files (the cifar-" << classes
                       << "-binary.tar.gz download, unpacked) directly in DIR");
  MnistData data;
  data.dir = dir;
  data.train = loadSplit(train, classes, layout.labelBytes);
  data.test = loadSplit({test}, classes, layout.labelBytes);
  return data;
}

}  // namespace singa
