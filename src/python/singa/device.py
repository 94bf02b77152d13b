"""Devices: the CPU, or one CUDA GPU.

``get_default_device()`` is the CPU. ``create_cuda_gpu()`` / ``create_cuda_gpu_on(id)`` give a GPU,
or raise ``RuntimeError`` saying why none is usable (no CUDA backend in this build, or what the CUDA
runtime reported: no GPU, a missing or too old driver).
"""
from . import _singa

Device = _singa.Device


def get_default_device():
    """The default device: the CPU."""
    return Device.parse("cpu")


def create_cpu_device():
    """The CPU device."""
    return Device.parse("cpu")


def create_cuda_gpu():
    """GPU 0 (see create_cuda_gpu_on)."""
    return create_cuda_gpu_on(0)


def create_cuda_gpu_on(device_id):
    """The CUDA GPU with index ``device_id``.

    Raises RuntimeError naming the reason when this build has no CUDA backend or the CUDA runtime
    reports no usable GPU, and ValueError for a negative index.
    """
    if int(device_id) < 0:
        raise ValueError("create_cuda_gpu_on: device id %d is negative" % device_id)
    why = _singa.device_unavailable_reason("cuda")
    if why:
        raise RuntimeError("create_cuda_gpu_on(%d): no usable CUDA GPU: %s; use device.get_default_device() "
                           "for the CPU" % (device_id, why))
    return Device.parse("cuda:%d" % int(device_id))
