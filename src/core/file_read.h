// Reading files a user names (models, tensors, external data) without trusting what the path is.
// A FIFO would block the open or the read forever, a character device such as /dev/zero never
// ends, a directory reads as nothing: each is refused up front with an IoError naming the file.
// The file is opened non-blocking and checked with fstat on the descriptor itself, so a path
// swapped between a check and the open cannot slip through.
#pragma once

#include <cstdint>
#include <string>

namespace singa {

/// Opens the regular file `path` read-only and returns its descriptor (the caller closes it) and,
/// in `size`, its length. IoError naming `what` when it is missing or not a regular file
/// ("<what> '<path>' is not a regular file (it is a FIFO)").
int openRegularFile(const std::string& path, const std::string& what, int64_t* size);

/// Reads exactly `length` bytes at `offset` of the open descriptor `fd` into `dst` (retrying
/// interrupted and short reads). IoError naming `what` and `path` when the read fails or the file
/// ends first (it shrank after it was opened).
void readFully(int fd, void* dst, int64_t offset, int64_t length, const std::string& path, const std::string& what);

/// The contents of the regular file `path`, at most `maxBytes` long (IoError naming `what`
/// otherwise: missing, not a regular file, too large, or a failed read).
std::string readRegularFile(const std::string& path, const std::string& what, int64_t maxBytes);

/// `length` bytes at `offset` of the regular file `path` (length < 0: up to the end of the file).
/// IoError naming `what` when the range lies outside the file.
std::string readRegularFileRange(const std::string& path, const std::string& what, int64_t offset,
                                 int64_t length);

/// The canonical absolute form of `path` (symbolic links resolved); IoError naming `what` when it
/// does not exist.
std::string canonicalPath(const std::string& path, const std::string& what);

}  // namespace singa
