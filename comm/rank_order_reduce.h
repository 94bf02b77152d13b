// The rank-order reduction the MPI backend's all-reduce is built on: element i of the result is
// srcs[0][i] + srcs[1][i] + ... + srcs[n-1][i], summed in that order in a fixed accumulation type
// (float for float16/bfloat16, int for bool), then divided by n for an average. Every transport
// (shared-memory staging, MPI alltoall + allgather, in-place exchange buffers) reduces through
// reduceInRankOrder, and the two-rank MPI_Allreduce path through averageOfTwo / MPI_SUM, which do
// the single addition of two operands: so every rank and every run gets the same bits.
#pragma once

#include <cstdint>

#include "singa/core/dtype.h"

#ifdef SINGA_USE_MPI
#include <mpi.h>
#endif

namespace singa {

/// out[i] = the rank-order sum of srcs[0..n-1][i] for i < count (divided by n when `average`),
/// elements of `dtype`. Serial on purpose: it may run on the communication thread while the
/// compute threads (OpenMP) run backward, and it is memory-bound anyway.
void reduceInRankOrder(DType dtype, const char* const* srcs, int64_t count, int n, char* out, bool average);

/// The rank-order sum split across groups of consecutive ranks (nodes), with the same bits as
/// reduceInRankOrder over all of them. Bytes of one element of the running sum: the
/// accumulation type's (float for float16/bfloat16, int for bool, else the element's own).
size_t accumulatorSize(DType dtype);
/// A group's step: acc[i] = start[i] + srcs[0][i] + ... + srcs[n-1][i] in rank order, in the
/// accumulation type (start: the previous groups' running sum, accumulatorSize bytes per element;
/// nullptr for the first group).
void accumulateInRankOrder(DType dtype, const char* start, const char* const* srcs, int n, int64_t count, char* acc);
/// The last group's step: out[i] (elements of dtype) = reduceInRankOrder's value for all
/// `totalRanks` ranks: start[i] + srcs[0][i] + ... + srcs[n-1][i], divided by totalRanks when
/// `average`.
void finishInRankOrder(DType dtype, const char* start, const char* const* srcs, int n, int64_t count, int totalRanks,
                       bool average, char* out);

#ifdef SINGA_USE_MPI
/// MPI reduction op of the two-rank direct path's average: inout = (in + inout) * 0.5, for
/// MPI_FLOAT and MPI_DOUBLE only: any other datatype leaves inout as it was and is reported by
/// takeAverageOfTwoMisuse() (MPI ops cannot throw). With two ranks MPI applies it exactly once per
/// element, giving reduceInRankOrder's bits.
void averageOfTwo(void* in, void* inout, int* len, MPI_Datatype* type);
/// Whether averageOfTwo met another datatype on this thread since the last call (and clears it).
bool takeAverageOfTwoMisuse();
#endif

}  // namespace singa
