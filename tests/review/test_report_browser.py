"""The HTML report in a real headless Chromium: loads without JavaScript errors, the plots
are rendered, and a screenshot is not blank.

Chromium comes from the distribution (``.ci/install-chromium``). Outside CI the test skips when
no Chromium is installed; in CI (``CI=true``) it installs it and must run.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    # WebGL (the 3-D scatter) without a GPU: SwiftShader, opted in explicitly
    "--enable-unsafe-swiftshader",
    "--use-angle=swiftshader",
    "--enable-logging=stderr",
    "--v=0",
]
# Collects errors before any other script runs, then writes what it saw into the page.
PROBE = """<script>
window.__roadmapErrors = [];
window.addEventListener("error", function (e) { window.__roadmapErrors.push("error: " + e.message); });
window.addEventListener("unhandledrejection", function (e) {
  window.__roadmapErrors.push("unhandled rejection: " + e.reason); });
(function () { var orig = console.error; console.error = function () {
  window.__roadmapErrors.push("console.error: " + Array.prototype.join.call(arguments, " "));
  return orig.apply(console, arguments); }; })();
window.addEventListener("load", function () { setTimeout(function () {
  var out = document.createElement("pre"); out.id = "roadmap-probe";
  out.textContent = JSON.stringify({
    errors: window.__roadmapErrors,
    plotly: typeof window.Plotly,
    graphs: document.querySelectorAll(".plotly-graph-div").length,
    rendered: document.querySelectorAll(".plotly-graph-div .main-svg").length,
    scenes: document.querySelectorAll(".plotly-graph-div .gl-container canvas").length,
    points: document.querySelectorAll(".plotly-graph-div .scatterlayer .point").length,
    tables: document.querySelectorAll("table.data").length,
    errorbars: document.querySelectorAll(".plotly-graph-div .errorbars .errorbar").length,
    recommendation: (document.getElementById("recommendation") || {}).innerText || "",
    failed: Array.prototype.map.call(document.querySelectorAll("#failed-trials tbody tr"),
                                     function (r) { return r.innerText; }),
    failed_shown: ((document.getElementById("failed-trials") || {}).offsetHeight || 0) > 0,
    traces: Array.prototype.map.call(document.querySelectorAll(".plotly-graph-div"), function (g) {
      return (g.data || []).map(function (t) {
        return [t.type, t.name, (t.marker || {}).symbol || "", (t.x || []).length]; }); }) });
  document.body.appendChild(out); }, 1500); });
</script>"""


def find_chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    exe = find_chromium()
    if exe is None and IN_CI:
        subprocess.run([str(ROOT / ".ci" / "install-chromium")], check=True, timeout=600)
        exe = find_chromium()
        assert exe, ".ci/install-chromium ran but no chromium is on PATH"
    if exe is None:
        pytest.skip("no chromium installed (run .ci/install-chromium); required when CI=true")
    return exe


@pytest.fixture(scope="module")
def report(review, tmp_path_factory) -> Path:
    from roadmap.review.report import build_report

    out = tmp_path_factory.mktemp("report") / "report.html"
    out.write_text(build_report(review, input_hw=(64, 64)), encoding="utf-8")
    return out


def run_chromium(exe: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [exe, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=90,
    )


JS_ERROR = re.compile(r"CONSOLE.*(Uncaught|TypeError|ReferenceError|SyntaxError|RangeError|is not defined)")


def test_report_renders_without_errors(chromium, report, tmp_path):
    probed = tmp_path / "probed.html"
    text = report.read_text(encoding="utf-8")
    probed.write_text(text.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    proc = run_chromium(
        chromium, tmp_path / "profile-dom", "--virtual-time-budget=15000", "--dump-dom", probed.as_uri()
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = re.search(r'<pre id="roadmap-probe">(.*?)</pre>', proc.stdout, re.S)
    assert m, "the page never finished loading:\n" + proc.stderr[-2000:]
    probe = json.loads(html.unescape(m.group(1)))
    assert probe["errors"] == []
    assert probe["plotly"] == "object"
    assert probe["graphs"] == 5  # 3-D front, 2-D projections, hypervolume, level MACs, skip memory
    assert probe["rendered"] >= 5  # each drew its SVG layers
    assert probe["scenes"] >= 1  # the 3-D scene got a WebGL canvas
    assert probe["points"] >= 8 * 3  # every trial in each 2-D projection
    assert probe["tables"] == 3  # Pareto table, failed trials, roadmap table
    assert probe["errorbars"] >= 8 * 2  # PSNR noise bands in the two projections with PSNR
    # the recommendation says how many runs the knee's PSNR rests on, and what it is vs the seed
    assert "PSNR 29.60 ±0.26 dB (mean of 2 runs)" in probe["recommendation"]
    assert "a trade-off against the seed" in probe["recommendation"]
    assert "dominates" not in probe["recommendation"]
    assert probe["failed_shown"]
    assert [re.sub(r"\s+", " ", row) for row in probe["failed"]] == [
        "5 diverged: loss became nan at iteration 12",
        "7 invalid spec: encoder[0].conv.portion",
    ]
    assert not JS_ERROR.search(proc.stderr), JS_ERROR.search(proc.stderr).group(0)


def test_report_screenshot_is_not_blank(chromium, report, tmp_path):
    import numpy as np
    from PIL import Image

    shot = tmp_path / "shot.png"
    proc = run_chromium(
        chromium,
        tmp_path / "profile-shot",
        "--virtual-time-budget=15000",
        f"--screenshot={shot}",
        "--window-size=1400,1000",
        report.as_uri(),
    )
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    assert not JS_ERROR.search(proc.stderr), JS_ERROR.search(proc.stderr).group(0)
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    assert pixels.shape[:2] == (1000, 1400)
    assert pixels.std() > 10  # not one flat colour
    non_white = (pixels.min(axis=2) < 235).mean()
    assert non_white > 0.05  # plots and text cover a real part of the page
    # the 3-D plot area (upper half) has coloured markers (blue front / red references)
    top = pixels[150:800]
    coloured = (np.abs(top[..., 0] - top[..., 2]) > 80).mean()
    assert coloured > 1e-4


def _probe(chromium: str, report: Path, tmp_path: Path) -> dict:
    probed = tmp_path / "probed.html"
    probed.write_text(report.read_text(encoding="utf-8").replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    proc = run_chromium(
        chromium, tmp_path / "profile-probe", "--virtual-time-budget=15000", "--dump-dom", probed.as_uri()
    )
    m = re.search(r'<pre id="roadmap-probe">(.*?)</pre>', proc.stdout, re.S)
    assert proc.returncode == 0 and m, proc.stderr[-2000:]
    return json.loads(html.unescape(m.group(1)))


def test_reference_markers_differ_on_and_off_the_front(chromium, tmp_path):
    """UNet-- made dominated by the seed (lower PSNR, slower, more memory): its marker is an
    open diamond, the references on the front filled ones, in the 3-D scene and the projections."""
    from roadmap.review.report import build_report
    from roadmap.review.study import load_study_dir
    from tests.review.review_studies import TRIALS, write_study

    trials = dict(TRIALS)
    trials[2] = (28.5, 110.0, 230.0, "unet--", trials[2][4])
    review = load_study_dir(write_study(tmp_path / "study", trials))
    report = tmp_path / "report.html"
    report.write_text(build_report(review, input_hw=(64, 64)), encoding="utf-8")
    probe = _probe(chromium, report, tmp_path)
    assert probe["errors"] == []
    scatter = [t for graph in probe["traces"] for t in graph if t[1] and t[1].startswith("reference")]
    on = {(kind, symbol, n) for kind, name, symbol, n in scatter if name == "reference on the front"}
    off = {(kind, symbol, n) for kind, name, symbol, n in scatter if name == "reference off the front"}
    assert {kind for kind, _, _ in on} == {"scatter3d", "scatter"} == {kind for kind, _, _ in off}
    assert {symbol for _, symbol, _ in on} == {"diamond"} and {n for _, _, n in on} == {2}  # seed, mofa
    assert {symbol for _, symbol, _ in off} == {"diamond-open"} and {n for _, _, n in off} == {1}  # unet--
