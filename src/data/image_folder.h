// Image folders in torchvision's ImageFolder layout: ROOT/<class>/**/*.{jpg,jpeg,png}. Classes are
// the subfolders of ROOT sorted by name; a class's index is its position. Files are listed once
// (sorted, hidden files and other extensions ignored, subfolders of a class folder included,
// folder symlinks not followed) and decoded on demand with libjpeg-turbo and libspng (image.h).
#pragma once

#include <string>
#include <vector>

#include "singa/data/source.h"

namespace singa {

struct ImageFolderOptions {
  /// A class folder without images is an error unless this is set (then a warning, and the
  /// class keeps its index with no samples).
  bool allowEmptyClasses = false;
  /// The class list to use instead of ROOT's subfolders (a validation split takes its training
  /// split's classes, so the indices agree; a folder not in the list is an error).
  std::vector<std::string> classes;
  DecodeLimits limits;
};

class ImageFolderDataset : public Dataset {
 public:
  /// Lists `root`. Throws IoError when it is not a readable directory, ValueError when it has no
  /// class folders, an empty class folder (see ImageFolderOptions), or no images at all. The
  /// sample shape comes from the transforms and the first image, which is decoded here; the
  /// channel count (unless the transforms set it, or --normalize gives 1 or 3 values) is 3 when
  /// any of up to 32 images spread over the list is in colour, else 1.
  explicit ImageFolderDataset(const std::string& root, const TransformOptions& transforms = {},
                              ImageFolderOptions options = {});

  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  int64_t label(int64_t i) const override { return files_[static_cast<size_t>(i)].label; }
  Shape sampleShape() const override { return shape_; }
  void load(int64_t i, bool train, Generator& rng, void* out) const override;
  std::string describe(int64_t i) const override;
  std::string source() const override { return root_; }
  std::vector<std::string> classNames() const override { return classes_; }
  void setTransforms(const TransformOptions& options) override;
  bool decodes() const override { return true; }

  const std::string& path(int64_t i) const { return files_[static_cast<size_t>(i)].path; }
  /// Warnings from listing (empty class folders allowed by the options).
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  struct File {
    std::string path;
    int64_t label;
  };
  std::string root_;
  std::vector<std::string> classes_;
  std::vector<File> files_;
  std::vector<std::string> warnings_;
  ImageFolderOptions options_;
  int64_t firstHeight_ = 0, firstWidth_ = 0, firstChannels_ = 0;
  TransformOptions effective_;  ///< transforms_ with the output channel count filled in
  Shape shape_;
};

/// True when `dir` looks like an image folder: no IDX files, and at least one subfolder.
bool looksLikeImageFolder(const std::string& dir);

}  // namespace singa
