"""Runs notebooks in a real JupyterLab, in headless Chromium, the way a person does (Run All), and
checks what they see: opening the notebook does not mark it as modified, no error output, every chart
drawn, each live chart drawing points while its cell still runs, and no error in the browser console.

    python check.py --root DIR [--ui lab|notebook] [--timeout S] NOTEBOOK.ipynb ...

DIR is the Jupyter root (the notebooks are paths under it, run in place and never saved: autosave is
off); the kernel is GoNB ("gonb", from kernel/setup.sh) and the server is started here, on a free
port, with notebook windowing off (so that every cell renders) and its settings in a temporary
directory. Chromium is Debian's
(/usr/bin/chromium, or $STRUCTFFN_CHROMIUM); Playwright downloads no browser. Prints one JSON line per
notebook ({"notebook", "ui", "ok", "problems", "charts", "live_points", "ignored"}) and exits 1 when any
failed (KNOWN_UPSTREAM lists the console errors of the UI itself that are reported but do not fail).
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from playwright.sync_api import sync_playwright

STATE_JS = """() => {
  const root = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)') || document;
  const prompts = Array.from(root.querySelectorAll('.jp-InputArea-prompt')).map(x => x.innerText.trim());
  const outputs = Array.from(root.querySelectorAll('.jp-OutputArea-output'));
  const errors = outputs.filter(o => {
    const mime = o.getAttribute('data-mime-type') || '';
    const text = o.innerText || '';
    return mime === 'application/vnd.jupyter.error' ||
      (mime === 'application/vnd.jupyter.stderr' && /panic:|ERROR:|exit status [1-9]|GoNB Error/.test(text));
  }).map(o => (o.innerText || '').slice(0, 300));
  const charts = Array.from(root.querySelectorAll('.jp-RenderedPlotly, .structffn-plot'))
    .filter(c => !c.closest('.jp-RenderedPlotly') || c.classList.contains('jp-RenderedPlotly'));
  const drawn = charts.filter(c => c.querySelector('.main-svg'));
  const live = Array.from(root.querySelectorAll('.jp-RenderedHTMLCommon .structffn-plot'))
    .map(c => (c.data || []).reduce((n, tr) => n + ((tr.x || []).length), 0));
  return {prompts: prompts.length, running: prompts.filter(p => p.includes('*')).length,
          errors, charts: charts.length, drawn: drawn.length, live: live.length ? Math.max(...live) : -1};
}"""


# Console errors of the UI itself, not of the notebooks, reported as "ignored" rather than failing:
# Notebook 7.6.x (7.6.0 and 7.6.5 tried, with JupyterLab 4.6.6) throws this on every page it opens, an empty
# notebook and no settings of ours included, from its keyboard-shortcuts settings handler in
# notebook_core.js (a pluginChanged signal for a plugin the settings registry has not loaded).
KNOWN_UPSTREAM = {"notebook": ["TypeError: Cannot read properties of undefined (reading 'schema')",
                               "Cannot read properties of undefined (reading 'schema')"]}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(ui, root, port, token, settings):
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=settings, JUPYTER_CONFIG_DIR=os.path.join(settings, "config"))
    name = "jupyter-lab" if ui == "lab" else "jupyter-notebook"  # JupyterLab 4 or Notebook 7
    jupyter = shutil.which(name) or os.path.join(os.path.dirname(sys.executable), name)
    log = open(os.path.join(settings, "server.log"), "w")
    proc = subprocess.Popen([jupyter, "--no-browser", "--allow-root", "--port", str(port), "--ServerApp.token=" + token,
                             "--ServerApp.root_dir=" + root, "--ServerApp.open_browser=False"],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    for _ in range(120):
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/api?token=%s" % (port, token), timeout=1)
            return proc
        except Exception:
            if proc.poll() is not None:
                raise SystemExit(name + " exited: see " + log.name)
            time.sleep(0.5)
    proc.terminate()
    raise SystemExit(name + " did not answer within 60 s: see " + log.name)


def check(page, ui, base, workspace, notebook, timeout):
    console = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: console.append(str(e)))
    if ui == "lab":  # a workspace of its own, reset: only this notebook is open
        page.goto("%s/lab/workspaces/%s/tree/%s?reset" % (base, workspace, notebook))
    else:  # Notebook 7: one notebook per page
        page.goto("%s/notebooks/%s" % (base, notebook))
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell", timeout=60000)
    time.sleep(4)  # the kernel starts and reports its language info (which JupyterLab merges into the metadata)
    problems = []
    if page.evaluate("() => !!document.querySelector('.jp-mod-dirty')"):  # a modified-document mark before anything ran
        problems.append("opening the notebook marked it as modified (JupyterLab rewrote part of it: save it once from JupyterLab)")
    # Run All from the menu bar, as a person does (Notebook 7's command palette logs a TypeError of its own
    # in its shortcuts settings handler, which would fail every notebook).
    page.click('.lm-MenuBar-itemLabel:text-is("Run")')
    page.click('.lm-Menu-itemLabel:text-is("Run All Cells")')
    source = open(os.path.join(ROOT, notebook)).read()
    live_src = "nb.Train(" in source or "NewLive" in source or "live-fixture" in notebook
    live_points, started, idle, st = 0, False, 0, {}
    deadline = time.time() + timeout
    while time.time() < deadline:
        time.sleep(1)
        st = page.evaluate(STATE_JS)
        if st["running"]:
            started, idle = True, 0
            live_points = max(live_points, st["live"])
        elif started:
            idle += 1
            if idle >= 3:
                break
    if not started:
        problems.append("Run All did not start any cell")
    elif idle < 3:
        problems.append("still running after %d s" % timeout)
    problems += ["error output: " + e for e in st.get("errors", [])]
    if st.get("drawn", 0) < st.get("charts", 0):
        problems.append("%d of %d charts not drawn" % (st["charts"] - st["drawn"], st["charts"]))
    if live_src and live_points <= 0:
        problems.append("the live chart drew no point while its cell ran")
    ignored = [c for c in console if any(c.startswith(k) for k in KNOWN_UPSTREAM.get(ui, []))]
    problems += ["browser console: " + c[:300] for c in console if c not in ignored]
    return {"notebook": notebook, "ui": ui, "ok": not problems, "problems": problems, "charts": st.get("charts", 0),
            "live_points": live_points, "ignored": [c[:120] for c in ignored]}


def main():
    global ROOT
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--ui", choices=["lab", "notebook"], default="lab", help="JupyterLab 4 (lab) or Notebook 7 (notebook)")
    ap.add_argument("notebooks", nargs="+")
    args = ap.parse_args()
    ROOT = args.root
    settings = tempfile.mkdtemp(prefix="structffn-lab-")
    tracker = os.path.join(settings, "@jupyterlab", "notebook-extension")
    os.makedirs(tracker)
    with open(os.path.join(tracker, "tracker.jupyterlab-settings"), "w") as f:
        json.dump({"windowingMode": "none"}, f)
    docmanager = os.path.join(settings, "@jupyterlab", "docmanager-extension")
    os.makedirs(docmanager)
    with open(os.path.join(docmanager, "plugin.jupyterlab-settings"), "w") as f:
        json.dump({"autosave": False}, f)  # the notebooks run in place: never write them back
    port, token = free_port(), "structffn"
    server = start_server(args.ui, args.root, port, token, settings)
    failed = 0
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=os.environ.get("STRUCTFFN_CHROMIUM") or "/usr/bin/chromium",
                                        args=["--no-sandbox"])
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.goto("http://127.0.0.1:%d/%s?token=%s" % (port, "lab" if args.ui == "lab" else "tree", token))  # the token becomes a cookie
            page.close()
            for k, nb in enumerate(args.notebooks):
                page = context.new_page()
                res = check(page, args.ui, "http://127.0.0.1:%d" % port, "check%d" % k, nb, args.timeout)
                page.close()
                failed += not res["ok"]
                print(json.dumps(res), flush=True)
            browser.close()
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(settings, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
