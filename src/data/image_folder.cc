// Image folders: listing (classes, files) and on-demand decoding + transforms of one sample.
#include "singa/data/image_folder.h"

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <system_error>

#include "singa/core/error.h"
#include "singa/data/dataset.h"

namespace singa {

namespace fs = std::filesystem;

namespace {

bool hidden(const fs::path& p) {
  const std::string name = p.filename().string();
  return !name.empty() && name[0] == '.';
}

/// Subfolders of `root` (not hidden), sorted by name.
std::vector<std::string> listClassFolders(const std::string& root) {
  std::error_code ec;
  SINGA_CHECK(fs::is_directory(root, ec), IoError,
              "image folder '" << root << "' is not a directory (or cannot be read); give DIR/<class>/*.jpg");
  std::vector<std::string> names;
  fs::directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
  SINGA_CHECK(!ec, IoError, "cannot list image folder '" << root << "': " << ec.message());
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    SINGA_CHECK(!ec, IoError, "cannot list image folder '" << root << "': " << ec.message());
    std::error_code typeEc;
    if (!hidden(it->path()) && it->is_directory(typeEc)) names.push_back(it->path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

/// Image files under `dir` (recursively, folder symlinks not followed), sorted by path. A file
/// link must resolve inside `root` (canonical): a data set never makes us read elsewhere.
std::vector<std::string> listImages(const fs::path& dir, const fs::path& root) {
  std::vector<std::string> files;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  SINGA_CHECK(!ec, IoError, "cannot list class folder '" << dir.string() << "': " << ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    SINGA_CHECK(!ec, IoError, "cannot list class folder '" << dir.string() << "': " << ec.message());
    if (hidden(it->path())) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    std::error_code typeEc;
    if (it->is_regular_file(typeEc) && hasImageExtension(it->path().filename().string())) {
      if (it->is_symlink(typeEc)) {
        const fs::path target = fs::canonical(it->path(), typeEc);
        const auto mismatch = std::mismatch(root.begin(), root.end(), target.begin(), target.end());
        SINGA_CHECK(!typeEc && mismatch.first == root.end(), ValueError,
                    "image '" << it->path().string() << "' is a link to '" << target.string()
                              << "', outside the image folder '" << root.string()
                              << "'; copy the file into the folder or remove the link");
      }
      files.push_back(it->path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

bool looksLikeImageFolder(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return false;
  for (const std::string& stem : mnistFileStems()) {
    if (fs::exists(fs::path(dir) / stem, ec) || fs::exists(fs::path(dir) / (stem + ".gz"), ec)) return false;
  }
  fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  if (ec) return false;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return false;
    std::error_code typeEc;
    if (!hidden(it->path()) && it->is_directory(typeEc)) return true;
  }
  return false;
}

ImageFolderDataset::ImageFolderDataset(const std::string& root, const TransformOptions& transforms,
                                       ImageFolderOptions options)
    : root_(root), options_(std::move(options)) {
  const std::vector<std::string> folders = listClassFolders(root);
  std::error_code ec;
  const fs::path canonicalRoot = fs::canonical(root, ec);
  SINGA_CHECK(!ec, IoError, "cannot resolve image folder '" << root << "': " << ec.message());
  classes_ = options_.classes.empty() ? folders : options_.classes;
  SINGA_CHECK(!classes_.empty(), ValueError,
              "image folder '" << root << "' has no class folders; put the images in one folder per class "
                               "(DIR/<class>/*.jpg), as torchvision's ImageFolder expects");
  for (const std::string& folder : folders) {
    const auto at = std::find(classes_.begin(), classes_.end(), folder);
    SINGA_CHECK(at != classes_.end(), ValueError,
                "image folder '" << root << "' has a class folder '" << folder
                                 << "' that its training split does not have; the splits must have the same classes");
    const int64_t label = at - classes_.begin();
    const std::vector<std::string> images = listImages(fs::path(root) / folder, canonicalRoot);
    if (images.empty()) {
      std::ostringstream msg;
      msg << "class folder '" << (fs::path(root) / folder).string()
          << "' has no .jpg, .jpeg or .png files";
      SINGA_CHECK(options_.allowEmptyClasses, ValueError,
                  msg.str() << "; add images or remove the folder (--skip-bad-samples keeps its class with no samples)");
      warnings_.push_back(msg.str() + " (class " + std::to_string(label) + " kept, with no samples)");
    }
    for (const std::string& path : images) files_.push_back({path, label});
  }
  SINGA_CHECK(!files_.empty(), ValueError,
              "image folder '" << root << "' holds no .jpg, .jpeg or .png files in its class folders");
  // The first image fixes the size without a crop or fixed size. The channel count is 3 when any
  // of up to kProbes images spread over the list is in colour (torchvision converts all to RGB;
  // a folder of grayscale images stays 1 channel), unless the transforms set it.
  const Image first = readImageFile(files_.front().path, options_.limits);
  firstHeight_ = first.height;
  firstWidth_ = first.width;
  firstChannels_ = first.channels;
  constexpr size_t kProbes = 32;
  const size_t stride = std::max<size_t>(files_.size() / kProbes, 1);
  for (size_t i = stride; i < files_.size() && firstChannels_ == 1 && transforms.channels == 0; i += stride) {
    firstChannels_ = std::max(firstChannels_, readImageFile(files_[i].path, options_.limits).channels);
  }
  setTransforms(transforms);
}

void ImageFolderDataset::setTransforms(const TransformOptions& options) {
  TransformOptions t = options;
  // Unset, the channel count follows --normalize's values when given, else the images.
  if (t.channels == 0) t.channels = t.mean.size() == 3 ? 3 : t.mean.size() == 1 ? 1 : firstChannels_;
  const std::vector<int64_t> s = transformedShape(t, firstHeight_, firstWidth_, firstChannels_);
  transforms_ = options;
  effective_ = t;
  shape_ = Shape(s.begin(), s.end());
}

std::string ImageFolderDataset::describe(int64_t i) const { return "'" + path(i) + "'"; }

void ImageFolderDataset::load(int64_t i, bool train, Generator& rng, void* out) const {
  const Image img = readImageFile(path(i), options_.limits);
  const std::vector<int64_t> s = transformedShape(effective_, img.height, img.width, img.channels);
  if (!std::equal(s.begin(), s.end(), shape_.begin(), shape_.end())) {
    SINGA_THROW(ValueError, "image '" << path(i) << "' is " << img.width << " x " << img.height << " pixels and becomes "
                                      << Shape(s.begin(), s.end()) << " but the first image '" << files_.front().path
                                      << "' becomes " << shape_
                                      << "; images of different sizes need --resize N --crop N (or a fixed size)");
  }
  applyTransforms(img, effective_, train, rng, static_cast<float*>(out));
}

}  // namespace singa
