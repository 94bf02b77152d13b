// The umbrella header of the public C++ API: #include <singa/singa.h>.
#pragma once

#include "autograd/node.h"
#include "autograd/trace.h"
#include "core/attrs.h"
#include "core/device.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "core/shape.h"
#include "core/tensor.h"
#include "ops/ops.h"
