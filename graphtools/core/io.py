"""Read and write model files: format sniffing, GraphDef loading, checkpoints, atomic writes.

Everything here raises ``InputError`` with one line naming the file and the fix; nothing
prints. Only GraphDef/MetaGraphDef parsing imports TensorFlow.
"""
import glob
import logging
import os
import re
import tempfile

from ..errors import InputError

log = logging.getLogger(__name__)

TFLITE_MAGIC = b"TFL3"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
TEXT_EXTS = (".pbtxt", ".txt", ".prototxt", ".pbtext")
#: protobuf cannot parse or serialize one message of 2 GB or more (a module attribute so tests can lower it)
PROTO_LIMIT = 2 ** 31 - 1
CKPT_SUFFIX = re.compile(r"\.(index|meta|data-\d{5}-of-\d{5})$")


# ---------------------------------------------------------------- sniffing

def sniff(path):
    """Return what ``path`` is: one of 'tflite', 'keras_h5', 'meta', 'graph_text', 'graph',
    'saved_model', 'checkpoint', 'checkpoint_dir'. Raises InputError when it is none of these."""
    path = os.fspath(path)  # (a pathlib.Path too)
    if os.path.isdir(path):
        if any(os.path.exists(os.path.join(path, f)) for f in ("saved_model.pb", "saved_model.pbtxt")):
            return "saved_model"
        if os.path.exists(os.path.join(path, "checkpoint")) or glob.glob(os.path.join(path, "*.index")):
            return "checkpoint_dir"
        raise InputError(f"{path}: directory holds neither a SavedModel (saved_model.pb) nor a "
                         f"checkpoint (checkpoint, *.index); pass a model file or checkpoint prefix")
    if not os.path.exists(path):
        if os.path.exists(path + ".index"):
            return "checkpoint"
        raise InputError(f"{path}: no such file or directory; check the path")
    if CKPT_SUFFIX.search(path) and not path.endswith(".meta"):
        return "checkpoint"
    if is_v1_checkpoint(path):
        return "checkpoint"
    head = _head(path, 8)
    if head[4:8] == TFLITE_MAGIC:
        return "tflite"
    if head == HDF5_MAGIC:
        return "keras_h5"
    low = path.lower()
    if low.endswith(".meta"):
        return "meta"
    if low.endswith(TEXT_EXTS):
        return "graph_text"
    if low.endswith((".h5", ".hdf5", ".keras")):
        raise InputError(f"{path}: not an HDF5 file (wrong magic bytes); re-save the model with model.save('x.h5')")
    return "graph"


def _head(path, n):
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory; pass a model file")
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror}); check the path and its permissions")


def read_bytes(path, proto=None):
    """Return the bytes of ``path``, or raise one clear InputError. ``proto``: the message the file
    holds (binary), checked against protobuf's 2 GB limit before anything is read."""
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file; check the path")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory; pass a file")
    if proto and os.path.getsize(path) > PROTO_LIMIT:
        raise InputError(f"{path}: {os.path.getsize(path) / 2 ** 30:.2f} GB, past protobuf's 2 GB limit for one "
                         f"{proto}, so TensorFlow cannot read it; export the model with its weights outside the "
                         f"graph (a checkpoint with its .meta, or a SavedModel) and pass that instead")
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror}); check the path and its permissions")


# ---------------------------------------------------------------- GraphDef / MetaGraphDef

def parse_graph_def(data, path="<bytes>", text=False):
    """Parse a binary (or text) GraphDef and check its structure."""
    from . import protos

    gd = protos.GraphDef()
    if data[4:8] == TFLITE_MAGIC:
        raise InputError(f"{path}: is a TensorFlow Lite model, not a GraphDef; pass the .pb it was converted from "
                         f"(use 'graphtools inspect' for .tflite files)")
    if data[:8] == HDF5_MAGIC:
        raise InputError(f"{path}: is a Keras HDF5 model, not a GraphDef; freeze it first with 'graphtools freeze --keras {path}'")
    if not data:
        raise InputError(f"{path}: is empty; pass a GraphDef (.pb or .pbtxt)")
    try:
        if text:
            _parse_text(data, gd)
        else:
            try:
                gd.ParseFromString(data)
            except Exception:  # protobuf DecodeError; maybe a text GraphDef named .pb
                if not _looks_like_text(data):
                    raise
                text = True
                _parse_text(data, gd)
    except UnicodeDecodeError:
        raise InputError(f"{path}: is not UTF-8 text; a binary GraphDef should end in .pb")
    except Exception as e:  # protobuf raises DecodeError / ParseError / RuntimeWarning subclasses
        kind = "text" if text else "binary"
        why = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        raise InputError(f"{path}: not a valid {kind} GraphDef ({why}); the file is truncated, corrupt "
                         f"or another format — re-export it{'' if text else ' (or pass .pbtxt for text)'}")
    check_graph_def(gd, path)
    return gd


def _parse_text(data, message):
    from google.protobuf import text_format

    text_format.Parse(data.decode("utf-8"), message)


def _looks_like_text(data):
    head = data[:256].lstrip()
    return head.startswith((b"node", b"versions", b"library", b"#"))


def check_graph_def(gd, path="<graph>"):
    """Raise InputError when ``gd`` is not a usable graph (empty, nameless nodes, duplicates, dangling inputs)."""
    if not gd.node:
        raise InputError(f"{path}: holds no nodes; it is empty, truncated or not a GraphDef")
    names = set()
    for n in gd.node:
        if not n.name or not n.op:
            raise InputError(f"{path}: has a node without a name or op; the file is corrupt or not a GraphDef")
        if n.name in names:
            raise InputError(f"{path}: node name '{n.name}' appears twice; the graph is corrupt — re-export it")
        names.add(n.name)
    for n in gd.node:
        for i in n.input:
            src = i.lstrip("^").split(":")[0]
            if src not in names:
                raise InputError(f"{path}: node '{n.name}' reads '{i}', which is not in the graph; "
                                 f"the file is truncated or was cut wrongly — re-export it")
    return gd


def load_graph_def(path):
    """Load a GraphDef from .pb, .pbtxt or .meta (its graph); reject every other format clearly."""
    path = os.fspath(path)  # (a pathlib.Path too)
    if os.path.isdir(path) and not any(os.path.exists(os.path.join(path, f)) for f in
                                       ("saved_model.pb", "saved_model.pbtxt", "checkpoint")) \
            and not glob.glob(os.path.join(path, "*.index")):
        raise InputError(f"{path}: is a directory; give a GraphDef file (.pb, .pbtxt or .meta)")
    kind = sniff(path)
    if kind == "tflite":
        raise InputError(f"{path}: is a TensorFlow Lite model, not a GraphDef; pass the .pb it was converted from")
    if kind == "keras_h5":
        raise InputError(f"{path}: is a Keras HDF5 model; freeze it first: graphtools freeze --keras {path} --out frozen.pb")
    if kind == "saved_model":
        raise InputError(f"{path}: is a SavedModel directory; freeze it first: graphtools freeze --saved-model {path} --out frozen.pb")
    if kind in ("checkpoint", "checkpoint_dir"):
        raise InputError(f"{path}: is a checkpoint; freeze it first: graphtools freeze --ckpt {path} --out frozen.pb")
    if kind == "meta":
        return load_meta_graph(path).graph_def
    data = read_bytes(path, proto=None if kind == "graph_text" else "GraphDef")
    if kind == "graph" and _looks_like_saved_model(path):
        raise InputError(f"{path}: is a SavedModel's saved_model.pb; pass its directory with --saved-model")
    return parse_graph_def(data, path, text=(kind == "graph_text"))


def _looks_like_saved_model(path):
    return os.path.basename(path) in ("saved_model.pb", "saved_model.pbtxt")


def load_meta_graph(path):
    """Load a MetaGraphDef (.meta, binary or text)."""
    from . import protos

    data = read_bytes(path, proto="MetaGraphDef")
    mg = protos.MetaGraphDef()
    if not data:
        raise InputError(f"{path}: is empty; pass the .meta file written by tf.train.Saver")
    try:
        mg.ParseFromString(data)
    except Exception as e:  # protobuf DecodeError
        try:
            from google.protobuf import text_format

            text_format.Parse(data.decode("utf-8"), mg)
        except Exception:  # not text either: report the binary parse error
            raise InputError(f"{path}: not a valid MetaGraphDef ({str(e)[:100] or type(e).__name__}); "
                             f"the file is truncated or corrupt — use the .meta written beside the checkpoint")
    check_graph_def(mg.graph_def, path)
    return mg


def load_saved_model_proto(export_dir):
    """Parse ``export_dir/saved_model.pb`` or the text ``saved_model.pbtxt`` (the SavedModel proto,
    without loading variables), as TensorFlow's loader does: binary first."""
    from .._tf import tf

    tf()
    from tensorflow.core.protobuf import saved_model_pb2

    path = os.path.join(export_dir, "saved_model.pb")
    text = not os.path.exists(path) and os.path.exists(path + "txt")
    if text:
        path += "txt"
    sm = saved_model_pb2.SavedModel()
    try:
        data = read_bytes(path, proto=None if text else "SavedModel")
        if text:
            from google.protobuf import text_format

            text_format.Parse(data.decode("utf-8"), sm)
        else:
            sm.ParseFromString(data)
    except InputError:
        raise
    except Exception as e:  # protobuf DecodeError / text ParseError: report as corrupt
        raise InputError(f"{path}: not a valid SavedModel ({str(e)[:100] or type(e).__name__}); re-export it")
    if not sm.meta_graphs:
        raise InputError(f"{path}: SavedModel holds no meta graph; re-export it")
    return sm


# ---------------------------------------------------------------- checkpoints

def checkpoint_prefix(path):
    """Resolve a checkpoint prefix, directory (latest checkpoint) or shard file to a checked prefix."""
    if os.path.isdir(path):
        prefix = _latest_in_dir(path)
    else:
        prefix = CKPT_SUFFIX.sub("", path)
    if not os.path.exists(prefix + ".index"):
        if is_v1_checkpoint(prefix):
            return prefix
        if os.path.exists(prefix) and not os.path.isdir(prefix):
            raise InputError(f"{path}: is not a checkpoint (no {os.path.basename(prefix)}.index beside it, and not "
                             f"a single-file V1 checkpoint); pass the checkpoint prefix, e.g. model.ckpt-1000")
        raise InputError(f"{prefix}.index: no such file; pass a checkpoint prefix (the path without "
                         f".index/.data-*) or a directory with a 'checkpoint' file")
    shards = glob.glob(glob.escape(prefix) + ".data-?????-of-?????")
    if not shards:
        raise InputError(f"{prefix}: the checkpoint has an index but no data file ({os.path.basename(prefix)}"
                         f".data-00000-of-00001); copy every file of the checkpoint")
    total = int(shards[0][-5:])
    missing = [f"{prefix}.data-{i:05d}-of-{total:05d}" for i in range(total)
               if not os.path.exists(f"{prefix}.data-{i:05d}-of-{total:05d}")]
    if missing:
        raise InputError(f"{missing[0]}: checkpoint shard missing ({len(missing)} of {total} absent); "
                         f"copy every .data-* file of the checkpoint")
    return prefix


TABLE_MAGIC = bytes.fromhex("57fb808b247547db")  # the footer of TensorFlow's table files (V1 checkpoints, V2 .index)


def is_v1_checkpoint(prefix):
    """True for a V1 (TF 0.x/1.0) checkpoint: one table file at the prefix itself, or its -?????-of-????? shards."""
    files = [prefix] if os.path.isfile(prefix) else sorted(glob.glob(glob.escape(prefix) + "-?????-of-?????"))
    if not files:
        return False
    try:
        with open(files[0], "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() < 48:
                return False
            f.seek(-8, os.SEEK_END)
            return f.read(8) == TABLE_MAGIC
    except OSError:
        return False


def checkpoint_files(prefix):
    """Every file of the checkpoint at ``prefix`` (V2: .index, .data-*, .meta; V1: the table file(s), .meta)."""
    files = glob.glob(glob.escape(prefix) + ".*") + glob.glob(glob.escape(prefix) + "-?????-of-?????")
    if os.path.isfile(prefix):
        files.append(prefix)
    return sorted(set(files))


def _latest_in_dir(d):
    state = os.path.join(d, "checkpoint")
    if os.path.exists(state):
        with open(state, encoding="utf-8", errors="replace") as f:
            m = re.search(r'^model_checkpoint_path:\s*"(.*)"\s*$', f.read(), re.M)
        if m:
            p = m.group(1)
            p = p if os.path.isabs(p) else os.path.join(d, p)
            if os.path.exists(p + ".index") or is_v1_checkpoint(p):
                return p
            local = os.path.join(d, os.path.basename(p))  # state files often hold the trainer's absolute path
            if os.path.exists(local + ".index") or is_v1_checkpoint(local):
                log.info("checkpoint state names %s; using %s", p, local)
                return local
            raise InputError(f"{state}: names checkpoint {p}, which is not there; pass the prefix explicitly with --ckpt")
    indexes = glob.glob(os.path.join(glob.escape(d), "*.index"))
    if not indexes:
        raise InputError(f"{d}: no checkpoint in this directory (no 'checkpoint' file, no *.index); pass a checkpoint prefix")

    def step(p):
        m = re.search(r"-(\d+)\.index$", p)
        return (int(m.group(1)) if m else -1, os.path.getmtime(p))

    return max(indexes, key=step)[: -len(".index")]


# ---------------------------------------------------------------- writing

def check_proto_size(nbytes, what, fix):
    """Refuse up front what protobuf could not serialize (instead of a crash deep inside it)."""
    if nbytes > PROTO_LIMIT:
        raise InputError(f"{what} would be {nbytes / 2 ** 30:.2f} GB, past protobuf's 2 GB limit for one "
                         f"GraphDef; {fix}")


def graph_def_bytes(graph_def, path=""):
    """What a GraphDef file holds: text when ``path`` ends in .pbtxt/.txt, else deterministic binary."""
    check_proto_size(graph_def.ByteSize(), "the GraphDef", "keep the weights outside the graph (a checkpoint "
                     "or SavedModel) or shrink them before freezing")
    if str(path).lower().endswith((".pbtxt", ".txt")):
        from google.protobuf import text_format

        return text_format.MessageToString(graph_def).encode("utf-8")
    return graph_def.SerializeToString(deterministic=True)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


class write_phase:
    """The block that writes a command's outputs: Ctrl-C there is held until every file is written
    (never a half-replaced set), then said in one line; the command ends as it would have (exit 0).
    Outside the main thread (manifest workers) it does nothing."""

    def __init__(self, what="the outputs"):
        self.what = what
        self.got = []

    def __enter__(self):
        import signal
        import threading

        self.old = None
        if threading.current_thread() is threading.main_thread():
            self.old = signal.signal(signal.SIGINT, lambda sig, frame: self.got.append(sig))
        return self

    def __exit__(self, *exc):
        import signal
        import sys

        if self.old is not None:
            signal.signal(signal.SIGINT, self.old)
        if self.got:
            print(f"graphtools: interrupted while writing {self.what}; finished writing them first "
                  f"(nothing is half written)", file=sys.stderr)
        return False


def check_output(path, flag="--out"):
    """Before any work: the output ``path`` is not a directory and its directory can be made."""
    if path and os.path.isdir(path):
        raise InputError(f"{flag} {path}: is a directory; give a file name for the output")
    parent = os.path.dirname(os.path.abspath(path)) if path else None
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if parent and not os.path.isdir(parent):
        raise InputError(f"{flag} {path}: {parent} is a file, not a directory; choose another {flag}")
    if parent and not os.access(parent, os.W_OK):
        raise InputError(f"{flag} {_shown(path)}: cannot write in {parent}; choose another {flag}")
    if parent:  # (root passes os.access everywhere: /proc, a read-only mount) -- a probe made and removed
        import tempfile

        try:
            os.rmdir(tempfile.mkdtemp(prefix=".graphtools-probe-", dir=parent))
        except OSError as e:
            raise InputError(f"{flag} {_shown(path)}: cannot write in {parent} ({e.strerror}); choose another {flag}")


def _shown(path):
    return path[:-len("/.probe")] if path.endswith("/.probe") else path


def check_directory(path, flag):
    """Before any work: the directory ``path`` exists or can be made, and can be written in."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise InputError(f"{flag} {path}: is a file, not a directory; choose another {flag}")
    check_output(os.path.join(path, ".probe"), flag)


def atomic_write(path, data):
    """Write ``data`` (bytes or str) to ``path`` through a temp file and rename: all or nothing."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    d = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(d, exist_ok=True)
    except OSError as e:
        raise InputError(f"{path}: cannot create its directory ({e.strerror}); choose another --out")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory; give a file name for the output")
    fd, tmp = tempfile.mkstemp(dir=d, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        if hasattr(os, "fchmod"):  # mkstemp makes 0600; an output gets the usual permissions
            os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


class DirLock:
    """An exclusive lock on an output directory, so two runs never write the same files at once.

    ``flock`` on DIR/.graphtools.lock, released by the kernel when the process ends (even on kill -9),
    so a crashed run never leaves the directory locked. A second run refuses at once (exit 2) and
    names the holder. Once the lock is held, temp files of a run killed mid-write are removed
    (nobody else can be writing them); the lock file itself is removed when the run ends.
    """

    NAME = ".graphtools.lock"

    def __init__(self, directory, what="--out-dir"):
        self.dir, self.what, self.f = directory, what, None
        self.path = os.path.join(directory, self.NAME)

    def __enter__(self):
        try:
            import fcntl
        except ImportError:  # no flock (Windows): no locking
            return self
        self.created = not os.path.isdir(self.dir)
        for _ in range(20):
            try:
                os.makedirs(self.dir, exist_ok=True)
                f = open(self.path, "a+")
            except OSError as e:
                raise InputError(f"{self.dir}: cannot create or lock it ({e.strerror}); choose another {self.what}")
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.seek(0)
                holder = f.read().strip() or "another process"
                f.close()
                raise InputError(f"{self.dir} is being written by another graphtools run ({holder}); wait for it "
                                 f"to finish or choose another {self.what}")
            try:  # the holder before us may have removed the file between our open and our lock
                if os.stat(self.path).st_ino == os.fstat(f.fileno()).st_ino:
                    self.f = f
                    break
            except FileNotFoundError:
                pass
            f.close()
        else:
            raise InputError(f"{self.dir}: cannot lock it (the lock file keeps changing); choose another {self.what}")
        self.f.seek(0)
        self.f.truncate()
        from .. import guard

        self.f.write(f"pid {guard.command_pid()}")
        self.f.flush()

        guard.made("lock", self.path, self.created)
        for name in os.listdir(self.dir):  # temp files of a run killed mid-write
            if name.startswith(".") and name.endswith(".tmp"):
                try:
                    os.unlink(os.path.join(self.dir, name))
                except OSError:
                    pass
        return self

    def __exit__(self, *exc):
        if self.f is not None:
            try:
                os.unlink(self.path)  # still holding the lock: nobody can be using this file
            except OSError:
                pass
            self.f.close()  # releases the flock
            self.f = None
            if self.created:  # a failed run leaves no empty out dir behind
                try:
                    os.rmdir(self.dir)
                except OSError:
                    pass
        return False


def same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def fixture_dir():
    """The bundled fixture: installed with the package, or the checkout's fixtures/."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # graphtools/
    for d in (os.path.join(here, "fixtures"), os.path.join(os.path.dirname(here), "fixtures")):
        if os.path.exists(os.path.join(d, "digits_cnn", "model.ckpt.index")):
            return d
    raise InputError("the bundled fixture is missing (fixtures/digits_cnn); reinstall graphtools or give --ckpt")
