"""graphtools view: the stages side by side in Model Explorer (or Netron), with overlays.

Overlays (Model Explorer node data, written to OUT/view/ either way):

- ``frozen.node_data.json`` on the frozen graph: the nodes strip removed (value 1, red) and the
  nodes it kept but rewrote -- what the removed ones were folded into (value 2, orange);
- ``NAME.node_data.json`` on each .tflite: its per-op local error when ``compare --per-op``
  wrote one into OUT/per_op.

The server listens on 127.0.0.1 only. Model Explorer is the optional extra ``graphtools[view]``
(``ai-edge-model-explorer``); where it cannot be installed, Netron (``netron``) shows one model.
"""
import json
import os
import shutil

from ..errors import InputError

REMOVED, CHANGED = 1, 2
THRESHOLDS = [{"value": REMOVED, "bgColor": "#f4a6a6"}, {"value": CHANGED, "bgColor": "#fdd49e"}]


def overlays(out_dir):
    """Write OUT/view/*.node_data.json; return [(model path, overlay path or None)] in stage order."""
    from ..core import io
    from ..core.analysis import diff

    frozen, opt = os.path.join(out_dir, "frozen.pb"), os.path.join(out_dir, "optimized.pb")
    if not os.path.exists(frozen) or not os.path.exists(opt):
        raise InputError(f"{out_dir}: no frozen.pb and optimized.pb; give the pipeline's output directory")
    view = os.path.join(out_dir, "view")
    os.makedirs(view, exist_ok=True)
    d = diff(io.load_graph_def(frozen), io.load_graph_def(opt))
    results = {name: {"value": REMOVED} for name in d["removed"]}
    results.update({name: {"value": CHANGED} for name in list(d["rewired"]) + list(d["retyped"])})
    frozen_overlay = os.path.join(view, "frozen.node_data.json")
    io.atomic_write(frozen_overlay, json.dumps({"results": results, "thresholds": THRESHOLDS}))
    pairs = [(frozen, frozen_overlay), (opt, None)]
    tflites = sorted((f for f in os.listdir(out_dir) if f.endswith(".tflite")), key=lambda f: (f != "model.tflite", f))
    for name in tflites:
        src = os.path.join(out_dir, "per_op", name[: -len(".tflite")] + ".tflite.node_data.json")
        overlay = None
        if os.path.exists(src):
            overlay = os.path.join(view, name[: -len(".tflite")] + ".node_data.json")
            shutil.copyfile(src, overlay)
        pairs.append((os.path.join(out_dir, name), overlay))
    return pairs


def model_explorer_config(pairs):
    import model_explorer

    config = model_explorer.config()
    for model, overlay in pairs:
        config.add_model_from_path(model)
        if overlay:
            config.add_node_data_from_path(overlay, model_name=os.path.basename(model))
    return config


def url(host, port, config):
    return f"http://{host}:{port}/?data={config.to_url_param_value()}"


def backend():
    """'model_explorer', 'netron', or None."""
    import importlib.util

    if importlib.util.find_spec("model_explorer"):
        return "model_explorer"
    if importlib.util.find_spec("netron"):
        return "netron"
    return None


def serve(pairs, host="127.0.0.1", port=8080, open_browser=True, announce=print):
    """Serve the models until interrupted (Model Explorer; Netron with the first .tflite otherwise)."""
    which = backend()
    if which is None:
        raise InputError("graphtools view needs Model Explorer: pip install 'graphtools[view]' "
                         "(ai-edge-model-explorer), or pip install netron")
    if which == "model_explorer":
        from model_explorer import server

        config = model_explorer_config(pairs)
        announce(f"Model Explorer: {url(host, port, config)}")
        server.start(host=host, port=port, config=config, no_open_in_browser=not open_browser)
        return
    import netron

    model = next((m for m, _ in pairs if m.endswith(".tflite")), pairs[0][0])
    announce(f"Netron (Model Explorer is not installed; one model, no overlays): http://{host}:{port}  {model}")
    netron.start(model, address=(host, port), browse=open_browser)
    netron.wait()
