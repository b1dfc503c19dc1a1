"""Headless Chromium opens the HTML report (a file, and `/reports` of a running Nudge): charts and tables render."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from rules.workspace import load_workspace
from tests.e2e.server import NudgeServer
from tests.reports.conftest import Replay, nudge

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed: apt-get install chromium (.ci/run does)")


def chromium(tmp_path: Path, *args: str) -> str:
    assert CHROMIUM is not None
    profile = tmp_path / "chromium-profile"
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def cells(dom: str, table_id: str) -> list[list[str]]:
    table = re.search(rf'<table id="{table_id}">(.*?)</table>', dom, re.S)
    assert table, f"no table {table_id}"
    return [re.findall(r"<t[dh]>(.*?)</t[dh]>", row) for row in re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)]


@needs_chromium
def test_the_html_report_renders_its_charts_and_tables_in_chromium(replay: Replay, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    result = nudge("report", "--workspace", str(replay.workspace), "--input", str(replay.records), "--events",
                   str(replay.events), "--format", "html", "-o", str(page))
    assert result.returncode == 0, result.stderr
    dom = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert len(re.findall(r"<svg[^>]*class=\"chart\"", dom)) == 3   # funnel, daily series, variant comparison
    assert len(re.findall(r"<rect", dom)) >= 6 and "<polyline" in dom
    journeys = cells(dom, "journeys")
    n = str(len(replay.sent))
    # entered, sent, recipients, delivered (opens imply it), clicked; goal conversions, their rate and value
    assert journeys[1][:6] == ["Spring promo", "20", n, n, n, "1"]
    assert journeys[1][7:10] == ["10", "50.0%", "€500.00"]
    assert cells(dom, "lifecycle")[1][:2] == ["new", "10"]
    chromium(tmp_path, f"--screenshot={tmp_path / 'report.png'}", "--window-size=1280,2000", page.as_uri())
    assert (tmp_path / "report.png").stat().st_size > 10_000


@needs_chromium
def test_reports_page_of_a_running_nudge_behind_a_read_only_key(replay: Replay, tmp_path: Path) -> None:
    server = NudgeServer(replay.workspace, tmp_path / "nudge.db", env={"NUDGE_REPORTS_KEYS": "reports-key"}).start()
    try:
        now = datetime.now(timezone.utc)   # a live runtime starts no journey on events older than 72 hours
        events = [json.loads(line) for line in replay.events.read_text().splitlines()]
        fresh = [{**e, "timestamp": (now - timedelta(hours=2 if e["type"] == "signed_up" else 1)).isoformat()}
                 for e in events if e["type"] in ("signed_up", "purchase")]
        assert server.post(fresh).status_code == 202

        def converted() -> bool:
            data = httpx.get(server.url + "/reports?format=json&key=reports-key").json()
            return bool(data["journeys"]) and data["journeys"][0]["conversions"] == 10

        server.wait_for(converted, what="ten conversions in the report")
        assert httpx.get(server.url + "/reports").status_code == 401
        assert httpx.get(server.url + "/reports?key=wrong").status_code == 401
        bearer = {"Authorization": "Bearer reports-key"}
        assert httpx.get(server.url + "/reports?format=json", headers=bearer).json()["journeys"][0]["conversions"] == 10
        assert httpx.get(server.url + "/reports", headers={"Authorization": "Bearer wrong"}).status_code == 403
        assert httpx.get(server.url + "/v1/customers/c1", headers=bearer).status_code == 403  # reports only
        dom = chromium(tmp_path, "--dump-dom", server.url + "/reports?key=reports-key")
        assert cells(dom, "journeys")[1][:2] == ["Spring promo", "20"] and "€500.00" in dom
        chromium(tmp_path, f"--screenshot={tmp_path / 'reports-page.png'}", "--window-size=1280,2000",
                 server.url + "/reports?key=reports-key")
    finally:
        server.stop()


MEASURE = """<script>
const main = document.querySelector("main").getBoundingClientRect();
const cut = [...document.querySelectorAll("table, svg, .card")].filter(e => {
  const box = e.getBoundingClientRect(), wrap = e.closest(".wide");
  return box.right > main.right + 0.5 || (wrap && wrap.scrollWidth > wrap.clientWidth);
}).map(e => `${e.tagName} ${e.id} ${e.getAttribute("aria-label") || ""} ${e.textContent.slice(0, 60)}`);
const out = document.createElement("pre");
out.id = "measure";
out.textContent = JSON.stringify({width: innerWidth, cut});
document.body.append(out);
</script>"""


@needs_chromium
def test_at_1400_pixels_no_table_chart_or_card_of_the_report_is_cut_off(tmp_path: Path) -> None:
    from tests.reports.test_workload import workload_report
    page = tmp_path / "report.html"
    page.write_text(workload_report().replace("</body>", MEASURE + "</body>"))
    dom = chromium(tmp_path, "--window-size=1400,2000", "--dump-dom", page.as_uri())
    measured = re.search(r'<pre id="measure">(.*?)</pre>', dom)
    assert measured, "the measuring script did not run"
    assert json.loads(measured.group(1).replace("&quot;", '"')) == {"width": 1400, "cut": []}
    chromium(tmp_path, f"--screenshot={tmp_path / 'report-1400.png'}", "--window-size=1400,3000", page.as_uri())
    assert (tmp_path / "report-1400.png").stat().st_size > 10_000


MAPS = """<script>
const scales = [...document.querySelectorAll(".map > svg")].map(svg => {
  const [, , width] = svg.getAttribute("viewBox").split(" ").map(Number);
  return svg.getBoundingClientRect().width / width;
});
const mark = document.createElement("pre");
mark.id = "maps";
mark.textContent = JSON.stringify({maps: scales.length, smallest: Math.min(...scales)});
document.body.append(mark);
</script>"""


def demo_report(tmp_path: Path, *args: str) -> Path:
    """The demo workspace (journeys.yaml at the repository root) replaying samples/, reported as HTML with maps."""
    root = Path(__file__).resolve().parents[2]
    records, page = tmp_path / "records.jsonl", tmp_path / "report.html"
    result = nudge("simulate", "--workspace", str(root), "--events", str(root / "samples" / "events.jsonl"),
                   "--profiles", str(root / "samples" / "profiles.jsonl"), "-o", str(records))
    assert result.returncode == 0, result.stderr
    result = nudge("report", "--workspace", str(root), "--input", str(records), "--events",
                   str(root / "samples" / "events.jsonl"), "--format", "html", "-o", str(page), *args)
    assert result.returncode == 0, result.stderr
    return page


@needs_chromium
def test_the_demo_workspace_maps_are_drawn_whole_and_readable_at_1400_pixels(tmp_path: Path) -> None:
    page = demo_report(tmp_path, "--since", "30d")
    html = page.read_text()
    journeys = len(load_workspace(Path(__file__).resolve().parents[2]).workspace.journeys)
    assert html.count('class="map"') == journeys and "Compared with the previous period" in html
    page.write_text(html.replace("</body>", MEASURE + MAPS + "</body>"))
    dom = chromium(tmp_path, "--window-size=1400,2000", "--dump-dom", page.as_uri())
    measured = re.search(r'<pre id="measure">(.*?)</pre>', dom)
    maps = re.search(r'<pre id="maps">(.*?)</pre>', dom)
    assert measured and maps, "the measuring scripts did not run"
    assert json.loads(measured.group(1).replace("&quot;", '"')) == {"width": 1400, "cut": []}
    drawn = json.loads(maps.group(1).replace("&quot;", '"'))
    assert drawn["maps"] == journeys
    assert drawn["smallest"] >= 0.8   # D2 writes 15 px labels: none is shrunk below 12 px to fit the page
    for name in ("Starts on cart_updated", "Wait up to 1d for cart_viewed", "Send sms: cart_last_call",
                 "Split review_incentive", "no cart_viewed in 1d"):
        assert name in dom
    chromium(tmp_path, f"--screenshot={tmp_path / 'demo-1400.png'}", "--window-size=1400,9000", page.as_uri())
    assert (tmp_path / "demo-1400.png").stat().st_size > 10_000


WAITING = """\
id: drip
name: Drip
trigger: {event: signed_up}
steps:
  - id: hello
    send: email
    template: hi
  - id: two_days
    wait: 2d
  - id: tip
    send: email
    template: hi
"""


@needs_chromium
def test_reports_page_draws_each_journey_with_the_customers_waiting_now(tmp_path: Path) -> None:
    from engine.testing import email, write_workspace
    root = write_workspace(tmp_path / "ws", journeys={"drip": WAITING}, templates={"hi.email.html": email("Hi")})
    server = NudgeServer(root, tmp_path / "nudge.db").start()
    try:
        now = datetime.now(timezone.utc)
        server.post([{"id": f"s{i}", "type": "signed_up", "customer_id": f"c{i}", "timestamp": now.isoformat(),
                      "traits": {"email": f"c{i}@example.com"}} for i in range(3)])
        bearer = {"Authorization": f"Bearer {server.api_key}"}

        def waiting() -> bool:
            journeys = httpx.get(server.url + "/reports?format=json", headers=bearer).json()["journeys"]
            return bool(journeys) and journeys[0]["waiting_now"] == {"two_days": 3}

        server.wait_for(waiting, what="three customers waiting two days")
        dom = chromium(tmp_path, "--dump-dom", server.url + f"/reports?key={server.api_key}")
        assert 'id="map-drip"' in dom and "3 waiting now" in dom and "3 sent · 0 clicked" in dom
        chromium(tmp_path, f"--screenshot={tmp_path / 'live-map.png'}", "--window-size=1400,2000",
                 server.url + f"/reports?key={server.api_key}")
    finally:
        server.stop()
