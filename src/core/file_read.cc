#include "singa/core/file_read.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <new>

#include "singa/core/error.h"
#include "singa/core/memory_limit.h"

namespace singa {
namespace {

// Closes the descriptor on every path out of the readers.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

const char* fileKind(mode_t mode) {
  if (S_ISDIR(mode)) return "directory";
  if (S_ISFIFO(mode)) return "FIFO";
  if (S_ISCHR(mode)) return "character device";
  if (S_ISBLK(mode)) return "block device";
  if (S_ISSOCK(mode)) return "socket";
  return "special file";
}

int64_t openRegular(const std::string& path, const std::string& what, Fd* fd) {
  int64_t size = 0;
  fd->fd = openRegularFile(path, what, &size);
  return size;
}

std::string readAt(const std::string& path, const std::string& what, const Fd& fd, int64_t offset, int64_t length) {
  try {
    checkAllocation(static_cast<size_t>(length), 0);
  } catch (const MemoryError& e) {
    SINGA_THROW(MemoryError, what << " '" << path << "' cannot be read whole: it " << e.what());
  }
  std::string bytes;
  try {
    bytes.resize(static_cast<size_t>(length));
  } catch (const std::bad_alloc&) {
    SINGA_THROW(MemoryError, what << " '" << path << "' (" << formatBytes(static_cast<double>(length))
                                  << ") does not fit in memory");
  }
  readFully(fd.fd, bytes.data(), offset, length, path, what);
  return bytes;
}

}  // namespace

void readFully(int fd, void* dst, int64_t offset, int64_t length, const std::string& path, const std::string& what) {
  char* out = static_cast<char*>(dst);
  int64_t done = 0;
  while (done < length) {
    const ssize_t n = ::pread(fd, out + done, static_cast<size_t>(length - done), offset + done);
    if (n < 0 && errno == EINTR) continue;
    SINGA_CHECK(n >= 0, IoError, "reading " << what << " '" << path << "' failed: " << std::strerror(errno));
    SINGA_CHECK(n > 0, IoError, what << " '" << path << "' ended after " << offset + done << " bytes (truncated while reading?)");
    done += n;
  }
}

int openRegularFile(const std::string& path, const std::string& what, int64_t* size) {
  // O_NONBLOCK: opening a FIFO would otherwise wait for a writer forever. It changes nothing for
  // the regular files that are read; the checks use the descriptor that is read.
  Fd fd;
  fd.fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd.fd < 0) {
    const int err = errno;
    SINGA_THROW(IoError, what << " '" << path << "' "
                              << (err == ENOENT ? "does not exist" : "cannot be opened: " + std::string(std::strerror(err))));
  }
  struct stat st {};
  SINGA_CHECK(::fstat(fd.fd, &st) == 0, IoError, what << " '" << path << "' cannot be examined: " << std::strerror(errno));
  SINGA_CHECK(S_ISREG(st.st_mode), IoError,
              what << " '" << path << "' is not a regular file (it is a " << fileKind(st.st_mode) << ")"
                   << (S_ISDIR(st.st_mode) ? "; give the file inside it" : ""));
  *size = static_cast<int64_t>(st.st_size);
  const int out = fd.fd;
  fd.fd = -1;
  return out;
}

std::string readRegularFile(const std::string& path, const std::string& what, int64_t maxBytes) {
  Fd fd;
  const int64_t size = openRegular(path, what, &fd);
  SINGA_CHECK(size <= maxBytes, IoError,
              what << " '" << path << "' is " << formatBytes(static_cast<double>(size)) << ", more than the "
                   << formatBytes(static_cast<double>(maxBytes)) << " such a file may hold");
  return readAt(path, what, fd, 0, size);
}

std::string readRegularFileRange(const std::string& path, const std::string& what, int64_t offset, int64_t length) {
  Fd fd;
  const int64_t size = openRegular(path, what, &fd);
  SINGA_CHECK(offset >= 0 && offset <= size, IoError,
              what << " '" << path << "' holds " << size << " bytes; offset " << offset << " lies outside it");
  if (length < 0) length = size - offset;
  SINGA_CHECK(length <= size - offset, IoError,
              what << " '" << path << "' holds " << size << " bytes, but offset " << offset << " + length " << length
                   << " are needed (truncated file?)");
  return readAt(path, what, fd, offset, length);
}

std::string canonicalPath(const std::string& path, const std::string& what) {
  char* resolved = ::realpath(path.c_str(), nullptr);
  if (resolved == nullptr) {
    const int err = errno;
    SINGA_THROW(IoError, what << " '" << path << "' "
                              << (err == ENOENT ? "does not exist" : "cannot be resolved: " + std::string(std::strerror(err))));
  }
  std::string out(resolved);
  std::free(resolved);
  return out;
}

}  // namespace singa
