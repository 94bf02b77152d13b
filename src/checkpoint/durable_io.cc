// POSIX file I/O with fsync for checkpoints (see durable_io.h).
#include "singa/checkpoint/durable_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <algorithm>
#include <cstdint>

#include "singa/core/error.h"
#include "singa/core/file_read.h"

namespace singa::checkpoint {
namespace {

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

void writeFileSynced(const std::string& path, const std::string& bytes) {
  Fd f{::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
  SINGA_CHECK(f.fd >= 0, IoError, "cannot create checkpoint file '" << path << "': " << std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(f.fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    SINGA_CHECK(n > 0, IoError,
                "writing checkpoint file '" << path << "' failed: " << std::strerror(errno) << " (disk full?)");
    done += static_cast<size_t>(n);
  }
  SINGA_CHECK(::fsync(f.fd) == 0, IoError, "fsync of checkpoint file '" << path << "' failed: " << std::strerror(errno));
  const int fd = f.fd;
  f.fd = -1;
  SINGA_CHECK(::close(fd) == 0, IoError, "closing checkpoint file '" << path << "' failed: " << std::strerror(errno));
}

void syncDirectory(const std::string& dir) {
  Fd f{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  SINGA_CHECK(f.fd >= 0, IoError, "cannot open directory '" << dir << "' to fsync it: " << std::strerror(errno));
  SINGA_CHECK(::fsync(f.fd) == 0, IoError, "fsync of directory '" << dir << "' failed: " << std::strerror(errno));
}

void renameSynced(const std::string& from, const std::string& to) {
  SINGA_CHECK(::rename(from.c_str(), to.c_str()) == 0, IoError,
              "renaming '" << from << "' to '" << to << "' failed: " << std::strerror(errno));
  std::string parent = std::filesystem::path(to).parent_path().string();
  syncDirectory(parent.empty() ? "." : parent);
}

std::string readFile(const std::string& path, uint64_t maxBytes) {
  return readRegularFile(path, "checkpoint file", static_cast<int64_t>(std::min<uint64_t>(maxBytes, INT64_MAX)));
}

uint32_t crc32Of(const void* data, uint64_t size) {
  return static_cast<uint32_t>(::crc32_z(::crc32_z(0L, Z_NULL, 0), static_cast<const Bytef*>(data), size));
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

}  // namespace singa::checkpoint
