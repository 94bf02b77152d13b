// safetensors as a data source (see safetensors.h). The file is opened once and checked to be a
// regular file; its length and header are read and validated (core/safetensors.h) against the
// file's size before anything else is allocated, then each requested tensor's bytes are read at
// their offset into the tensor's own storage.
#include "singa/data/safetensors.h"

#include <unistd.h>

#include <algorithm>
#include <sstream>

#include "singa/core/durable_io.h"
#include "singa/core/error.h"
#include "singa/core/file_read.h"
#include "singa/core/json_guard.h"
#include "singa/core/safetensors.h"
#include "singa/data/array_split.h"

namespace singa {
namespace {

constexpr const char* kFileKind = "safetensors file";

struct OpenFile {
  int fd = -1;
  ~OpenFile() {
    if (fd >= 0) ::close(fd);
  }
};

// "'a', 'b', 'c'" (at most 20 names, each cut short: a hostile header may hold millions).
std::string nameList(const SafetensorsHeader& h) {
  std::ostringstream os;
  size_t shown = 0;
  for (const SafetensorsEntry& e : h.entries) {
    if (shown == 20) {
      os << " and " << h.entries.size() - shown << " more";
      break;
    }
    os << (shown ? ", '" : "'") << printable(e.name, 40) << "'";
    ++shown;
  }
  return shown == 0 ? std::string("no tensors") : os.str();
}

std::map<std::string, Tensor> load(const std::string& path, const std::vector<std::string>& names,
                                   const std::string& missingHint) {
  const std::string what = std::string(kFileKind) + " '" + path + "'";
  OpenFile file;
  int64_t size = 0;
  file.fd = openRegularFile(path, kFileKind, &size);
  const auto fileSize = static_cast<uint64_t>(size);
  std::string prefix(static_cast<size_t>(std::min<uint64_t>(fileSize, 8)), '\0');
  readFully(file.fd, prefix.data(), 0, static_cast<int64_t>(prefix.size()), path, kFileKind);
  const uint64_t headerLen = safetensorsHeaderLength(prefix, fileSize, what);  // <= 100 MB and inside the file
  prefix.resize(8 + static_cast<size_t>(headerLen));
  readFully(file.fd, prefix.data() + 8, 8, static_cast<int64_t>(headerLen), path, kFileKind);
  const SafetensorsHeader h = parseSafetensorsFileHeader(prefix, fileSize, what);
  prefix = std::string();

  std::vector<const SafetensorsEntry*> wanted;
  if (names.empty()) {
    for (const SafetensorsEntry& e : h.entries) wanted.push_back(&e);
  }
  for (const std::string& name : names) {
    const SafetensorsEntry* found = nullptr;
    for (const SafetensorsEntry& e : h.entries) {
      if (e.name == name) found = &e;
    }
    SINGA_CHECK(found != nullptr, ValueError,
                what << " has no tensor '" << printable(name) << "'; it holds " << nameList(h) << missingHint);
    wanted.push_back(found);
  }
  std::map<std::string, Tensor> out;
  for (const SafetensorsEntry* e : wanted) {
    if (out.count(e->name)) continue;
    Tensor t = allocateSafetensorsTensor(*e, what);
    // Offsets are inside the file: the header check tiles [dataStart, fileSize) with the entries.
    readFully(file.fd, t.rawData(), static_cast<int64_t>(h.dataStart + e->begin), static_cast<int64_t>(e->end - e->begin),
              path, kFileKind);
    checkSafetensorsBools(t, *e, what);
    out.emplace(e->name, std::move(t));
  }
  return out;
}

}  // namespace

std::map<std::string, Tensor> loadSafetensors(const std::string& path, const std::vector<std::string>& names) {
  return load(path, names, "");
}

void saveSafetensors(const std::string& path, const std::map<std::string, Tensor>& tensors) {
  replaceFileSynced(path, encodeSafetensors(tensors), kFileKind);
}

MnistSplit loadSafetensorsSplit(const std::string& path, const std::string& imagesKey, const std::string& labelsKey) {
  std::map<std::string, Tensor> t =
      load(path, {imagesKey, labelsKey},
           "; name the images and labels with safetensors:FILE:IMAGES_KEY,LABELS_KEY (default: images,labels)");
  const std::string file = "'" + path + "'";
  return checkedArraySplit(t.at(imagesKey), t.at(labelsKey), file + " tensor '" + printable(imagesKey) + "'",
                           file + " tensor '" + printable(labelsKey) + "'", /*allowTokenIds=*/true);
}

}  // namespace singa
