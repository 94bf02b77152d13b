# Communication backends (issue 4): local, mpi, nccl.
