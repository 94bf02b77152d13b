// CIFAR-10 and CIFAR-100 in their official binary form (the "binary version" downloads):
//   CIFAR-10:  data_batch_1.bin .. data_batch_5.bin (train), test_batch.bin (test); each record is
//              1 label byte (0..9) and 3072 pixel bytes (32 x 32 red, then green, then blue).
//   CIFAR-100: train.bin, test.bin; each record is a coarse label byte (0..19), a fine label byte
//              (0..99) and 3072 pixel bytes. The fine labels are the classes.
// Images come out as uint8 [N, 3, 32, 32], labels int64 [N], as the IDX loader gives them.
#pragma once

#include <string>

#include "singa/data/dataset.h"

namespace singa {

/// Loads the CIFAR-10 (`classes` = 10) or CIFAR-100 (`classes` = 100) binary files of `dir`.
/// Throws IoError naming every file looked for when one is missing, and ValueError naming the
/// file when its size is not a whole number of records or a label is out of range (a truncated
/// download, or the other CIFAR's files).
MnistData loadCifarDir(const std::string& dir, int classes);

}  // namespace singa
