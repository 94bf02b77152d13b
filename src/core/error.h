// Errors a user can cause (bad shapes, bad files, unsupported ops, bad flags) are thrown as
// singa::Error or a subclass, with a message that names the thing and the fix. Only main()
// turns an error into an exit code. SINGA_CHECK builds the message with stream syntax:
//   SINGA_CHECK(a.ndim() == 4, ShapeError, "Conv: input must be 4-D, got " << a.shape());
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace singa {

/// Base of every error the library throws on purpose.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

/// Tensor shapes that do not fit an operation.
class ShapeError : public Error {
 public:
  using Error::Error;
};

/// A dtype an operation does not accept, or no kernel for (op, device, dtype).
class TypeError : public Error {
 public:
  using Error::Error;
};

/// A missing, unreadable, truncated or corrupt file.
class IoError : public Error {
 public:
  using Error::Error;
};

/// A bad argument value (flag, attribute, option).
class ValueError : public Error {
 public:
  using Error::Error;
};

/// An operation or feature that is not supported (unsupported ONNX op, no CUDA build, ...).
class NotSupportedError : public Error {
 public:
  using Error::Error;
};

/// A size that cannot be represented or would exceed the memory limit (see core/memory_limit.h):
/// a crafted model asking for a 16 TiB tensor, a shape whose element count overflows int64.
class MemoryError : public Error {
 public:
  using Error::Error;
};

}  // namespace singa

#define SINGA_THROW(ErrorType, msg_stream)           \
  do {                                               \
    std::ostringstream singa_err_os_;                \
    singa_err_os_ << msg_stream;                     \
    throw ::singa::ErrorType(singa_err_os_.str());   \
  } while (0)

#define SINGA_CHECK(cond, ErrorType, msg_stream) \
  do {                                           \
    if (!(cond)) SINGA_THROW(ErrorType, msg_stream); \
  } while (0)

/// Internal invariant: a failure is a bug in singa, not in the caller's input.
#define SINGA_ASSERT(cond)                                                               \
  do {                                                                                   \
    if (!(cond))                                                                         \
      SINGA_THROW(Error, "internal error: " #cond " failed at " << __FILE__ << ":" << __LINE__ \
                                                   << " (please report)");               \
  } while (0)
