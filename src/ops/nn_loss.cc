#include "ops/ops.h"
#include "ops/op_util.h"
