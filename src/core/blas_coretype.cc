// Re-pointing OpenBLAS's kernel table after it loaded. OpenBLAS exports the two halves of its
// load-time choice, gotoblas_dynamic_quit() (forget the table) and gotoblas_dynamic_init()
// (choose again, reading OPENBLAS_CORETYPE first). The functions are looked up in the library
// that serves our own OpenBLAS calls (found with dladdr), so a BLAS without them, or a build for
// a single core, is left alone.
#include "singa/core/blas_coretype.h"

#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <mutex>
#include <optional>

#include "singa/core/cpu_features.h"

extern "C" void openblas_set_num_threads(int);

namespace singa {
namespace {

constexpr const char* kCoretypeVariable = "OPENBLAS_CORETYPE";

struct OpenBlasApi {
  const char* (*corename)() = nullptr;
  const char* (*config)() = nullptr;
  void (*quit)() = nullptr;
  void (*init)() = nullptr;
};

const OpenBlasApi& openBlas() {
  static const OpenBlasApi api = [] {
    // The library that defines openblas_set_num_threads, which src/core/parallel.cc calls; the
    // global scope when that library cannot be opened by name (linked into the executable).
    void* handle = nullptr;
    Dl_info where{};
    if (dladdr(reinterpret_cast<void*>(&openblas_set_num_threads), &where) != 0 && where.dli_fname != nullptr) {
      handle = dlopen(where.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
    }
    void* scope = handle != nullptr ? handle : RTLD_DEFAULT;
    OpenBlasApi a;
    a.corename = reinterpret_cast<const char* (*)()>(dlsym(scope, "openblas_get_corename"));
    a.config = reinterpret_cast<const char* (*)()>(dlsym(scope, "openblas_get_config"));
    a.quit = reinterpret_cast<void (*)()>(dlsym(scope, "gotoblas_dynamic_quit"));
    a.init = reinterpret_cast<void (*)()>(dlsym(scope, "gotoblas_dynamic_init"));
    // The library stays loaded (libsinga links it); the handle only counted a reference.
    if (handle != nullptr) dlclose(handle);
    return a;
  }();
  return api;
}

bool sameName(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

// "OpenBLAS 0.3.21" from "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64".
std::string libraryName(const char* config) {
  const std::string text = config != nullptr ? config : "";
  if (text.rfind("OpenBLAS ", 0) != 0) return "OpenBLAS";
  const size_t end = text.find(' ', 9);
  return text.substr(0, end);
}

}  // namespace

std::string blasCorename() {
  const OpenBlasApi& api = openBlas();
  const char* name = api.corename != nullptr ? api.corename() : nullptr;
  return name != nullptr ? name : "";
}

bool repointBlasCoretype(const std::string& name) {
  const OpenBlasApi& api = openBlas();
  if (api.quit == nullptr || api.init == nullptr) return false;
  const char* previous = std::getenv(kCoretypeVariable);
  const std::optional<std::string> saved = previous != nullptr ? std::optional<std::string>(previous) : std::nullopt;
  api.quit();
  setenv(kCoretypeVariable, name.c_str(), 1);
  api.init();
  if (saved) {
    setenv(kCoretypeVariable, saved->c_str(), 1);
  } else {
    unsetenv(kCoretypeVariable);
  }
  return true;
}

BlasInfo repairBlasCoretypeNow() {
  BlasInfo info;
  if (const char* user = std::getenv(kCoretypeVariable)) {
    info.userSet = true;
    info.userCoretype = user;
  }
  const OpenBlasApi& api = openBlas();
  if (api.corename == nullptr) return info;
  info.library = libraryName(api.config != nullptr ? api.config() : nullptr);
  info.loadCore = info.core = blasCorename();
  info.dynamic = api.quit != nullptr && api.init != nullptr;
  if (!info.dynamic) return info;
  const std::optional<std::string> wanted = wantedBlasCoretype(detectCpuFeatures(), info.loadCore, info.userSet);
  if (!wanted) return info;
  repointBlasCoretype(*wanted);
  info.core = blasCorename();
  // A build without the wanted table gives another; keep it only when it is a step up.
  if (blasCoretypeRank(info.core) > blasCoretypeRank(info.loadCore)) {
    info.repaired = true;
    if (!sameName(info.core, *wanted)) info.note = "asked for " + *wanted;
    return info;
  }
  info.note = "it gave " + info.core + " for " + *wanted;
  repointBlasCoretype(info.loadCore);
  info.core = blasCorename();
  return info;
}

BlasInfo repairBlasCoretype() {
  static std::once_flag once;
  static BlasInfo info;
  std::call_once(once, [] { info = repairBlasCoretypeNow(); });  // retried if it threw
  return info;
}

std::string describeBlas(const BlasInfo& info) {
  if (info.library.empty()) return "BLAS without openblas_get_corename (its own kernel choice)";
  std::string why;
  if (info.userSet) {
    why = std::string(kCoretypeVariable) + "=" + info.userCoretype + ", user's";
  } else if (info.repaired) {
    why = "auto; OpenBLAS chose " + info.loadCore;
  } else if (!info.dynamic) {
    why = "built for one core";
  } else {
    why = "library's choice";
  }
  if (!info.note.empty()) why += "; " + info.note;
  return info.library + " " + info.core + " (" + why + ")";
}

std::string cpuAndGemmDescription() {
  return "cpu: " + describeCpu(detectCpuFeatures()) + "; gemm: " + describeBlas(repairBlasCoretype());
}

namespace {

// Runs when libsinga loads, after OpenBLAS's own constructor (a dependency initialises first)
// and before any code of the program can call BLAS. Only std::bad_alloc can escape the repair;
// call_once then lets setNumThreads() try again.
[[gnu::constructor]] void repairBlasCoretypeAtLoad() {
  try {
    repairBlasCoretype();
  } catch (...) {
  }
}

}  // namespace
}  // namespace singa
