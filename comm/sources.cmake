# The comm layer: communicators (local, MPI; NCCL through the CUDA module, which builds
# comm/nccl_communicator.cc: kernels/cuda/module.cmake), DistributedOptimizer, rank detection.
singa_add_layer(NAME singa_comm
  AREAS comm=comm
  SOURCES
    comm/rank_env.cc
    comm/communicator.cc
    comm/mpi_communicator.cc
    comm/mpi_shared_memory.cc
    comm/mpi_hierarchical.cc
    comm/rank_order_reduce.cc
    comm/distributed_optimizer.cc
    # internal headers of the mpi backend (not installed)
    comm/mpi_internal.h
    comm/mpi_shared_memory.h
    comm/rank_order_reduce.h
  HEADERS
    comm/rank_env.h
    comm/communicator.h
    comm/mpi_communicator.h
    comm/nccl_communicator.h
    comm/distributed_optimizer.h
  PUBLIC singa_optim
)
if(SINGA_USE_MPI)
  target_link_libraries(singa_comm PUBLIC MPI::MPI_CXX)
endif()
