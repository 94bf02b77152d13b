// Crash-safe file operations for everything singa writes that a later run reads (checkpoints,
// exported ONNX models): a file is written in full and fsync'ed before it is renamed into place,
// and the directory holding a rename is fsync'ed so the rename itself survives a power loss. A
// process killed at any moment, or a disk that fills up, leaves either the old file or the new
// one (plus, at worst, a temporary file that the next writer removes or overwrites). The reading
// counterpart, which refuses FIFOs and devices, is core/file_read.h.
#pragma once

#include <cstdint>
#include <string>

namespace singa {

/// Writes `bytes` to `path` (created or truncated) and fsyncs it. Throws IoError naming `what`
/// and the path ("cannot create checkpoint file '...': ...").
void writeFileSynced(const std::string& path, const std::string& bytes, const std::string& what = "file");
/// fsync of a directory (makes renames and creations inside it durable).
void syncDirectory(const std::string& dir);
/// rename(2) `from` -> `to` (atomic on one file system), then fsync of `to`'s directory.
void renameSynced(const std::string& from, const std::string& to);
/// Replaces (or creates) `path` with `bytes` durably: writes a temporary file in the same
/// directory, fsyncs it, renames it over `path` and fsyncs the directory. Throws IoError naming
/// `what` and `path` when `path` is a directory or any step fails; the temporary file is then
/// removed and a previous file at `path` is left as it was.
void replaceFileSynced(const std::string& path, const std::string& bytes, const std::string& what = "file");
/// Reads a whole regular file of at most `maxBytes` bytes (a symlink is followed to its target).
/// Throws IoError naming `what` and the file when it is missing or unreadable, is not a regular
/// file (a FIFO, a device such as /dev/zero or a directory, which would block or never end), is
/// larger than `maxBytes`, or changes size while it is read; MemoryError (naming it) when its size
/// passes the allocation ceiling (core/memory_limit.h).
std::string readFile(const std::string& path, uint64_t maxBytes = UINT64_MAX, const std::string& what = "file");
/// CRC-32 (zlib's polynomial) of `size` bytes.
uint32_t crc32Of(const void* data, uint64_t size);
/// "0x1234abcd".
std::string hex32(uint32_t v);

}  // namespace singa
