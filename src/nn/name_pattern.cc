// Glob matching of dotted parameter names (see name_pattern.h).
#include "singa/nn/name_pattern.h"

#include <sstream>

#include "singa/core/error.h"

namespace singa {
namespace {

// Iterative glob with backtracking to the last '*': linear in practice, no recursion depth.
bool globMatch(const std::string& text, size_t textEnd, const std::string& pattern) {
  size_t t = 0, p = 0, starP = std::string::npos, starT = 0;
  while (t < textEnd) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++t;
      ++p;
    } else if (p < pattern.size() && pattern[p] == '*') {
      starP = p++;
      starT = t;
    } else if (starP != std::string::npos) {
      p = starP + 1;
      t = ++starT;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace

bool matchesNamePattern(const std::string& name, const std::string& pattern) {
  if (pattern.empty() || globMatch(name, name.size(), pattern)) return true;
  for (size_t dot = name.find('.'); dot != std::string::npos; dot = name.find('.', dot + 1)) {
    if (globMatch(name, dot, pattern)) return true;
  }
  return false;
}

std::vector<std::string> selectNames(const std::vector<std::string>& names, const std::string& pattern,
                                     const std::string& what) {
  std::vector<std::string> out;
  for (const std::string& n : names) {
    if (matchesNamePattern(n, pattern)) out.push_back(n);
  }
  if (out.empty()) {
    std::ostringstream list;
    for (size_t i = 0; i < names.size() && i < 40; ++i) list << (i ? ", " : "") << names[i];
    if (names.size() > 40) list << ", ... (" << names.size() << " in all)";
    SINGA_THROW(ValueError, what << " '" << pattern << "' selects no parameter; give a name, a prefix "
                                 << "(\"base\" selects base.*) or a glob (\"*conv*\"); parameters: " << list.str());
  }
  return out;
}

}  // namespace singa
