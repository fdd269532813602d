"""Load sample data: .npy, .npz and IDX files (MNIST's *-idx3-ubyte[.gz])."""
import gzip
import os
import struct

import numpy as np

from ..errors import InputError

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


IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm")


DATA_FORMATS = ".npy, .npz, an IDX file (*-ubyte[.gz]) or an image directory"


def check_source(path, flag="--data", text_ok=False):
    """Before any work: ``path`` exists, can be read, is not empty and has a format this reads
    (``text_ok``: any file name, as labels may be a text file). Raises InputError naming the flag."""
    if path is None:
        return
    if not os.path.exists(path):
        raise InputError(f"{flag} {path}: no such file or directory; give {DATA_FORMATS}")
    if os.path.isdir(path):
        if not os.access(path, os.R_OK | os.X_OK):
            raise InputError(f"{flag} {path}: cannot read the directory; check its permissions")
        return
    base = os.path.basename(path)
    if not (text_ok or path.endswith((".npy", ".npz")) or "idx" in base or "ubyte" in base):
        raise InputError(f"{flag} {path}: unknown data format; give {DATA_FORMATS}")
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError as e:
        raise InputError(f"{flag} {path}: cannot read ({e.strerror}); check its permissions")
    if not head:
        raise InputError(f"{flag} {path}: is empty; give {DATA_FORMATS} holding the samples")
    if path.endswith(".npy") and head != b"\x93NUMPY":
        raise InputError(f"{flag} {path}: not a .npy file (no NUMPY header); write it with numpy.save")
    if path.endswith(".npz") and head[:2] != b"PK":
        raise InputError(f"{flag} {path}: not a .npz file (not a zip archive); write it with numpy.savez")


def load_samples(path, inputs, shapes, scale=None, mean=None, std=None, limit=None):
    """Sample data for ``inputs`` ({name: shape}): .npy, .npz, IDX (.gz) or a directory of images.

    Returns {input: float32 array [N, ...]} reshaped to each input's sample shape when the sizes
    agree, after ``x * scale`` and ``(x - mean) / std``. Raises InputError naming the input, the
    shapes and the fix when the data does not fit.
    """
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file or directory; give .npy, .npz, an IDX file or an image directory")
    if os.path.isdir(path):
        if len(inputs) != 1:
            raise InputError(f"{path}: an image directory feeds one input, the model has {len(inputs)}")
        arrays = {inputs[0]: _load_images(path, shapes[inputs[0]], limit)}
    elif path.endswith(".npz"):
        arrays = _load_npz(path, inputs)
    elif path.endswith(".npy"):
        if len(inputs) != 1:
            raise InputError(f"{path}: a .npy file feeds one input, the model has {len(inputs)}; use .npz "
                             f"with one array per input name")
        try:
            arrays = {inputs[0]: np.load(path, allow_pickle=False)}
        except (ValueError, OSError, EOFError) as e:
            raise InputError(f"{path}: not a readable .npy file ({str(e)[:100] or type(e).__name__}); "
                             f"write it with numpy.save")
    elif "idx" in os.path.basename(path) or "ubyte" in os.path.basename(path):
        if len(inputs) != 1:
            raise InputError(f"{path}: an IDX file feeds one input, the model has {len(inputs)}")
        arrays = {inputs[0]: load_idx(path)}
    else:
        raise InputError(f"{path}: unknown data format; give .npy, .npz, an IDX file (*-ubyte[.gz]) or an "
                         f"image directory")
    out = {}
    for name in inputs:
        a = np.asarray(arrays[name])
        if a.dtype.kind not in "biuf":
            raise InputError(f"{path}: samples for '{name}' are {a.dtype}, not numbers; give numeric arrays")
        if limit:
            a = a[: int(limit)]
        if a.ndim == 0 or len(a) == 0:
            raise InputError(f"{path}: holds no samples for '{name}' (shape {list(a.shape)}); give a file with at "
                             f"least one sample, or --data random")
        want = list(shapes[name][1:])
        if list(a.shape[1:]) != want:
            have = [d for d in a.shape[1:] if d != 1]
            if have != [d for d in want if d != 1] and sorted(have) == sorted(d for d in want if d != 1) and \
                    len(have) > 1:  # the same sizes in another order: a layout (NCHW data for NHWC), not a shape
                raise InputError(f"{path}: samples for '{name}' have shape {list(a.shape[1:])}, the input takes "
                                 f"{want}: the same sizes in another order (channels first?); transpose the data")
            if a.ndim >= 1 and int(np.prod(a.shape[1:])) == int(np.prod(want)):
                a = a.reshape([len(a)] + want)
            else:
                raise InputError(f"{path}: samples for '{name}' have shape {list(a.shape[1:])}, the input takes "
                                 f"{want}; reshape or resize the data")
        a = a.astype(np.float32)
        if scale is not None:
            a = a * np.float32(scale)
        if mean is not None:
            a = a - np.float32(mean)
        if std is not None:
            a = a / np.float32(std)
        out[name] = a
    return out


def _load_npz(path, inputs):
    import zipfile

    try:
        z = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise InputError(f"{path}: not a readable .npz file ({str(e)[:100] or type(e).__name__}); "
                         f"write it with numpy.savez")
    keys = list(z.keys())
    out = {}
    for name in inputs:
        for k in (name, name.replace("/", "_"), name.replace(":", "_")):
            if k in z:
                out[name] = z[k]
                break
        else:
            if len(inputs) == 1 and ("x" in z or len(keys) == 1):
                out[name] = z["x"] if "x" in z else z[keys[0]]
            else:
                raise InputError(f"{path}: no array named '{name}' (arrays: {', '.join(keys)}); name the "
                                 f"arrays after the inputs, or 'x' for a single input")
    return out


def _load_images(path, shape, limit):
    try:
        from PIL import Image
    except ImportError:
        raise InputError("reading an image directory needs Pillow: pip install pillow")
    files = sorted(f for f in os.listdir(path) if f.lower().endswith(IMAGE_EXTS))
    if not files:
        raise InputError(f"{path}: no images ({', '.join(IMAGE_EXTS)}) in this directory")
    if limit:
        files = files[: int(limit)]
    if len(shape) != 4:
        raise InputError(f"{path}: images feed an NHWC input, this input has shape {shape}")
    h, w, c = shape[1], shape[2], shape[3]
    mode = {1: "L", 3: "RGB", 4: "RGBA"}.get(c)
    if mode is None:
        raise InputError(f"{path}: cannot make {c}-channel images; the input takes {shape}")
    out = []
    for f in files:
        try:
            with Image.open(os.path.join(path, f)) as im:
                arr = np.asarray(im.convert(mode).resize((w, h)), dtype=np.float32)
        except OSError as e:
            raise InputError(f"{os.path.join(path, f)}: not a readable image ({e})")
        out.append(arr.reshape(h, w, c))
    return np.stack(out)
