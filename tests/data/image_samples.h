// The image files and Pillow references that tests/data/gen_images.py writes at build time into
// SINGA_IMAGE_SAMPLES, read from its manifest.tsv (the format is described in the script).
#pragma once

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace singa {

struct SampleCase {
  std::string kind, file, ref;  // kind: "decode" or "resize"
  int64_t height = 0, width = 0, channels = 0;
  std::string options;          // resize cases: "resize=72,crop=63,channels=1"
};

struct SampleSet {
  std::string dir;
  std::string skipReason;  // non-empty when the generator could not run (no Pillow)
  std::vector<SampleCase> cases;
};

inline SampleSet loadSamples() {
  SampleSet set;
  set.dir = SINGA_IMAGE_SAMPLES;
  std::ifstream in(set.dir + "/manifest.tsv");
  if (!in) {
    set.skipReason = set.dir + "/manifest.tsv is missing: build the image_samples target (tests/data/gen_images.py)";
    return set;
  }
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    SampleCase c;
    std::getline(fields, c.kind, '\t');
    if (c.kind == "skip") {
      std::getline(fields, set.skipReason);
      return set;
    }
    if (c.kind.empty()) continue;
    std::string h, w, ch;
    std::getline(fields, c.file, '\t');
    std::getline(fields, c.ref, '\t');
    std::getline(fields, h, '\t');
    std::getline(fields, w, '\t');
    std::getline(fields, ch, '\t');
    std::getline(fields, c.options, '\t');
    c.height = std::stoll(h);
    c.width = std::stoll(w);
    c.channels = std::stoll(ch);
    set.cases.push_back(c);
  }
  return set;
}

}  // namespace singa
