// Guards for JSON text read from files a user hands us (meta.json, safetensors headers). nlohmann's
// parser is iterative, but copying, dumping and comparing a parsed value recurse once per nesting
// level, so `{"config": [[[[...]]]]}` nested 100k deep would overflow the stack after a successful
// parse. The depth is therefore measured on the text before parsing. Names and strings from such
// files are also printed in error messages; printable() keeps them on one short line.
#pragma once

#include <string>
#include <string_view>

namespace singa {

/// The deepest nesting of arrays and objects in `text` (brackets inside strings do not count), or
/// `limit` + 1 as soon as the nesting passes `limit` (the rest of the text is not scanned).
int jsonNestingDepth(std::string_view text, int limit);

/// `s` for an error message: control characters and non-ASCII bytes as \xNN, cut after `max`
/// characters with "...", so a crafted name cannot add lines to (or flood) an error.
std::string printable(std::string_view s, size_t max = 80);

}  // namespace singa
