"""remove_debug: remove Assert, CheckNumerics and Print ops (TFLite supports none of them)."""
from . import register

PASS_THROUGH = {"CheckNumerics", "CheckNumericsV2", "Print", "DebugIdentity", "DebugIdentityV2"}
CONTROL_ONLY = {"Assert", "PrintV2", "DebugNanCount", "DebugNumericSummary"}


@register("remove_debug", group="debug", after=("remove_training",))
def remove_debug(graph, ctx):
    """CheckNumerics/Print(x) -> x; control edges on Assert/PrintV2 are dropped."""
    rewrites = 0
    for n in graph.nodes_of(*PASS_THROUGH, *CONTROL_ONLY):
        if n.name in ctx.protected:
            continue
        if n.op in PASS_THROUGH and graph.data_inputs(n.name):
            rewrites += bool(graph.replace_all_uses(n.name + ":0", graph.data_inputs(n.name)[0]))
        elif n.op in CONTROL_ONLY:
            for c in list(graph.consumers(n.name)):
                rewrites += graph.drop_control_inputs(c, lambda s, name=n.name: s == name)
    return rewrites
