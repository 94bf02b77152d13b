// The one place the command-line programs turn an exception into a message and an exit code.
// Library errors carry their own text (naming the file, node or field). Anything else reaching
// here is a gap in the library's checks; it still ends as one line a user can act on, never as
// a bare "std::bad_alloc" or "basic_string::_M_create".
#pragma once

#include <cstdio>
#include <exception>
#include <filesystem>
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>

#include "singa/core/blas_coretype.h"
#include "singa/core/error.h"
#include "singa/kernels/cpu/conv_dnnl.h"

namespace singa::launch {

/// --version: the program and singa's version, then the CPU, the GEMM and the convolution
/// kernels this process runs ("cpu: ...; gemm: OpenBLAS 0.3.21 Zen (library's choice); conv:
/// oneDNN 2.6.3 avx2", core/blas_coretype.h, kernels/cpu/conv_dnnl.h).
inline std::string versionText(const char* program) {
  return std::string(program) + " " + SINGA_VERSION + "\n" + cpu::cpuKernelsDescription();
}

/// Runs `body` and returns its exit code; an exception becomes "PROGRAM: error: ..." on stderr,
/// handed first to `onError` (a distributed job aborts its other ranks there), and exit code 1.
template <class Body, class OnError>
int runGuarded(const char* program, Body&& body, OnError&& onError) {
  std::string message;
  try {
    return body();
  } catch (const Error& e) {
    message = e.what();
  } catch (const std::bad_alloc&) {
    message = "out of memory (the input's sizes are too large for this machine; SINGA_MEMORY_LIMIT sets the "
              "limit singa checks against)";
  } catch (const std::length_error&) {
    message = "a size computed from the input is too large to allocate";
  } catch (const std::filesystem::filesystem_error& e) {
    message = e.what();  // names the operation and the path ("... Permission denied [ckpt/step-3]")
  } catch (const std::system_error& e) {
    message = e.what();
  } catch (const std::exception& e) {
    message = std::string("internal error (please report, with the input that caused it): ") + e.what();
  }
  const std::string line = std::string(program) + ": error: " + message;
  onError(line);
  std::fprintf(stderr, "%s\n", line.c_str());
  return 1;
}

}  // namespace singa::launch
