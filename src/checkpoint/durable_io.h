// Crash-safe file operations for checkpoints: a file is written in full and fsync'ed before it
// is renamed into place, and the directory holding a rename is fsync'ed so the rename itself
// survives a power loss. A process killed at any moment leaves either the old state or the new
// one (plus, at worst, a temporary file or directory that the next writer removes).
#pragma once

#include <cstdint>
#include <string>

namespace singa::checkpoint {

/// Writes `bytes` to `path` (created or truncated) and fsyncs it. Throws IoError naming the file.
void writeFileSynced(const std::string& path, const std::string& bytes);
/// fsync of a directory (makes renames and creations inside it durable).
void syncDirectory(const std::string& dir);
/// rename(2) `from` -> `to` (atomic on one file system), then fsync of `to`'s directory.
void renameSynced(const std::string& from, const std::string& to);
/// Reads a whole regular file of at most `maxBytes` bytes (a symlink is followed to its target).
/// Throws IoError naming the file when it is missing or unreadable, is not a regular file (a FIFO,
/// a device such as /dev/zero or a directory, which would block or never end), is larger than
/// `maxBytes`, or changes size while it is read; MemoryError (naming it) when its size passes the
/// allocation ceiling (core/memory_limit.h).
std::string readFile(const std::string& path, uint64_t maxBytes = UINT64_MAX);
/// CRC-32 (zlib's polynomial) of `size` bytes.
uint32_t crc32Of(const void* data, uint64_t size);
/// "0x1234abcd".
std::string hex32(uint32_t v);

}  // namespace singa::checkpoint
