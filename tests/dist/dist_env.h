// Shared by the dist tests: one communicator for the whole test program (MPI may be initialised
// only once per process), created by the test's main() from the launcher's environment.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "singa/comm/communicator.h"

namespace singa::test {

Communicator& comm();

}  // namespace singa::test
