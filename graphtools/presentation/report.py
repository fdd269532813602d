"""report.html: one self-contained page (no network, no external scripts; plots are inline SVG and
PNG made with matplotlib) of what a pipeline produced.

Sections (each a ``<section id=...>``; numbers carry ``data-*`` attributes so a test can read them
back from the DOM): ``summary`` (per model: size, ops, latency, max/mean |d|, agreement, accuracy,
the float model as reference; a size-vs-accuracy chart), ``per-class`` (precision, recall, F1 per
class against the labels and against the TF graph's predictions, and a confusion matrix per model),
``worst`` (image inputs: the worst disagreements as thumbnails with each model's label and
confidence), ``samples`` (a sortable per-sample table, the rows where the models disagree marked),
``strip`` (per pass what it removed, folded and bound; the graph diff; the equivalence figures) and
``per-op`` (the local-error chart when ``compare --per-op`` wrote results into OUT/per_op).
"""
import glob
import html
import json
import os

import numpy as np

from ..errors import InputError


from .plotting import _plt, _png, _svg  # noqa: E402,F401 (where the figures are made; re-exported)


def _e(x):
    return html.escape(str(x))


def class_metrics(pred, truth, classes):
    """Per class precision, recall, F1 and support; the confusion matrix (rows: truth, cols: pred)."""
    cm = np.zeros((classes, classes), np.int64)
    np.add.at(cm, (np.asarray(truth, int), np.asarray(pred, int)), 1)
    tp = np.diag(cm).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(cm.sum(0) > 0, tp / cm.sum(0), 0.0)
        recall = np.where(cm.sum(1) > 0, tp / cm.sum(1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return {"precision": precision.tolist(), "recall": recall.tolist(), "f1": f1.tolist(),
            "support": cm.sum(1).tolist(), "confusion": cm.tolist()}


def make_report(out_dir, data=None, labels=None, scale=None, mean=None, std=None, samples=None, path=None):
    """Write ``out_dir/report.html`` (or ``path``) from what a pipeline wrote; return what it shows."""
    from ..core import io

    report_path = os.path.join(out_dir, "report.json")
    if not os.path.exists(report_path):
        raise InputError(f"{out_dir}: no report.json; run graphtools pipeline --out-dir {out_dir} first")
    try:
        with open(report_path) as f:
            rep = json.load(f)
    except ValueError:
        raise InputError(f"{report_path}: not JSON; run graphtools pipeline again")
    graph = os.path.join(out_dir, "optimized.pb")
    if not os.path.exists(graph):
        raise InputError(f"{graph}: missing; run graphtools pipeline again")
    models = {}
    for m in (rep.get("compare") or {"models": []})["models"]:
        p = m["model"] if os.path.exists(m["model"]) else os.path.join(out_dir, os.path.basename(m["model"]))
        if os.path.exists(p):
            models[os.path.basename(p)] = io.read_bytes(p)
    frozen = os.path.join(out_dir, "frozen.pb")
    page, shown = render(rep, io.load_graph_def(graph), models,
                         io.load_graph_def(frozen) if os.path.exists(frozen) else None,
                         os.path.join(out_dir, "per_op"), data, labels, scale, mean, std, samples)
    target = path or os.path.join(out_dir, "report.html")
    io.atomic_write(target, page)
    shown["path"] = target
    return shown


def render(rep, gd, models, frozen_gd=None, per_op_dir=None, data=None, labels=None, scale=None, mean=None, std=None,
           samples=None):
    """(report.html text, what it shows) for a pipeline report ``rep``, the stripped GraphDef ``gd``
    and the models' bytes ({file name: bytes}); nothing is read from or written to disk but data."""
    from ..verification.bundle import pipeline_data
    from ..verification.comparison import LiteModel
    from ..core.runtime import run_tf_batched
    from ..core.signature import resolve

    sig = resolve(gd, rep.get("inputs"), rep.get("outputs"), rep.get("input_shapes"))
    cmp = rep.get("compare") or {"models": []}
    entries = [m for m in cmp["models"] if os.path.basename(m["model"]) in models]
    real = data is not None or (rep.get("data") or {}).get("path")
    shown = {"source": rep.get("source"), "data": "random inputs" if not real else None, "models": {},
             "per_class": {}, "disagreements": 0}
    parts = [None, _verdicts(entries, cmp, shown), _summary(entries, cmp, shown)]
    source = shown["data"]
    if real:  # per-sample sections: on real data only (random inputs have no classes to speak of)
        source = str(data or rep["data"]["path"])
        try:
            raw, fed, y, source, norm = pipeline_data(rep, sig, data, scale, mean, std, samples, labels=labels)
            outs = list(sig.outputs)
            ref = run_tf_batched(gd, fed, outs[:1], batch=sig.batch or 256, fixed_batch=sig.batch)[0]
            preds = {}
            for m in entries:
                name = os.path.basename(m["model"])
                preds[name] = LiteModel(models[name], name=name).run(fed, sig.names, outs[:1], sig.batch or 256)[0][0]
            if ref.ndim == 2 and ref.shape[1] > 1:
                parts.append(_per_class(ref, preds, y, shown))
                parts.append(_worst(raw, sig.names, ref, preds, y, shown))
                parts.append(_samples(ref, preds, y, shown))
        except InputError as e:
            parts.append(f"<section id='samples'><p>per-sample sections left out: {_e(e)}</p></section>")
        shown["data"] = source
    parts[0] = _head(rep, source)
    parts.append(_strip(rep, frozen_gd, gd))
    parts.append(_per_op(per_op_dir))
    return _page("\n".join(p for p in parts if p)), shown


def _head(rep, source):
    return (f"<header><h1>graphtools report</h1><p>{_e(rep.get('source'))}: inputs "
            f"{_e(', '.join(rep.get('inputs', [])))} &rarr; outputs {_e(', '.join(rep.get('outputs', [])))}; "
            f"data: {_e(source)}</p></header>")


VERDICT_COLOURS = {"ship": "#1a7f37", "check": "#9a6700", "do not ship": "#cf222e"}


def _verdicts(models, cmp, shown):
    """The first screen: one line per model (colour and word, and why) and the model the run recommends."""
    from ..verification.verdict import apply

    if models and "verdict" not in models[0]:  # (a report.json from before verdicts: judged now, default gates)
        apply(cmp)
    rows = []
    for m in models:
        name = os.path.basename(m["model"])
        v = m.get("verdict", "check")
        shown.setdefault("verdicts", {})[name] = v
        rows.append(f"<li data-model='{_e(name)}' data-verdict='{_e(v)}'><b style='color:{VERDICT_COLOURS.get(v, '#000')}'>"
                    f"{_e(v.upper())}</b> {_e(name)}: {_e('; '.join(m.get('verdict_why', [])[:2]))}</li>")
    rec = cmp.get("recommended") or {}
    shown["recommended"] = os.path.basename(rec["model"]) if rec.get("model") else None
    line = (f"<p id='recommended'>Recommended: <b>{_e(os.path.basename(rec['model']))}</b>, {_e(rec['why'])}.</p>"
            if rec.get("model") else f"<p id='recommended'>No model to recommend: {_e(rec.get('why', ''))}.</p>")
    return f"<section id='verdicts'><h2>Verdict</h2>{line}<ul class='verdicts'>{''.join(rows)}</ul></section>"


def _short_model(name):
    short = name[:-len(".tflite")] if name.endswith(".tflite") else name
    return "float" if short == "model" else short.replace("model.", "")


def _place_labels(fig, ax, items, size=8):
    """Annotate each (x, y, text) at the first offset where its box overlaps no label placed before (points
    that sit on one another -- float and float16 at the same accuracy -- get labels one above the other)."""
    fig.canvas.draw()
    placed = []
    offsets = [(6, 4), (6, -12), (6, 16), (6, -24), (6, 28), (6, -36), (6, 40), (6, -48)]
    for x, y, text in sorted(items, key=lambda t: (t[0], t[1])):
        px, py = ax.transData.transform((x, y))
        w, h = 0.62 * size * len(text) * fig.dpi / 72, 1.2 * size * fig.dpi / 72
        for dx, dy in offsets:
            box = (px + dx * fig.dpi / 72, py + dy * fig.dpi / 72, w, h)
            if not any(box[0] < b[0] + b[2] and b[0] < box[0] + box[2] and box[1] < b[1] + b[3] and b[1] < box[1] + box[3]
                       for b in placed):
                break
        placed.append(box)
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=size)
    return placed


def _output_errors(models):
    """A chart of each output's error relative to its scale, per model, for outputs that are not class scores."""
    names = [n for n, o in (models[0]["outputs"].items() if models else []) if "top1_agreement" not in o
             and "exact_match" not in o]
    if not names:
        return ""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    width = 0.8 / max(1, len(models))
    for k, m in enumerate(models):
        vals = [max(m["outputs"][n]["max_abs_diff"] / (m["outputs"][n].get("ref_max_abs") or 1.0), 1e-12) for n in names]
        ax.bar([i + k * width for i in range(len(names))], vals, width, label=_short_model(os.path.basename(m["model"])))
    ax.set_yscale("log")
    ax.set_xticks([i + width * (len(models) - 1) / 2 for i in range(len(names))])
    ax.set_xticklabels([n if len(n) <= 18 else "…" + n[-17:] for n in names], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("max |d| / max |TF|")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return (f"<figure id='chart-output-error'>{_svg(fig)}<figcaption>each output's largest difference relative to "
            f"its scale (regressions, embeddings, images: no top class to agree on)</figcaption></figure>")


def _summary(models, cmp, shown):
    plt = _plt()
    rows, points = [], []
    float_size = next((m["size_bytes"] for m in models if os.path.basename(m["model"]) == "model.tflite"), None)
    for m in models:
        name = os.path.basename(m["model"])
        o = next(iter(m["outputs"].values()))
        acc = o.get("accuracy")
        agr = o.get("top1_agreement")
        shown["models"][name] = {"size_bytes": m["size_bytes"], "operators": m["operators"],
                                 "max_abs_diff": o["max_abs_diff"], "agreement": agr, "accuracy": acc}
        ratio = f" ({m['size_bytes'] / float_size:.2f}x)" if float_size else ""
        rows.append(f"<tr data-model='{_e(name)}'><td>{_e(name)}</td>"
                    f"<td data-k='size_bytes' data-v='{m['size_bytes']}'>{m['size_bytes'] / 1024:.1f} KB{ratio}</td>"
                    f"<td data-k='operators' data-v='{m['operators']}'>{m['operators']}</td>"
                    f"<td data-k='latency' data-v='{m['latency_ms_per_sample']}'>{m['latency_ms_per_sample']:.4f}</td>"
                    f"<td data-k='max_abs_diff' data-v='{o['max_abs_diff']}'>{o['max_abs_diff']:.3g}</td>"
                    f"<td data-k='mean_abs_diff' data-v='{o['mean_abs_diff']}'>{o['mean_abs_diff']:.3g}</td>"
                    f"<td data-k='agreement' data-v='{agr if agr is not None else ''}'>"
                    f"{'' if agr is None else f'{agr:.4f}'}</td>"
                    f"<td data-k='accuracy' data-v='{acc if acc is not None else ''}'>"
                    f"{'' if acc is None else f'{acc:.4f}'}</td></tr>")
        y, what = (acc, "accuracy") if acc is not None else (agr, "top-1 agreement with TF")
        if y is not None:
            points.append((m["size_bytes"] / 1024, y, name, what))
    chart = ""
    if points:
        fig, ax = plt.subplots(figsize=(6, 3.4))
        for x, yv, name, _ in points:
            ax.scatter([x], [yv], s=40)
        ax.margins(x=0.3, y=0.25)  # (room for the labels inside the axes: none clipped)
        _place_labels(fig, ax, [(x, yv, _short_model(name)) for x, yv, name, _ in points])
        ax.set_xlabel("size (KB)")
        ax.set_ylabel(points[0][3])
        ax.grid(alpha=0.3)
        chart = f"<figure id='chart-size-accuracy'>{_svg(fig)}<figcaption>size against accuracy, every mode</figcaption></figure>"
    tf_acc = next((next(iter(m["outputs"].values())).get("tf_accuracy") for m in models), None)
    note = f"<p>TF graph accuracy: <span data-k='tf_accuracy'>{tf_acc:.4f}</span></p>" if tf_acc is not None else ""
    return (f"<section id='summary'><h2>Models</h2><p>{cmp.get('samples', '')} samples ({_e(cmp.get('data', ''))}); "
            f"the float model (model.tflite) is the reference for sizes.</p>{note}<table class='grid'><thead><tr>"
            "<th>model</th><th>size</th><th>ops</th><th>ms / sample</th><th>max |d|</th><th>mean |d|</th>"
            f"<th>agreement</th><th>accuracy</th></tr></thead><tbody>{''.join(rows)}</tbody></table>{chart}"
            f"{_output_errors(models)}</section>")


def _per_class(ref, preds, y, shown):
    plt = _plt()
    classes = ref.shape[1]
    tf_pred = ref.argmax(1)
    blocks = []
    for name, p in preds.items():
        pred = p.argmax(1)
        vs_tf = class_metrics(pred, tf_pred, classes)
        vs_labels = class_metrics(pred, y, classes) if y is not None else None
        shown["per_class"][name] = {"vs_tf": vs_tf, "vs_labels": vs_labels}
        table = ["<table class='grid'><thead><tr><th>class</th>"]
        heads = (["precision", "recall", "F1"] if vs_labels else []) + ["precision vs TF", "recall vs TF", "F1 vs TF"]
        table.append("".join(f"<th>{h}</th>" for h in heads) + "</tr></thead><tbody>")
        for c in range(classes):
            cells = []
            for what, mt in (("labels", vs_labels), ("tf", vs_tf)):
                if mt is None:
                    continue
                for k in ("precision", "recall", "f1"):
                    cells.append(f"<td data-k='{k}' data-vs='{what}' data-v='{mt[k][c]}'>{mt[k][c]:.3f}</td>")
            table.append(f"<tr data-class='{c}'><td>{c}</td>{''.join(cells)}</tr>")
        table.append("</tbody></table>")
        cm = np.array((vs_labels or vs_tf)["confusion"])
        fig, ax = plt.subplots(figsize=(3.4, 3.0))
        ax.imshow(cm, cmap="Blues")
        for i in range(classes):
            for j in range(classes):
                if cm[i, j]:
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=6,
                            color="white" if cm[i, j] > cm.max() / 2 else "black")
        ax.set_xlabel("predicted")
        ax.set_ylabel("label" if vs_labels else "TF")
        ax.set_xticks(range(classes))
        ax.set_yticks(range(classes))
        ax.tick_params(labelsize=6)
        blocks.append(f"<div class='model' data-model='{_e(name)}'><h3>{_e(name)}</h3><div class='row'>{''.join(table)}"
                      f"<figure class='confusion'>{_svg(fig)}<figcaption>confusion matrix against the "
                      f"{'labels' if vs_labels else 'TF graph'}</figcaption></figure></div></div>")
    return f"<section id='per-class'><h2>Per class</h2>{''.join(blocks)}</section>"


def _is_image(raw, names):
    x = np.asarray(raw[names[0]])
    return len(names) == 1 and x.ndim in (3, 4) and (x.ndim == 3 or x.shape[-1] in (1, 3))


def _worst(raw, names, ref, preds, y, shown, k=12):
    if not _is_image(raw, names):
        return ""
    plt = _plt()
    tf_pred = ref.argmax(1)
    differ = np.zeros(len(ref), bool)
    for p in preds.values():
        differ |= p.argmax(1) != tf_pred
    idx = np.nonzero(differ)[0]
    idx = idx[np.argsort(-ref[idx, tf_pred[idx]])][:k]
    cards = []
    x = np.asarray(raw[names[0]])
    for i in idx:
        img = x[i][..., 0] if x.ndim == 4 and x.shape[-1] == 1 else x[i]
        fig, ax = plt.subplots(figsize=(1.2, 1.2))
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None)
        ax.axis("off")
        lines = [f"<li>TF: {tf_pred[i]} ({ref[i, tf_pred[i]]:.2f})</li>"]
        for name, p in preds.items():
            c = int(p[i].argmax())
            cls = " class='off'" if c != tf_pred[i] else ""
            lines.append(f"<li{cls}>{_e(name.replace('.tflite', ''))}: {c} ({p[i, c]:.2f})</li>")
        label = f"label {int(y[i])}, " if y is not None else ""
        cards.append(f"<div class='card' data-sample='{int(i)}'><img alt='sample {int(i)}' src='{_png(fig)}'>"
                     f"<p>#{int(i)}: {label}</p><ul>{''.join(lines)}</ul></div>")
    shown["worst"] = [int(i) for i in idx]
    body = "".join(cards) or "<p>no model disagrees with the TF graph on any sample</p>"
    return f"<section id='worst'><h2>Worst disagreements</h2><div class='cards'>{body}</div></section>"


def _samples(ref, preds, y, shown, limit=5000, first=50):
    """The per-sample table, worst first: the samples where a model's top class differs from TF's, then by
    the largest difference; the differing predictions coloured; the worst ``first`` shown, the rest a
    click away."""
    tf_pred = ref.argmax(1)
    names = list(preds)
    n = min(len(ref), limit)
    off = np.zeros(n, bool)
    worst = np.zeros(n)
    for p in preds.values():
        off |= p[:n].argmax(1) != tf_pred[:n]
        worst = np.maximum(worst, np.abs(p[:n] - ref[:n]).reshape(n, -1).max(1))
    order = np.lexsort((-worst, ~off))  # (disagreements first, then the largest difference)
    head = "<th>#</th>" + ("<th>label</th>" if y is not None else "") + "<th>TF</th>" + "".join(
        f"<th>{_e(n_.replace('.tflite', ''))}</th>" for n_ in names) + "<th>max |d|</th>"
    rows = []
    for rank, i in enumerate(order):
        ps = [int(preds[m][i].argmax()) for m in names]
        cells = f"<td>{i}</td>" + (f"<td>{int(y[i])}</td>" if y is not None else "") + f"<td>{int(tf_pred[i])}</td>"
        cells += "".join(f"<td class='off'>{p}</td>" if p != tf_pred[i] else f"<td>{p}</td>" for p in ps)
        cells += f"<td>{worst[i]:.3g}</td>"
        cls = " ".join(c for c in ("disagree" if off[i] else "", "more" if rank >= first else "") if c)
        rows.append(f"<tr{f' class={chr(39)}{cls}{chr(39)}' if cls else ''}>{cells}</tr>")
    disagree = int(off.sum())
    shown["disagreements"] = disagree
    more = (f"<p><button id='show-all' onclick=\"document.querySelectorAll('#samples tr.more').forEach("
            f"function(r){{r.style.display='table-row'}});this.remove()\">show all {n}</button></p>" if n > first else "")
    return (f"<section id='samples'><h2>Per sample</h2><p><span data-k='disagreements'>{disagree}</span> of "
            f"{n} samples where a model's top-1 differs from TF's (marked, the differing class in red); the worst "
            f"{min(first, n)} first; click a column to sort.</p><table class='grid sortable'><thead><tr>{head}</tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>{more}</section>")


def _strip(rep, frozen_gd, gd):
    st = rep.get("strip") or {}
    if not st:
        return ""
    rows = "".join(f"<tr data-pass='{_e(p['pass'])}'><td>{_e(p['pass'])}</td><td>{p.get('round', '')}</td>"
                   f"<td data-k='rewrites'>{p['rewrites']}</td><td data-k='removed'>{p['removed']}</td>"
                   f"<td>{_e(', '.join(f'{k} {v:+d}' for k, v in (p.get('ops_delta') or {}).items()))}</td></tr>"
                   for p in st.get("passes", []))
    bound = ", ".join(f"{_e(k)}={_e(v)}" for k, v in st.get("bound", {}).items()) or "nothing"
    eq = "".join(f"<tr><td>{_e(k)}</td><td data-k='max_abs'>{v.get('max_abs', 0):.3g}</td>"
                 f"<td>{v.get('max_ref', 0):.3g}</td><td>{'yes' if v.get('ok') else 'NO'}</td></tr>"
                 for k, v in (st.get("equivalence") or {}).items())
    diff = ""
    if frozen_gd is not None:
        from ..core.analysis import diff as graph_diff

        d = graph_diff(frozen_gd, gd)
        delta = ", ".join(f"{_e(k)} {v:+d}" for k, v in d["op_delta"].items()) or "unchanged"
        diff = (f"<p id='diff'>frozen.pb &rarr; optimized.pb: <span data-k='nodes_before'>{d['nodes'][0]}</span> &rarr; "
                f"<span data-k='nodes_after'>{d['nodes'][1]}</span> nodes; removed {len(d['removed'])}, added "
                f"{len(d['added'])}, rewired {len(d['rewired'])}; ops {delta}</p>")
    verdict = "verified equivalent" if st.get("verified") else "not verified"
    return (f"<section id='strip'><h2>Strip</h2><p>bound: {bound}; {verdict}</p>{diff}<table class='grid'><thead><tr>"
            "<th>pass</th><th>round</th><th>rewrites</th><th>nodes removed</th><th>ops</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
            + (f"<h3>Equivalence</h3><table class='grid'><thead><tr><th>output</th><th>max |d|</th><th>max |y|</th>"
               f"<th>within tolerance</th></tr></thead><tbody>{eq}</tbody></table>" if eq else "") + "</section>")


def _per_op(per_op_dir):
    files = sorted(glob.glob(os.path.join(per_op_dir, "*.per_op.json"))) if per_op_dir else []
    if not files:
        return ""
    plt = _plt()
    figs = []
    for f in files:
        with open(f) as fh:
            r = json.load(fh)
        rows = sorted((row for row in r["rows"] if row.get("local")), key=lambda row: -row["local"]["relative"])[:15]
        if not rows:
            continue
        fig, ax = plt.subplots(figsize=(6, 0.3 * len(rows) + 0.8))
        labels = [row["tensor"] if len(row["tensor"]) < 40 else row["tensor"][:18] + "…" + row["tensor"][-18:]
                  for row in rows]
        ax.barh(range(len(rows)), [row["local"]["relative"] for row in rows], color="#d7191c")
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels(labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("local error (relative RMSE; the op alone, fed TF's inputs)")
        name = os.path.basename(f).replace(".per_op.json", "")
        figs.append(f"<figure class='per-op' data-model='{_e(name)}'>{_svg(fig)}<figcaption>{_e(name)}: "
                    f"{r['mapped']} of {r['op_outputs']} op outputs mapped</figcaption></figure>")
    return f"<section id='per-op'><h2>Per-op error</h2>{''.join(figs)}</section>" if figs else ""


CSS = """body{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{margin:0 0 4px}h2{border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}
table.grid{border-collapse:collapse;font-size:13px;margin:8px 0}
table.grid td,table.grid th{border:1px solid #ddd;padding:3px 8px;text-align:right}
table.grid th{background:#f3f3f3;cursor:default}table.sortable th{cursor:pointer}
tr.disagree{background:#ffe1e1}td.off{color:#cf222e;font-weight:bold}tr.more{display:none}.row{display:flex;gap:24px;align-items:flex-start;flex-wrap:wrap}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid #ddd;padding:6px;font-size:12px;width:150px}
.card ul{padding-left:16px;margin:4px 0}.card li.off{color:#c00;font-weight:bold}figure{margin:8px 0}
figcaption{font-size:12px;color:#555}"""

JS = """document.querySelectorAll('table.sortable th').forEach(function(th, col){
  th.addEventListener('click', function(){
    var body = th.closest('table').tBodies[0], rows = Array.prototype.slice.call(body.rows);
    var asc = th.getAttribute('data-asc') !== '1'; th.setAttribute('data-asc', asc ? '1' : '0');
    rows.sort(function(a, b){ var x = +a.cells[col].textContent, y = +b.cells[col].textContent;
      return asc ? x - y : y - x; });
    rows.forEach(function(r){ body.appendChild(r); });
  });
});"""


def _page(body):
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>graphtools report</title>"
            f"<style>{CSS}</style></head><body>{body}<script>{JS}</script></body></html>")
