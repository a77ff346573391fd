"""The HTML report in headless Chromium: it renders offline and the charts are on screen."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from recommender.report.formats import svg
from tests.report.png import decode

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory, demo_outputs: dict[str, str]) -> Path:
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(demo_outputs["html"], encoding="utf-8")
    return path


def test_page_is_self_contained(demo_outputs: dict[str, str]) -> None:
    html = demo_outputs["html"]
    assert "<script" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html
    # The only URL is the SVG namespace, which is an identifier, never fetched.
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) == {"http://www.w3.org/2000/svg"}


def test_screenshot_shows_every_chart(page: Path, tmp_path: Path) -> None:
    png = tmp_path / "report.png"
    result = _chromium(tmp_path, f"--screenshot={png}", "--window-size=1280,2400",
                       page.as_uri())
    assert png.exists(), result.stderr[-2000:]
    image = decode(png.read_bytes())
    assert (image.width, image.height) == (1280, 2400)
    counts = {name: image.count(_rgb(colour)) for name, colour in {
        "usage": svg.USAGE, "request": svg.CURRENT, "target": svg.TARGET,
        "savings": svg.SAVING, "gpu-a": svg.SERIES[0], "gpu-b": svg.SERIES[1],
    }.items()}
    # Filled areas: many pixels; lines and legend swatches: hundreds.
    assert counts["usage"] > 5000, counts
    assert counts["savings"] > 2000, counts
    for name in ("request", "target", "gpu-a", "gpu-b"):
        assert counts[name] > 300, counts
    # The savings chart comes first, then the GPU chart, then the distributions.
    rows_with = {
        name: [y for y in range(0, image.height, 4)
               if image.count_in(_rgb(colour), y, y + 1)]
        for name, colour in (("savings", svg.SAVING), ("gpu", svg.SERIES[1]))
    }
    assert rows_with["savings"] and rows_with["gpu"]
    assert min(rows_with["savings"]) < min(rows_with["gpu"])


def test_dom_has_the_svg_charts(page: Path, tmp_path: Path) -> None:
    result = _chromium(tmp_path, "--dump-dom", page.as_uri())
    dom = result.stdout
    assert "Tidal recommendation report" in dom, result.stderr[-2000:]
    charts = re.findall(r'<svg[^>]*aria-label="([^"]+)"', dom)
    assert "Savings by namespace" in charts
    assert "GPU utilisation over time" in charts
    usage_charts = [c for c in charts if c.endswith("usage against request and target")]
    assert len(usage_charts) == 12  # 6 containers with history x cpu and memory
    assert dom.count('class="usage"') > 50
    assert dom.count('class="series"') == 2  # embedder and llm-inference
    assert dom.count('class="bar"') == 3  # batch, ml, shop
