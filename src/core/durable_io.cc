// POSIX file I/O with fsync for checkpoints and exported models (see durable_io.h).
#include "singa/core/durable_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "singa/core/error.h"
#include "singa/core/file_read.h"

namespace singa {
namespace {

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string parentDirectory(const std::string& path) {
  std::string parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

}  // namespace

void writeFileSynced(const std::string& path, const std::string& bytes, const std::string& what) {
  Fd f{::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
  SINGA_CHECK(f.fd >= 0, IoError, "cannot create " << what << " '" << path << "': " << std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(f.fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    SINGA_CHECK(n > 0, IoError,
                "writing " << what << " '" << path << "' failed: " << std::strerror(errno) << " (disk full?)");
    done += static_cast<size_t>(n);
  }
  SINGA_CHECK(::fsync(f.fd) == 0, IoError, "fsync of " << what << " '" << path << "' failed: " << std::strerror(errno));
  const int fd = f.fd;
  f.fd = -1;
  SINGA_CHECK(::close(fd) == 0, IoError, "closing " << what << " '" << path << "' failed: " << std::strerror(errno));
}

void syncDirectory(const std::string& dir) {
  Fd f{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  SINGA_CHECK(f.fd >= 0, IoError, "cannot open directory '" << dir << "' to fsync it: " << std::strerror(errno));
  SINGA_CHECK(::fsync(f.fd) == 0, IoError, "fsync of directory '" << dir << "' failed: " << std::strerror(errno));
}

void renameSynced(const std::string& from, const std::string& to) {
  SINGA_CHECK(::rename(from.c_str(), to.c_str()) == 0, IoError,
              "renaming '" << from << "' to '" << to << "' failed: " << std::strerror(errno));
  syncDirectory(parentDirectory(to));
}

void replaceFileSynced(const std::string& path, const std::string& bytes, const std::string& what) {
  SINGA_CHECK(!path.empty(), IoError, "cannot write " << what << ": the path is empty");
  struct stat st {};
  SINGA_CHECK(::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode), IoError,
              "cannot write " << what << " '" << path << "': it is a directory; give a file path");
  // Next to the target, so the rename stays on one file system; unique per process and call.
  static std::atomic<uint64_t> counter{0};
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  const std::string unchanged = "; any previous file at that path is unchanged";
  try {
    writeFileSynced(tmp, bytes, "temporary file");
  } catch (const IoError& e) {
    ::unlink(tmp.c_str());
    SINGA_THROW(IoError, "cannot write " << what << " '" << path << "': " << e.what() << unchanged);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    SINGA_THROW(IoError, "cannot move " << what << " into place at '" << path << "': " << std::strerror(err)
                                        << unchanged);
  }
  try {
    syncDirectory(parentDirectory(path));
  } catch (const IoError& e) {
    SINGA_THROW(IoError, what << " '" << path << "' was written, but " << e.what()
                              << " (the new file may not survive a power loss)");
  }
}

std::string readFile(const std::string& path, uint64_t maxBytes, const std::string& what) {
  return readRegularFile(path, what, static_cast<int64_t>(std::min<uint64_t>(maxBytes, INT64_MAX)));
}

uint32_t crc32Of(const void* data, uint64_t size) {
  return static_cast<uint32_t>(::crc32_z(::crc32_z(0L, Z_NULL, 0), static_cast<const Bytef*>(data), size));
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

}  // namespace singa
