// Helpers for the tests that feed hostile files to readers (tests/checkpoint/hostile_test.cc,
// tests/data/hostile_idx_test.cc): a scratch directory per test, and a forked child that runs a
// reader with a deadline, so a reader that hangs (a FIFO, /dev/zero) fails the test instead of
// hanging it.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>

#include "singa/core/error.h"

namespace singa::test {
namespace fs = std::filesystem;

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& prefix) {
    path = fs::temp_directory_path() / (prefix + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string operator/(const std::string& s) const { return (path / s).string(); }
};

// Runs `body` in a forked child; returns what it reports ("IoError: ...", "MemoryError: ...",
// "ok ..."), or "timeout" when it has not finished within `seconds` (the child is then killed).
inline std::string inChild(const std::function<std::string()>& body, int seconds = 10) {
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::string out;
    try {
      out = body();
    } catch (const MemoryError& e) {
      out = std::string("MemoryError: ") + e.what();
    } catch (const IoError& e) {
      out = std::string("IoError: ") + e.what();
    } catch (const Error& e) {
      out = std::string("Error: ") + e.what();
    } catch (const std::exception& e) {
      out = std::string("other exception: ") + e.what();
    }
    (void)!::write(fds[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  bool timedOut = true;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      char buf[4096];
      const ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n <= 0) {
        timedOut = false;
        break;
      }
      got.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fds[0]);
  if (timedOut) ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (timedOut) return "timeout";
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return got;
}

}  // namespace singa::test
