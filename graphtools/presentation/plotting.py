"""Matplotlib, headless, for the pages graphtools writes (report.html, a detection model's page):
figures as inline SVG or PNG data. Imports nothing of graphtools but its errors."""
import base64
import io as _io

from ..errors import InputError


def _plt():
    try:
        import matplotlib
    except ImportError:
        raise InputError("report.html needs matplotlib: pip install matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _svg(fig):
    import re

    buf = _io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    _plt().close(fig)
    text = buf.getvalue()
    return re.sub(r"<metadata>.*?</metadata>", "", text[text.index("<svg"):], flags=re.S)


def _png(fig, dpi=60):
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    _plt().close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
