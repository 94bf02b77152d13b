// Selecting parameters by name for fine-tuning: freezing an imported graph, giving a new head its
// own learning rate. Names are the dotted paths of Module::namedParameters() ("base.conv1.W",
// "head.weight"); a pattern is a glob over them where '*' and '?' match any characters (dots
// included), and a pattern that matches a leading part of a name up to a dot selects everything
// under it, so "base" selects "base.conv1.W" as Module::setRequiresGrad does.
#pragma once

#include <string>
#include <vector>

namespace singa {

/// Whether `pattern` selects parameter `name`: a glob ('*', '?') matching the whole name, or
/// a leading part of it that ends before a '.'. "" selects every name.
bool matchesNamePattern(const std::string& name, const std::string& pattern);

/// The names among `names` that `pattern` selects, in order. Throws ValueError naming `what`
/// (e.g. "--freeze"), the pattern and the available names when none is selected.
std::vector<std::string> selectNames(const std::vector<std::string>& names, const std::string& pattern,
                                     const std::string& what);

}  // namespace singa
