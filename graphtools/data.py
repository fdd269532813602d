"""Load sample data: .npy, .npz and IDX files (MNIST's *-idx3-ubyte[.gz])."""
import gzip
import os
import struct

import numpy as np

from .errors import InputError

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def load_idx(path):
    """Read an IDX file (optionally gzipped) into a numpy array with its stored shape."""
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file; check the path")
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise InputError(f"{path}: cannot read ({e}); the file is truncated or not gzip")
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise InputError(f"{path}: not an IDX file (bad magic number); pass MNIST-style *-ubyte files")
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise InputError(f"{path}: IDX header is truncated")
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    count = int(np.prod(shape)) if ndim else 1
    body = data[4 + 4 * ndim:]
    if len(body) != count * dtype.itemsize:
        raise InputError(f"{path}: IDX body holds {len(body)} bytes, header promises {count * dtype.itemsize}; "
                         f"the file is truncated")
    return np.frombuffer(body, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))
