"""Data sets for ``singa.Trainer``: arrays in memory or the data specs singa_train reads.

``from_numpy(images, labels)`` keeps the arrays (images uint8, scaled by 1/255, or float32
``[N, ...]``; labels class indices ``[N]``, or one-hot rows ``[N, classes]`` as in SINGA's tutorial).
``load(spec)`` opens what ``singa_train --data`` opens: ``"fashion-mnist"`` (the Debian package),
``"mnist:DIR"``, ``"cifar10:DIR"``, ``"npy:IMAGES.npy,LABELS.npy"``, ``"safetensors:FILE"``,
``"imagefolder:DIR"``, and returns ``(train, test)`` (``test`` is None when the source has none).
Both give ``singa._singa.Dataset`` objects (``len(d)``, ``d.sample_shape``, ``d.label(i)``).
"""
import numpy as np

from . import _singa

Dataset = _singa.Dataset


def _labels(labels, n, what):
    y = np.asarray(labels)
    if y.ndim == 2:  # one-hot or soft targets (SINGA's tutorial): the class with the largest value
        if y.shape[0] != n:
            raise ValueError("%s: %d label rows for %d images" % (what, y.shape[0], n))
        y = np.argmax(y, axis=1)
    if y.ndim != 1:
        raise ValueError("%s: labels must be class indices [N] or one-hot rows [N, classes], got shape %s"
                         % (what, y.shape))
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.floor(y)):
            raise ValueError("%s: float labels must hold whole class numbers" % what)
    elif y.dtype.kind not in "iub":
        raise TypeError("%s: labels of dtype %s are not class indices" % (what, y.dtype))
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise ValueError("%s: label %d is negative (class indices start at 0)" % (what, int(y.min())))
    return y


def from_numpy(images, labels, name="arrays"):
    """A data set over ``images`` ([N, ...], uint8 scaled by 1/255 or float32) and ``labels``
    (class indices [N] or one-hot rows [N, classes]). The arrays are copied once."""
    x = np.asarray(images)
    if x.dtype not in (np.uint8, np.float32):
        if x.dtype.kind == "f":
            x = x.astype(np.float32)
        else:
            raise TypeError("%s: images must be uint8 or float32, got %s" % (name, x.dtype))
    if x.ndim < 2:
        raise ValueError("%s: images must be [N, ...] with one sample per row, got shape %s" % (name, x.shape))
    y = _labels(labels, x.shape[0], name)
    return _singa.dataset_from_arrays(np.ascontiguousarray(x), y, name)


def load(spec):
    """Opens a data spec (see the module's help) and returns ``(train, test)``."""
    return _singa.open_data_spec(str(spec))
