#!/usr/bin/env python3
"""The national status page in a real browser (issue 16 item 5).

Five real regions, each with a metrics listener; headless Chromium
(Debian's `chromium`) loads one region's page (GET /, daemon/status.c), and
the test reads the DOM Chromium rendered (--dump-dom) with the standard
library's html.parser: every region of the directory on the page in the
state the JSON (/status) and the links say. Then one region stops, national
signals queue for it, and the page shows it down with its growing backlog.
A screenshot of that page is checked (a PNG of the window's size) and, if
$ZVH_SCREENSHOT_DIR is set, copied there as status-page.png (the README's
docs/status-page.png is made so).

    python3 tests/integration/test_status_browser.py

Chromium is required: without it the test FAILS (scripts/install-deps.sh
installs it). $ZVH_CHROMIUM names another binary. Chromium runs with
--no-sandbox (CI runs as root, where its sandbox refuses to start) on the
daemon's own page on loopback only, with a fresh profile each time.
The last line is "N passed, M failed"; the exit code is 1 if any failed.
"""
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
from html.parser import HTMLParser

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zvhtest                                              # noqa: E402
from zvhtest import TestFailure, eq, expect, federation, wait_until  # noqa: E402

DIRECTORY = [r for r, _ in zvhtest.make_federation.all_regions()]
REGIONS = DIRECTORY[:5]                 # groningen, fryslan, drenthe, ijsselland, twente
HERE, GONE = REGIONS[0], REGIONS[-1]    # the page is groningen's; twente stops
CASES = {HERE: "PAGE-CASE-1", REGIONS[2]: "PAGE-CASE-2"}   # one case each, at two regions
#  Short heartbeats and retries, a summary every second; a link counts as
#  down 3 s after its last frame: long enough that five ASan daemons and a
#  browser on two cores do not flap a link between the JSON and the page,
#  short enough that the stopped region shows down soon
SETTINGS = {"heartbeat_ms": 200, "peer_timeout_ms": 3000, "retry_min_ms": 50,
            "retry_max_ms": 1000, "status_interval_s": 1}
RAISED = 3                              # national signals queued for the stopped region

CHROMIUM = os.environ.get("ZVH_CHROMIUM") or "chromium"
#  A hang guard: a page load takes a second or two
CHROMIUM_TIMEOUT_S = 120
CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu",
    "--disable-dev-shm-usage",          # containers have a small /dev/shm
    "--no-first-run", "--no-default-browser-check", "--disable-extensions",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--mute-audio",
]
SCREENSHOT_SIZE = (1400, 1000)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------- chromium

def chromium_binary():
    """Chromium's path; a failure, never a skip, if it is not installed."""
    binary = shutil.which(CHROMIUM)
    if not binary:
        raise TestFailure(f"no '{CHROMIUM}' on PATH: this test needs Debian's chromium "
                          "(scripts/install-deps.sh installs it: apt-get install chromium "
                          "fonts-dejavu-core), or $ZVH_CHROMIUM naming a Chromium binary")
    return binary


def _kill_group(proc):
    """Chromium's helper processes (zygote, renderer) are in its session."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def chromium(*args):
    """Run headless Chromium with a fresh profile; its stdout (exit 0 required)."""
    binary = chromium_binary()
    with tempfile.TemporaryDirectory(prefix="zvh-chromium-") as profile:
        cmd = [binary] + CHROMIUM_FLAGS + [f"--user-data-dir={profile}"] + list(args)
        proc = zvhtest.start_process(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        try:
            out, err = proc.communicate(timeout=CHROMIUM_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, err = proc.communicate()
            raise TestFailure(f"chromium did not finish within {CHROMIUM_TIMEOUT_S} s: "
                              f"{' '.join(cmd)}\n{_tail(err)}") from None
        finally:
            _kill_group(proc)
            zvhtest.forget(proc)
    expect(proc.returncode == 0, f"chromium exited {proc.returncode}: {' '.join(cmd)}\n"
                                 f"{_tail(err)}")
    return out


def _tail(text, lines=12):
    """The end of Chromium's stderr, without its D-Bus complaints (no bus here)."""
    kept = [line for line in text.splitlines() if "dbus" not in line.lower()]
    return "\n".join(f"    chromium| {line}" for line in kept[-lines:])


def page_url(fed, region):
    return f"http://127.0.0.1:{fed.info[region]['metrics']}/"


# --------------------------------------------------------------------- the DOM

class Tables(HTMLParser):
    """The tables of a page as a browser rendered it: {table id: {"headers":
    [th text], "rows": [{"attrs": {...}, "cells": [{"class", "text"}]}]}},
    the h1's text, and the whole DOM (dom)."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.dom, self.tables, self.h1 = html, {}, ""
        self.table = self.row = self.cell = None
        self.in_h1 = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.table = self.tables.setdefault(attrs.get("id") or "",
                                                {"headers": [], "rows": []})
        elif tag == "tr" and self.table is not None:
            self.row = {"attrs": attrs, "cells": []}
            self.table["rows"].append(self.row)
        elif tag in ("td", "th") and self.row is not None:
            self.cell = {"tag": tag, "class": attrs.get("class") or "", "text": ""}
        elif tag == "h1":
            self.in_h1 = True

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.cell["text"] = " ".join(self.cell["text"].split())
            if self.cell["tag"] == "th":
                self.table["headers"].append(self.cell["text"])
            else:
                self.row["cells"].append(self.cell)
            self.cell = None
        elif tag == "tr":
            self.row = None
        elif tag == "table":
            self.table = None
        elif tag == "h1":
            self.in_h1 = False

    def handle_data(self, data):
        if self.cell is not None:
            self.cell["text"] += data
        elif self.in_h1:
            self.h1 += data

    def column(self, table, header):
        """The index of the column headed header in table (by its heading, so
        columns added to the page move nothing here)."""
        headers = self.tables[table]["headers"]
        expect(header in headers, f"no column '{header}' in table {table}: {headers}")
        return headers.index(header)

    def regions(self):
        """{region id: row} of the regions table."""
        expect("regions" in self.tables, "no <table id=\"regions\"> in the rendered DOM")
        rows = {}
        for row in self.tables["regions"]["rows"]:
            row_id = row["attrs"].get("id") or ""
            if row_id.startswith("region-"):
                rows[row_id[len("region-"):]] = row
        return rows

    def links(self):
        """{(from, to): state text} of the links table."""
        expect("links" in self.tables, "no <table id=\"links\"> in the rendered DOM")
        at = [self.column("links", h) for h in ("from", "to", "state")]
        return {(row["cells"][at[0]]["text"], row["cells"][at[1]]["text"]):
                row["cells"][at[2]]["text"]
                for row in self.tables["links"]["rows"] if row["cells"]}


def rendered(fed, region):
    """The page of region as Chromium rendered it (--dump-dom), parsed."""
    dom = chromium("--dump-dom", page_url(fed, region))
    tables = Tables(dom)
    expect("regions" in tables.tables, f"the rendered DOM of {page_url(fed, region)} has no "
                                       f"regions table (an error page?): {dom[:400]!r}")
    return tables


def backlog(row):
    """The 'backlog from here' cell of a region's row, as a number."""
    cells = [c for c in row["cells"] if "backlog" in c["class"].split()]
    eq(len(cells), 1, "backlog cells in a region's row")
    expect(cells[0]["text"].isdigit(), f"backlog {cells[0]['text']!r} is a number")
    return int(cells[0]["text"])


def check_row(row, region, klass, condition):
    eq((row["attrs"].get("class"), row["attrs"].get("data-condition")), (klass, condition),
       f"class and data-condition of {region}'s row")


# --------------------------------------------------------------------- JSON waits

def heard_all(fed):
    """HERE's /status shows the other regions up, their summaries fresh, and
    the cases included since in each region's count."""
    regions = fed.federation_status(HERE)
    return (all(regions[r]["heard_ms"] > 0 and regions[r]["condition"] == "up"
                and not regions[r]["stale"] for r in REGIONS if r != HERE)
            and all(regions[r]["cases"].get("active") == 1 for r in CASES))


def queued_for_gone(fed):
    """The backlog for GONE at HERE while HERE shows it down, else None."""
    entry = fed.federation_status(HERE)[GONE]
    if entry["condition"] != "down":
        return None
    return entry["link_from_here"]["outbox_depth"]


def raise_national(fed, text):
    out = fed.ctl_ok(HERE, "signal", "raise", "--national", "--kind", "incident",
                     "--text", text)
    expect(isinstance(out, dict) and out.get("event_id"), f"signal raise printed {out!r}")


def png_size(path):
    """(width, height) of a PNG file, from its IHDR chunk."""
    with open(path, "rb") as f:
        head = f.read(24)
    eq(head[:8], PNG_SIGNATURE, f"{path} is a PNG")
    eq(head[12:16], b"IHDR", f"{path}'s first chunk")
    return struct.unpack(">II", head[16:24])


# --------------------------------------------------------------------- test

@federation(REGIONS, SETTINGS, metrics=True)
def test_status_page_in_chromium_shows_each_region_and_one_going_down(fed):
    """Groningen's page in headless Chromium shows the five regions (itself
    "this region", the other four up, each with its own count of cases and
    no case id), the directory's other regions "not federated", and its
    links up; after twente stops, twente's row is down
    with the signals queued for it, and its backlog grows with one more."""
    chromium_binary()                   # fail now, not after the federation starts
    fed.start_all()
    for region, case_id in CASES.items():
        fed.include(region, fed.plan_file(f"Plan of {case_id}."), case_id)
    wait_until(lambda: heard_all(fed), interval=0.2,
               what=f"{HERE}'s /status to show the other four regions heard and up, "
                    f"with the cases of {sorted(CASES)}")

    page = rendered(fed, HERE)
    expect(f"shown by {HERE}" in page.h1 and f"{len(DIRECTORY)} regions" in page.h1,
           f"the page's heading: {page.h1!r}")
    rows = page.regions()
    eq(sorted(rows), sorted(DIRECTORY), "the regions on the page (every region of the "
                                        "directory)")
    check_row(rows[HERE], HERE, "self", "this region")
    for region in REGIONS[1:]:
        check_row(rows[region], region, "up", "up")
        backlog(rows[region])
    active = page.column("regions", "active")
    for region in REGIONS:
        eq(rows[region]["cells"][active]["text"], "1" if region in CASES else "0",
           f"{region}'s active cases on the page")
    expect(not any(case_id in page.dom for case_id in CASES.values()), "a case id on the page")
    for region in DIRECTORY:
        if region not in REGIONS:
            check_row(rows[region], region, "placeholder", "not federated")
    links = page.links()
    for region in REGIONS[1:]:
        expect(links.get((HERE, region), "").startswith("up"),
               f"{HERE}'s link to {region} on the page: {links.get((HERE, region))!r}")

    fed.stop(GONE)
    for n in range(RAISED):
        raise_national(fed, f"statuspagina {n + 1}")
    wait_until(lambda: (queued_for_gone(fed) or 0) >= RAISED, interval=0.2,
               what=f"{HERE}'s /status to show {GONE} down with {RAISED} signals queued")
    page = rendered(fed, HERE)
    rows = page.regions()
    check_row(rows[GONE], GONE, "down", "down")
    before = backlog(rows[GONE])
    expect(before >= RAISED, f"{GONE}'s backlog on the page is {before}, less than the "
                             f"{RAISED} signals raised")
    oldest = rows[GONE]["cells"][page.column("regions", "oldest")]["text"]
    expect(oldest.endswith("s ago"), f"the age of {GONE}'s oldest queued event: {oldest!r}")
    expect(page.links().get((HERE, GONE), "").startswith("down"),
           f"{HERE}'s link to {GONE} on the page: {page.links().get((HERE, GONE))!r}")
    check_row(rows[HERE], HERE, "self", "this region")

    raise_national(fed, "statuspagina: nog een")
    wait_until(lambda: (queued_for_gone(fed) or 0) > before, interval=0.2,
               what=f"{HERE}'s /status to show the backlog for {GONE} above {before}")
    rows = rendered(fed, HERE).regions()
    check_row(rows[GONE], GONE, "down", "down")
    expect(backlog(rows[GONE]) > before, f"{GONE}'s backlog on the page grew from {before} "
                                         f"(now {backlog(rows[GONE])})")

    shot = os.path.join(fed.root, "status-page.png")
    chromium(f"--screenshot={shot}", "--window-size={},{}".format(*SCREENSHOT_SIZE),
             page_url(fed, HERE))
    eq(png_size(shot), SCREENSHOT_SIZE, "the screenshot's size")
    keep = os.environ.get("ZVH_SCREENSHOT_DIR")
    if keep:
        os.makedirs(keep, exist_ok=True)
        shutil.copyfile(shot, os.path.join(keep, "status-page.png"))
        print(f"  screenshot: {os.path.join(keep, 'status-page.png')}", flush=True)


if __name__ == "__main__":
    zvhtest.main(globals())
