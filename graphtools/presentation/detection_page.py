"""report.html for a detection model: a verdict line per model, then each image with TensorFlow's boxes
(solid) and each model's (dashed) drawn on it."""
import numpy as np


def render(report, images, runs, shown_images=8):
    """report.html for a detection model: a verdict line per model first, then each image with TensorFlow's
    ten best boxes (solid) and each model's (dashed) drawn on it. ``runs``: ``compare``'s ``_runs``."""
    import html

    from .plotting import _plt, _png

    plt = _plt()
    cmp = report["compare"]
    rows = []
    for m in cmp["models"]:
        f = m["found_fraction"] or 0.0
        word, colour = (("ship", "#1a7f37") if f >= 0.9 and (m["worst_image_fraction"] or 0) >= 0.9 else
                        ("check", "#9a6700") if f >= 0.7 else ("do not ship", "#cf222e"))
        rows.append(f"<tr><td>{html.escape(str(m['model']).rsplit('/', 1)[-1])}</td>"
                    f"<td style='color:{colour};font-weight:bold'>{word}</td><td>{f:.0%}</td>"
                    f"<td>{(m['worst_image_fraction'] or 0):.0%}</td><td>{m['mean_iou'] or 0:.4f}</td>"
                    f"<td>{'-' if m['max_score_diff'] is None else format(m['max_score_diff'], '.2g')}</td></tr>")
    colours = ["#d62728", "#1f77b4", "#9467bd", "#ff7f0e"]
    figs = []
    for i, img in enumerate(images[:shown_images]):
        tf_out = runs["tf"][i]
        fig, axes = plt.subplots(1, len(runs["models"]), figsize=(4 * len(runs["models"]), 4), squeeze=False)
        for ax, (name, per) in zip(axes[0], runs["models"].items()):
            ax.imshow(img.astype(np.uint8))
            h, w = img.shape[:2]
            _draw(ax, tf_out, h, w, "#2ca02c", "-", cmp["top"])
            _draw(ax, per[i], h, w, colours[list(runs["models"]).index(name) % 4], "--", cmp["top"])
            m = next(x for x in cmp["models"] if x["model"] == name)["per_image"][i]
            ax.set_title(f"{str(name).rsplit('/', 1)[-1]}: {m['found']}/{m['checked']} found", fontsize=9)
            ax.axis("off")
        figs.append(f"<figure><img src='{_png(fig, dpi=70)}'><figcaption>image {i}: TensorFlow's {cmp['top']} best "
                    f"(solid green) and the model's (dashed)</figcaption></figure>")
    det = report.get("detector") or {}
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>graphtools: {html.escape(str(report['source']))}"
            f"</title><style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}"
            f"td,th{{border:1px solid #ccc;padding:4px 8px}}figure{{display:inline-block;margin:8px}}</style></head>"
            f"<body><h1>{html.escape(str(report['source']))}</h1>"
            f"<p>detections matched on {cmp['samples']} images ({html.escape(str(cmp.get('data', '')))}): for each of "
            f"TensorFlow's {cmp['top']} best, one of the same class with IoU &ge; {cmp['min_iou']:g} and a score "
            f"within {cmp['max_score_diff']:g}. ship: at least 90% on every image.</p>"
            f"<table><tr><th>model</th><th>verdict</th><th>found</th><th>worst image</th><th>mean IoU</th>"
            f"<th>max |d score|</th></tr>{''.join(rows)}</table>"
            f"<p>{html.escape(det.get('describe', ''))}</p>{''.join(figs)}</body></html>")


def _draw(ax, out, h, w, colour, style, top):
    import matplotlib.patches as patches

    n = int(np.asarray(out["num_detections"]).reshape(-1)[0])
    boxes = np.asarray(out["detection_boxes"]).reshape(-1, 4)[:n]
    scores = np.asarray(out["detection_scores"]).reshape(-1)[:n]
    classes = np.asarray(out["detection_classes"]).reshape(-1)[:n]
    for k in np.argsort(-scores, kind="stable")[:top]:
        y0, x0, y1, x1 = boxes[k]
        ax.add_patch(patches.Rectangle((x0 * w, y0 * h), (x1 - x0) * w, (y1 - y0) * h, fill=False,
                                       edgecolor=colour, linestyle=style, linewidth=1.2))
        ax.text(x0 * w, y0 * h, f"{int(classes[k])} {scores[k]:.2f}", color=colour, fontsize=6, va="bottom")
