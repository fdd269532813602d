"""Ops that reach the file system, the network or the Python interpreter: graphs holding them are
not run (freeze, strip's verification, compare, pipeline) unless the user says they trust them."""
from ..errors import InputError

# saved_model_cli scan's denylist (ReadFile, WriteFile, PrintV2) and the rest of that family
UNSAFE_OPS = {
    "ReadFile", "WriteFile", "PrintV2", "MatchingFiles", "PyFunc", "PyFuncStateless", "EagerPyFunc",
    "ImmutableConst", "Save", "SaveV2", "SaveSlices", "Restore", "RestoreV2", "RestoreSlice", "MergeV2Checkpoints",
    "WholeFileReader", "WholeFileReaderV2", "TextLineReader", "TextLineReaderV2", "TFRecordReader",
    "TFRecordReaderV2", "FixedLengthRecordReader", "FixedLengthRecordReaderV2", "LMDBReader", "TFRecordDataset",
    "TFRecordDatasetV2", "TextLineDataset", "FixedLengthRecordDataset", "FixedLengthRecordDatasetV2",
    "CSVDataset", "CSVDatasetV2", "ExperimentalCSVDataset", "SaveDataset", "SaveDatasetV2", "LoadDataset",
    "DatasetToTFRecord", "InitializeTableFromTextFile", "InitializeTableFromTextFileV2", "CreateSummaryFileWriter",
    "CreateSummaryDbWriter", "WriteSummary", "WriteScalarSummary", "WriteHistogramSummary", "WriteImageSummary",
    "WriteAudioSummary", "WriteGraphSummary", "WriteRawProtoSummary", "DebugIdentity", "DebugIdentityV2",
    "DebugNanCount", "DebugNumericSummary", "DebugNumericSummaryV2", "LoadAndRemapMatrix",
    "GenerateVocabRemapping", "DecodeProtoV2", "Rpc", "TryRpc",
}
# what a checkpoint restore legitimately runs
from ..core.ops import CHECKPOINT_FILE_OPS  # noqa: E402 (the saver ops that touch files)


def find_unsafe(graph_def, needed=None, allow_saver=False):
    """[(node or function/node, op)] of unsafe ops in ``graph_def``; with ``needed``, only among those
    names and the functions they call (what would actually run)."""
    skip = CHECKPOINT_FILE_OPS if allow_saver else set()
    found = [(n.name, n.op) for n in graph_def.node
             if n.op in UNSAFE_OPS and n.op not in skip and (needed is None or n.name in needed)]
    # a library function nobody calls never runs (stale tf.data map functions, a dataset's reader)
    used = functions_used(graph_def, {n.name for n in graph_def.node} if needed is None else needed)
    for f in graph_def.library.function:
        if f.signature.name in used:
            found += [(f"{f.signature.name}/{n.name}", n.op) for n in f.node_def if n.op in UNSAFE_OPS]
    return found


def functions_used(graph_def, needed):
    """Names of the library functions the ``needed`` nodes call (as their op or through a func attr),
    and those these call in turn."""
    lib = {f.signature.name: f for f in graph_def.library.function}
    if not lib:
        return set()

    def calls(nodes):
        out = set()
        for n in nodes:
            if n.op in lib:
                out.add(n.op)
            for v in n.attr.values():
                if v.HasField("func"):
                    out.add(v.func.name)
                out.update(fn.name for fn in v.list.func)
        return out & set(lib)

    todo = calls(n for n in graph_def.node if n.name in needed)
    used = set()
    while todo:
        name = todo.pop()
        used.add(name)
        todo |= calls(lib[name].node_def) - used
    return used


def check(graph_def, what, needed=None, allow=False, allow_saver=False):
    """Raise InputError naming the first unsafe op unless ``allow``."""
    if allow:
        return
    found = find_unsafe(graph_def, needed, allow_saver)
    if found:
        node, op = found[0]
        more = f" and {len(found) - 1} more" if len(found) > 1 else ""
        raise InputError(f"{what}: the graph has ops that reach the file system or Python ({op} at {node}{more}); "
                         f"refusing to run it — pass --allow-unsafe-ops if you trust this model")


def drop_unused_functions(graph_def):
    """Remove, in place, the library functions no node calls (directly or through another function);
    return their names."""
    used = functions_used(graph_def, {n.name for n in graph_def.node})
    dead = [f.signature.name for f in graph_def.library.function if f.signature.name not in used]
    if dead:
        keep = [f for f in graph_def.library.function if f.signature.name in used]
        grads = [g for g in graph_def.library.gradient if g.function_name in used]
        del graph_def.library.function[:]
        graph_def.library.function.extend(keep)
        del graph_def.library.gradient[:]
        graph_def.library.gradient.extend(grads)
    return dead
