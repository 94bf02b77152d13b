// Locating and loading the four MNIST IDX files of a directory. The error for a missing data set
// lists everything looked for and how to get the default one, since that is the first error a
// new user meets.
#include "singa/data/dataset.h"

#include <sys/stat.h>

#include <algorithm>
#include <sstream>
#include <vector>

#include "singa/core/error.h"
#include "singa/data/array_split.h"
#include "singa/data/cifar.h"
#include "singa/data/idx.h"
#include "singa/data/npy.h"
#include "singa/data/safetensors.h"

namespace singa {
namespace {

// Anything at `path` (a link is followed). A FIFO or device there is picked and then refused by
// readIdx naming it, rather than reported as missing.
bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

bool isDir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string joinPath(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

// One line (errors are one line each, so scripts and logs keep them whole).
std::string lookedForList(const std::string& dir) {
  std::ostringstream os;
  const char* sep = " ";
  for (const std::string& stem : mnistFileStems()) {
    os << sep << joinPath(dir, stem) << " (or " << stem << ".gz)";
    sep = ", ";
  }
  return os.str();
}

const char* kHint =
    ". The default data set (Fashion-MNIST, in /usr/share/datasets/fashion-mnist) is provided by "
    "`apt-get install dataset-fashion-mnist`; for another MNIST-style data set pass mnist:DIR with "
    "a directory holding these four IDX files.";

MnistSplit loadSplit(const std::string& imagesPath, const std::string& labelsPath) {
  Tensor images = readIdx(imagesPath, kIdxImagesMagic);
  Tensor labels8 = readIdx(labelsPath, kIdxLabelsMagic);
  const int64_t n = images.dim(0);
  SINGA_CHECK(n >= 1, ValueError, "data set: '" << imagesPath << "' holds no images");
  SINGA_CHECK(images.dim(1) >= 1 && images.dim(2) >= 1, ValueError,
              "data set: '" << imagesPath << "' holds images of " << images.dim(1) << " x " << images.dim(2)
                            << " pixels; an image needs at least 1 x 1 (a corrupt header?)");
  SINGA_CHECK(n == labels8.dim(0), ValueError,
              "data set: '" << imagesPath << "' holds " << n << " images but '" << labelsPath << "' holds "
                            << labels8.dim(0) << " labels; the counts must match (mixed-up or partial files?)");
  MnistSplit split;
  // [N, rows, cols] -> [N, 1, rows, cols]: a view of the same storage.
  split.images = makeView(images, {n, 1, images.dim(1), images.dim(2)},
                          contiguousStrides({n, 1, images.dim(1), images.dim(2)}), 0);
  split.labels = Tensor({n}, DType::kInt64);
  const uint8_t* src = labels8.data<uint8_t>();
  int64_t* dst = split.labels.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
  return split;
}

}  // namespace

const std::vector<std::string>& mnistFileStems() {
  static const std::vector<std::string> stems{"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  return stems;
}

MnistData loadMnistDir(const std::string& dir) {
  SINGA_CHECK(isDir(dir), IoError,
              "data set directory '" << dir << "' does not exist; looked for" << lookedForList(dir) << kHint);
  std::vector<std::string> paths;
  std::vector<std::string> missing;
  for (const std::string& stem : mnistFileStems()) {
    const std::string plain = joinPath(dir, stem);
    if (exists(plain)) {
      paths.push_back(plain);
    } else if (exists(plain + ".gz")) {
      paths.push_back(plain + ".gz");
    } else {
      missing.push_back(stem);
    }
  }
  if (!missing.empty()) {
    std::ostringstream os;
    for (size_t i = 0; i < missing.size(); ++i) os << (i ? ", " : "") << missing[i];
    SINGA_THROW(IoError, "data set directory '" << dir << "' lacks " << os.str()
                                                << " (plain or .gz); looked for" << lookedForList(dir)
                                                << kHint);
  }
  MnistData data;
  data.dir = dir;
  data.train = loadSplit(paths[0], paths[1]);
  data.test = loadSplit(paths[2], paths[3]);
  // A model is built for the training images and as many classes as the training labels reach;
  // test data that does not fit it would fail only after a whole epoch of training.
  const Shape& trainShape = data.train.images.shape();
  const Shape& testShape = data.test.images.shape();
  SINGA_CHECK(trainShape[2] == testShape[2] && trainShape[3] == testShape[3], ValueError,
              "data set: '" << paths[2] << "' holds images of " << testShape[2] << " x " << testShape[3]
                            << " pixels but '" << paths[0] << "' holds " << trainShape[2] << " x " << trainShape[3]
                            << "; train and test images must have one size");
  int64_t classes = 0;
  const int64_t* train = data.train.labels.data<int64_t>();
  for (int64_t i = 0; i < data.train.size(); ++i) classes = std::max(classes, train[i] + 1);
  const int64_t* test = data.test.labels.data<int64_t>();
  for (int64_t i = 0; i < data.test.size(); ++i) {
    SINGA_CHECK(test[i] < classes, ValueError,
                "data set: '" << paths[3] << "' holds label " << test[i] << " (test sample " << i
                              << ") but the training labels in '" << paths[1] << "' make " << classes
                              << " classes (0 to " << classes - 1 << "); mixed-up or corrupt label files?");
  }
  return data;
}

std::string resolveDataSpec(const std::string& spec) {
  if (spec.empty() || spec == "fashion-mnist") return kDefaultDataDir;
  const std::string prefix = "mnist:";
  if (spec.compare(0, prefix.size(), prefix) == 0) {
    std::string dir = spec.substr(prefix.size());
    SINGA_CHECK(!dir.empty(), ValueError,
                "data spec '" << spec << "' names no directory; use mnist:DIR, a directory, or fashion-mnist");
    return dir;
  }
  return spec;
}

namespace {

bool startsWith(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

}  // namespace

MnistSplit loadNpySplit(const std::string& imagesPath, const std::string& labelsPath) {
  return checkedArraySplit(loadNpy(imagesPath), loadNpy(labelsPath), "'" + imagesPath + "'", "'" + labelsPath + "'",
                           /*allowTokenIds=*/true);
}

MnistData loadDataSpec(const std::string& spec) {
  if (startsWith(spec, "cifar10:") || startsWith(spec, "cifar100:")) {
    const bool hundred = startsWith(spec, "cifar100:");
    const std::string dir = spec.substr(hundred ? 9 : 8);
    SINGA_CHECK(!dir.empty(), ValueError, "data spec '" << spec << "' names no directory; use " << (hundred ? "cifar100" : "cifar10") << ":DIR");
    return loadCifarDir(dir, hundred ? 100 : 10);
  }
  if (startsWith(spec, "npy:")) {
    const std::string files = spec.substr(4);
    const size_t comma = files.find(',');
    SINGA_CHECK(comma != std::string::npos && comma > 0 && comma + 1 < files.size() &&
                    files.find(',', comma + 1) == std::string::npos,
                ValueError, "data spec '" << spec << "': use npy:IMAGES.npy,LABELS.npy (two files, one comma)");
    MnistData data;
    data.dir = files;
    data.train = loadNpySplit(files.substr(0, comma), files.substr(comma + 1));
    return data;
  }
  if (startsWith(spec, "safetensors:")) {
    // safetensors:FILE or safetensors:FILE:IMAGES_KEY,LABELS_KEY (keys after the last ':', with a comma).
    std::string file = spec.substr(12), keys = "images,labels";
    const size_t colon = file.rfind(':');
    if (colon != std::string::npos && file.find(',', colon) != std::string::npos) {
      keys = file.substr(colon + 1);
      file.resize(colon);
    }
    const size_t comma = keys.find(',');
    SINGA_CHECK(!file.empty() && comma != std::string::npos && comma > 0 && comma + 1 < keys.size() &&
                    keys.find(',', comma + 1) == std::string::npos,
                ValueError, "data spec '" << spec << "': use safetensors:FILE or safetensors:FILE:IMAGES_KEY,LABELS_KEY");
    MnistData data;
    data.dir = file;
    data.train = loadSafetensorsSplit(file, keys.substr(0, comma), keys.substr(comma + 1));
    return data;
  }
  const size_t colon = spec.find(':');
  if (colon != std::string::npos && colon > 0 && !startsWith(spec, "mnist:") && spec.find('/') > colon) {
    SINGA_THROW(ValueError, "data spec '" << spec << "': unknown kind '" << spec.substr(0, colon)
                                          << "'; use fashion-mnist, mnist:DIR, cifar10:DIR, cifar100:DIR, "
                                             "npy:IMAGES.npy,LABELS.npy, safetensors:FILE[:IMAGES_KEY,LABELS_KEY] "
                                             "or a directory of IDX files");
  }
  return loadMnistDir(resolveDataSpec(spec));
}

MnistSplit loadEvalSplit(const std::string& spec) {
  MnistData data = loadDataSpec(spec);
  return data.test.size() > 0 ? data.test : data.train;
}

int64_t numClassesOf(const Tensor& labels) {
  SINGA_CHECK(labels.dtype() == DType::kInt64, TypeError, "numClassesOf: labels must be int64, got " << dtypeName(labels.dtype()));
  int64_t classes = 0;
  const int64_t* l = labels.data<int64_t>();
  for (int64_t i = 0; i < labels.numel(); ++i) classes = std::max(classes, l[i] + 1);
  return classes;
}

}  // namespace singa
