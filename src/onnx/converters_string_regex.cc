// RegexFullMatch (opset 20) on string tensors. ONNX specifies RE2 syntax; singa has no RE2, so the
// pattern is translated into an equivalent std::regex ECMAScript one, and the constructs whose
// meaning differs between the two or that std::regex lacks are rejected with an error naming them
// (see translateRe2). std::regex backtracks and recurses, where RE2 is linear: repeated groups
// that repeat are rejected, strings are bounded, and matching runs on a thread with a large stack.
#include <pthread.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <regex>

#include "singa/core/error.h"
#include "singa/onnx/converter.h"
#include "singa/onnx/converter_util.h"
#include "singa/onnx/string_tensor.h"

namespace singa::onnxio {
namespace {

constexpr size_t kMaxPatternBytes = 4096;
constexpr size_t kMaxMatchBytes = 1 << 16;  // std::regex matches recursively: bound the depth (see runMatches)

// An RE2 pattern as an equivalent ECMAScript one. RE2 and ECMAScript agree on literals, groups,
// alternation, greedy and lazy quantifiers, bounded repetition, \d \w \b and their negations, and
// ^ $ without multi-line mode. Translated: '.' (RE2 excludes only \n), \s (RE2: [\t\n\f\r ]), a
// '{' that is not a repetition (a literal in RE2), ']' first in a class (a literal in RE2). Rejected:
// flags and named groups "(?...", \p \P \Q \A \z \C \x and other escapes, POSIX classes, non-ASCII
// patterns. `byteWise` is set when a construct may match part of a multi-byte UTF-8 character
// ('.', negated classes and escapes): RE2 matches code points, std::regex bytes.
std::string translateRe2(const ConvertContext& ctx, const std::string& p, bool* byteWise) {
  ctx.check(p.size() <= kMaxPatternBytes, "the pattern is " + std::to_string(p.size()) + " bytes; at most " +
                                              std::to_string(kMaxPatternBytes) + " are supported");
  ctx.check(isAscii(p), "the pattern holds non-ASCII bytes; singa's RegexFullMatch takes ASCII patterns only");
  auto reject = [&](const std::string& what) {
    ctx.check(false, "pattern '" + excerpt(p) + "': " + what + " is not supported (singa runs RE2 patterns " +
                         "through std::regex and accepts only the constructs both read alike)");
  };
  auto escape = [&](char n, bool inClass) -> std::string {
    if (n == 'd' || n == 'w') return std::string("\\") + n;
    if (n == 'D' || n == 'W' || n == 'S') {
      if (inClass) reject(std::string("\\") + n + " inside a class");
      *byteWise = true;
      return n == 'S' ? "[^\\t\\n\\f\\r ]" : std::string("\\") + n;
    }
    if (n == 's') return inClass ? "\\t\\n\\f\\r " : "[\\t\\n\\f\\r ]";
    if ((n == 'b' || n == 'B') && !inClass) return std::string("\\") + n;
    if (n == 't' || n == 'n' || n == 'r' || n == 'f' || n == 'v') return std::string("\\") + n;
    if (!std::isalnum(static_cast<unsigned char>(n))) return std::string("\\") + n;  // an escaped literal
    reject(std::string("the escape \\") + n);
    return {};
  };
  std::string out;
  bool quantifiable = false;  // the previous item can take a quantifier
  // Per open group: whether it holds a repetition; closedRepeats: the group just closed did. A
  // repeated group that itself repeats ("(a+)*") can take exponential time in std::regex's
  // backtracking (RE2 is linear): rejected.
  std::vector<bool> groupRepeats;
  bool closedRepeats = false;
  auto repeat = [&](char q) {
    if (!quantifiable) reject(std::string("a repetition '") + q + "' with nothing to repeat");
    if (closedRepeats) reject("a repeated group that itself holds a repetition (exponential backtracking)");
    if (!groupRepeats.empty()) groupRepeats.back() = true;
  };
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\') {
      if (i + 1 == p.size()) reject("a trailing backslash");
      const char n = p[++i];
      out += escape(n, false);
      quantifiable = n != 'b' && n != 'B';
    } else if (c == '[') {
      out += '[';
      ++i;
      if (i < p.size() && p[i] == '^') {
        out += '^';
        *byteWise = true;
        ++i;
      }
      if (i < p.size() && p[i] == ']') {
        out += "\\]";
        ++i;
      }
      for (; i < p.size() && p[i] != ']'; ++i) {
        if (p[i] == '\\') {
          if (i + 1 == p.size()) reject("a trailing backslash");
          out += escape(p[++i], true);
        } else if (p[i] == '[') {
          if (i + 1 < p.size() && (p[i + 1] == ':' || p[i + 1] == '=' || p[i + 1] == '.')) reject("a POSIX class");
          out += "\\[";
        } else {
          out += p[i];
        }
      }
      if (i == p.size()) reject("an unterminated class");
      out += ']';
      quantifiable = true;
    } else if (c == '(') {
      if (i + 1 < p.size() && p[i + 1] == '?') {
        if (i + 2 < p.size() && p[i + 2] == ':') {
          out += "(?:";
          i += 2;
        } else {
          reject("a group with flags, a name or a lookaround \"(?\"");
        }
      } else {
        out += '(';
      }
      groupRepeats.push_back(false);
      quantifiable = false;
      continue;
    } else if (c == '*' || c == '+' || c == '?') {
      repeat(c);
      out += c;
      if (i + 1 < p.size() && p[i + 1] == '?') out += p[++i];  // lazy
      quantifiable = false;
    } else if (c == '{') {
      size_t j = i + 1, commas = 0;
      while (j < p.size() && (std::isdigit(static_cast<unsigned char>(p[j])) || (p[j] == ',' && commas++ == 0))) ++j;
      const bool repetition = j < p.size() && p[j] == '}' && j > i + 1 && p[i + 1] != ',';
      if (!repetition) {
        out += "\\{";
        quantifiable = true;
        closedRepeats = false;
        continue;
      }
      repeat('{');
      const std::string body = p.substr(i + 1, j - i - 1);
      for (const char* part = body.c_str(); *part;) {
        char* end = nullptr;
        const long v = std::strtol(part, &end, 10);
        if (v > 1000) reject("a repetition count above 1000 (RE2's limit)");
        part = *end == ',' ? end + 1 : end;
      }
      out += "{" + body + "}";
      i = j;
      if (i + 1 < p.size() && p[i + 1] == '?') out += p[++i];
      quantifiable = false;
    } else if (c == '}' || c == ']') {
      out += std::string("\\") + c;
      quantifiable = true;
    } else if (c == '.') {
      out += "[^\\n]";
      *byteWise = true;
      quantifiable = true;
    } else if (c == ')') {
      if (groupRepeats.empty()) reject("an unmatched ')'");
      const bool inner = groupRepeats.back();
      groupRepeats.pop_back();
      if (inner && !groupRepeats.empty()) groupRepeats.back() = true;
      out += c;
      quantifiable = true;
      closedRepeats = inner;
      continue;
    } else {
      out += c;
      quantifiable = c != '|' && c != '^' && c != '$';
    }
    closedRepeats = false;
  }
  if (!groupRepeats.empty()) reject("an unclosed '('");
  return out;
}

// std::regex matches recursively, a few hundred bytes of stack per input byte and more with
// nesting: the matching runs on a thread of its own with a large stack (reserved, touched only
// as deep as it goes), so a long string cannot overflow the caller's stack.
constexpr size_t kMatchStackBytes = size_t{1} << 29;

struct MatchJob {
  const std::vector<std::string>* items;
  const std::regex* re;
  std::vector<int64_t> match;
  std::string error;
};

void* runMatches(void* arg) {
  auto* job = static_cast<MatchJob*>(arg);
  try {
    for (size_t i = 0; i < job->items->size(); ++i) job->match[i] = std::regex_match((*job->items)[i], *job->re);
  } catch (const std::exception& e) {
    job->error = e.what();
  }
  return nullptr;
}

}  // namespace

std::vector<Value> convertRegexFullMatch(const ConvertContext& ctx, const std::vector<Value>& in) {
  const Value& x = stringInput(ctx, in, 0, "X");
  ctx.check(ctx.attrs.has("pattern"), "attribute 'pattern' is required");
  bool byteWise = false;
  const std::string ecma = translateRe2(ctx, ctx.attrs.getString("pattern"), &byteWise);
  std::regex re;
  try {
    re = std::regex(ecma, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    ctx.check(false, "pattern '" + excerpt(ctx.attrs.getString("pattern")) + "' does not compile: " + e.what());
  }
  for (size_t i = 0; i < x.strings.size(); ++i) {
    const std::string& s = x.strings[i];
    ctx.check(s.size() <= kMaxMatchBytes, "element " + std::to_string(i) + " is " + std::to_string(s.size()) +
                                              " bytes; singa matches strings of at most " +
                                              std::to_string(kMaxMatchBytes) + " bytes");
    ctx.check(!byteWise || isAscii(s), "element " + std::to_string(i) + " '" + excerpt(s) +
                                           "' holds non-ASCII bytes and the pattern has '.', a negated class or " +
                                           "\\W \\D \\S, which std::regex applies to bytes, RE2 to characters");
  }
  MatchJob job{&x.strings, &re, std::vector<int64_t>(x.strings.size()), ""};
  pthread_attr_t attr;
  pthread_t thread;
  SINGA_CHECK(pthread_attr_init(&attr) == 0, MemoryError, "RegexFullMatch: cannot set up the matching thread");
  const bool started = pthread_attr_setstacksize(&attr, kMatchStackBytes) == 0 &&
                       pthread_create(&thread, &attr, runMatches, &job) == 0;
  pthread_attr_destroy(&attr);
  SINGA_CHECK(started, MemoryError, "RegexFullMatch: cannot start the matching thread (its stack is "
                                        << (kMatchStackBytes >> 20) << " MiB of address space)");
  pthread_join(thread, nullptr);
  ctx.check(job.error.empty(), "matching failed: " + job.error);
  return {Value(fromInts(job.match, x.stringShape, DType::kBool, ctx.device))};
}

}  // namespace singa::onnxio
