"""Adds a PNG snapshot (image/png) to every plotly chart output of notebooks that has none, so that
opening a committed notebook in JupyterLab does not mark it as modified.

    python snapshot.py --plotly plotly.min.js [--chromium PATH] NOTEBOOK.ipynb ...

JupyterLab's plotly renderer (jupyterlab-plotly) shows an output's saved image/png when it has one
(and draws the interactive chart when the pointer enters it); an output without one it draws, then
stores a PNG of what it drew in the notebook, which marks the notebook modified as soon as it is
opened. kernel/nbrun -update runs this on the executed notebooks before writing them back. Each
chart is drawn with the pinned plotly.js in headless Chromium (Debian's, or --chromium /
$STRUCTFFN_CHROMIUM) at 900 pixels wide and its layout's height (360 when it has none, as the
renderer does). Files are replaced atomically; outputs that have a PNG already are left alone.
"""
import argparse
import json
import os
import sys
import tempfile

from playwright.sync_api import sync_playwright

PLOTLY_MIME = "application/vnd.plotly.v1+json"

DRAW_JS = """async ([fig, width, height]) => {
  const div = document.createElement('div');
  document.body.appendChild(div);
  await Plotly.newPlot(div, fig.data || [], fig.layout || {}, fig.config || {});
  const url = await Plotly.toImage(div, {format: 'png', width: width, height: height});
  Plotly.purge(div);
  div.remove();
  return url.split(',')[1];
}"""


def snapshot(page, path):
    with open(path) as f:
        nb = json.load(f)
    n = 0
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            data = out.get("data") or {}
            fig = data.get(PLOTLY_MIME)
            if fig is None or "image/png" in data:
                continue
            height = (fig.get("layout") or {}).get("height") or 360
            data["image/png"] = page.evaluate(DRAW_JS, [fig, 900, height])
            n += 1
    if n:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".ipynb")
        with os.fdopen(fd, "w") as f:  # as nbformat writes notebooks
            json.dump(nb, f, sort_keys=True, indent=1, ensure_ascii=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plotly", required=True, help="plotly.min.js (kernel/setup.sh installs it)")
    ap.add_argument("--chromium", default=os.environ.get("STRUCTFFN_CHROMIUM") or "/usr/bin/chromium")
    ap.add_argument("notebooks", nargs="+")
    args = ap.parse_args()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        page = browser.new_page()
        page.set_content("<html><body></body></html>")
        page.add_script_tag(path=args.plotly)
        for path in args.notebooks:
            print("%s: %d chart snapshots added" % (path, snapshot(page, path)), flush=True)
        browser.close()


if __name__ == "__main__":
    sys.exit(main())
