"""One exception family. The CLI turns any GraphtoolsError into one line on stderr + exit 2."""
import difflib


class GraphtoolsError(Exception):
    """Base of every error graphtools raises on purpose; ``str()`` is one readable line."""

    def __str__(self):
        return " ".join(str(a) for a in self.args).replace("\n", " ")


class InputError(GraphtoolsError):
    """A file, flag or value given by the user is missing, malformed or does not fit."""


class NodeNotFoundError(InputError):
    """A node name given by the user does not exist in the graph."""

    def __init__(self, name, candidates, what="node", where="the graph"):
        self.name = name
        close = closest(name, candidates)
        hint = f"; closest: {', '.join(close)}" if close else ""
        super().__init__(f"{what} '{name}' is not in {where}{hint}")


class FreezeError(GraphtoolsError):
    """Freezing could not produce a variable-free graph."""


class PassError(GraphtoolsError):
    """A graph pass failed; names the pass and the cause."""

    def __init__(self, pass_name, cause):
        self.pass_name = pass_name
        self.cause = cause
        super().__init__(f"pass '{pass_name}' failed: {cause}")


class RewriteError(InputError):
    """One of graphtools' own rewrites misfired on this graph (it broke a loop, changed the numbers): the
    region can be kept as it was and the conservative route taken instead."""


def closest(name, candidates, n=3):
    """Return up to ``n`` candidates that look like ``name`` (for 'did you mean' hints)."""
    candidates = list(candidates)
    found = difflib.get_close_matches(name, candidates, n=n, cutoff=0.5)
    if not found:
        leaf = name.rsplit("/", 1)[-1].lower()
        found = [c for c in candidates if c.rsplit("/", 1)[-1].lower() == leaf][:n]
    return found
