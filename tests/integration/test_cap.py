#!/usr/bin/env python3
"""CAP 1.2 from real daemons (issue 17 items 1 and 4): `zvhctl subscribe
--format cap` as each partner role (police, crisis service, probation,
operator) writes one alert per view it gets (signals of each kind, a
national one, the label events across a handover, a departure view,
review-due), and EVERY alert validates against the OASIS CAP 1.2 XML
schema with xmllint.

The schema is tests/schemas/CAP-v1.2.xsd: written from the normative text
of OASIS CAP 1.2 (CAP-v1.2-os, sections 3.2 and 3.4), since no Debian or
npm package ships the .xsd (its head says more). xmllint is Debian's
libxml2-utils (scripts/install-deps.sh): without it this test FAILS, it
does not skip. Rules the standard states in prose only (identifier and
sender without whitespace, ',', '<' or '&'; no "Z" in dateTime, which the
schema's pattern also says) are checked here too.

Run: python3 tests/integration/test_cap.py [name-filter]
"""
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigtest                                      # noqa: E402
from sigtest import TIMERS, eq, expect, signal_federation, wait_until  # noqa: E402
import zvhtest                                      # noqa: E402

A, B = "groningen", "drenthe"
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"
SCHEMA = os.path.join(zvhtest.SOURCE_DIR, "tests", "schemas", "CAP-v1.2.xsd")
TOKEN = re.compile(r"^[^\s,<&]+$")                  # CAP 1.2 3.2.1: identifier, sender
SENT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
TEXT = "Bedreiging <buurman> & \"familie\" 'thuis'\nTweede regel"
PARTNERS = [("pol", "police", A), ("ggz", "crisis_service", A),
            ("reclass", "probation", A), ("ops", "operator", "*")]
IDLE_EXIT_MS = 2000


def cap_alerts(fed, partner, role=None):
    """`zvhctl subscribe --format cap` for partner at A from the start of
    the log until idle: the alert lines (exit 0 required)."""
    cmd = [zvhtest.ZVHCTL, "subscribe", "--format", "cap", "--after", "0",
           "--idle-exit", str(IDLE_EXIT_MS), "--endpoint", fed.info[A]["subscribe"],
           "--server-key", fed.info[A]["public_key"], "--key", fed.partners[partner]["key"]]
    if role:
        cmd += ["--role", role]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=zvhtest.CTL_TIMEOUT_S * 3)
    eq(proc.returncode, 0, f"zvhctl subscribe --format cap as {partner} ({proc.stderr})")
    return [line for line in proc.stdout.split("\n") if line]


def validate(alerts, where):
    """Every alert through xmllint --schema CAP-v1.2.xsd, one file each."""
    xmllint = shutil.which("xmllint")
    expect(xmllint, "xmllint is missing: install libxml2-utils (scripts/install-deps.sh)")
    expect(os.path.isfile(SCHEMA), f"no CAP schema at {SCHEMA}")
    os.makedirs(where, exist_ok=True)
    paths = []
    for i, alert in enumerate(alerts):
        paths.append(os.path.join(where, f"alert-{i + 1}.xml"))
        with open(paths[-1], "w", encoding="utf-8") as f:
            f.write(alert)
    proc = subprocess.run([xmllint, "--noout", "--schema", SCHEMA] + paths,
                          capture_output=True, text=True)
    eq(proc.returncode, 0, f"xmllint on {len(paths)} alerts in {where}:\n{proc.stderr}")
    eq(proc.stderr.count(" validates"), len(paths), f"alerts that validate:\n{proc.stderr}")


def parse(alert):
    """(root, info, description, parameters) of one alert; prose rules held."""
    root = ET.fromstring(alert)
    for name in ("identifier", "sender"):
        value = root.findtext(CAP + name)
        expect(value and TOKEN.match(value), f"{name} {value!r} breaks CAP 3.2.1")
    expect(SENT.match(root.findtext(CAP + "sent")), f"sent of {alert}")
    eq((root.findtext(CAP + "status"), root.findtext(CAP + "scope")), ("Actual", "Restricted"),
       "status and scope")
    info = root.find(CAP + "info")
    parameters = {p.findtext(CAP + "valueName"): p.findtext(CAP + "value")
                  for p in info.findall(CAP + "parameter")}
    return root, info, info.findtext(CAP + "description") or "", parameters


def by_event(alerts):
    """{event_id: [(root, info, description, parameters)]}"""
    out = {}
    for alert in alerts:
        parsed = parse(alert)
        out.setdefault(parsed[0].findtext(CAP + "identifier"), []).append(parsed)
    return out


def raise_every_kind(fed, case):
    ids = {"incident": fed.raise_signal(A, case, kind="incident", urgency="immediate",
                                        severity="severe", certainty="observed", text=TEXT),
           "scale_up": fed.raise_signal(A, case, kind="scale_up", urgency="expected"),
           "scale_down": fed.raise_signal(A, case, kind="scale_down"),
           "national": fed.raise_signal(A, national=True, kind="other", text="Landelijk")}
    return ids


def hand_over_and_close(fed, case):
    rc, _, err = fed.move(A, case, B)
    eq(rc, 0, f"case move ({err.strip()})")
    fed.wait_state(B, case, "joint_target")
    fed.ctl_ok(B, "case", "complete", case)
    fed.ctl_ok(B, "case", "close", case)


def wait_operator_saw(fed, count):
    """The operator (all regions) has every event at A: signals, labels, review."""
    got = []

    def seen():
        got[:] = [parse(a)[3].get("zvh_event_type") for a in cap_alerts(fed, "ops")]
        return len(got) >= count
    wait_until(seen, what=f"{count} views for the operator at {A}")


@signal_federation([A, B], dict(TIMERS, joint_phase_s=3600), partners=PARTNERS)
def test_every_view_of_every_role_is_valid_cap(fed):
    """Each role's alerts validate; each has msgType, event and the view's
    fields as docs/PARTNERS.md says, and nothing its role may not see."""
    fed.start_all()
    case = "ZVH-CAP-1"
    fed.include(A, fed.plan_file(), case)
    ids = raise_every_kind(fed, case)
    #  label_set, 4 signals, review_due (due while A still owns the case)
    wait_operator_saw(fed, 6)
    hand_over_and_close(fed, case)
    wait_operator_saw(fed, 8)                       # and label_moved, label_removed
    alerts = {pid: cap_alerts(fed, pid, "crisis_service" if pid == "ggz" else None)
              for pid, _, _ in PARTNERS}
    for pid, role, _ in PARTNERS:
        validate(alerts[pid], os.path.join(fed.root, "cap", pid))
        for alert in alerts[pid]:
            expect(f"partner role {role}:" in parse(alert)[0].findtext(CAP + "restriction"),
                   f"restriction of {pid}'s alert names {role}")
    ops = by_event(alerts["ops"])
    types = [parse(a)[3]["zvh_event_type"] for a in alerts["ops"]]
    for kind in ("label_set", "signal", "review_due", "label_moved", "label_removed"):
        expect(kind in types, f"the operator got no {kind} alert: {types}")
    msg_types = {kind: ops[ids[kind]][0][0].findtext(CAP + "msgType")
                 for kind in ("incident", "scale_up", "scale_down", "national")}
    eq(msg_types, {"incident": "Alert", "scale_up": "Update", "scale_down": "Cancel",
                   "national": "Alert"}, "msgType per kind of signal")
    _, info, description, parameters = ops[ids["incident"]][0]
    eq([info.findtext(CAP + f) for f in ("urgency", "severity", "certainty")],
       ["Immediate", "Severe", "Observed"], "urgency, severity, certainty")
    expect("Text: " + TEXT in description, f"text, unescaped by the parser: {description!r}")
    expect("Case: " + case in description, "the operator sees the case id")
    expect(info.findtext(CAP + "instruction"), "the operator's (its region's) actions")
    review = [p for p in map(parse, alerts["ops"]) if p[3]["zvh_event_type"] == "review_due"]
    eq(review[0][1].findtext(CAP + "category"), "Other", "category of review_due")
    check_police(alerts["pol"], ids, case)
    check_crisis_service(alerts["ggz"], ids)


def check_police(alerts, ids, case):
    """Police: no text, no case id; its own reference and actions; the
    departure view of label_moved names the region left, not the new owner."""
    pol = by_event(alerts)
    for event_id in ids.values():
        expect(event_id in pol, f"police got no alert for {event_id}")
    for root, info, description, parameters in map(parse, alerts):
        expect("Text:" not in description and case not in description,
               f"police alert holds text or case id: {description!r}")
    _, info, _, parameters = pol[ids["incident"]][0]
    expect(parameters.get("partner_ref"), "police partner_ref parameter")
    expect(info.findtext(CAP + "instruction"), "police actions as instruction")
    moved = [p for p in map(parse, alerts) if p[3]["zvh_event_type"] == "label_moved"]
    eq(len(moved), 1, "label_moved alerts for police covering only A")
    root, info, description, _ = moved[0]
    eq(root.findtext(CAP + "sender"), A, "sender of the departure view")
    #  (its event id is the new owner's, as in every view of the event)
    for text in (root.findtext(CAP + "sender"), description, info.findtext(CAP + "headline")):
        expect(B not in text, f"the departure view names the new owner {B}: {text!r}")
    expect(info.find(CAP + "contact") is None, "the departure view has the new owner's contact")
    expect(not any(p[3]["zvh_event_type"] == "review_due" for p in map(parse, alerts)),
           "police got review_due")


def check_crisis_service(alerts, ids):
    ggz = by_event(alerts)
    _, info, description, _ = ggz[ids["incident"]][0]
    expect("Text: " + TEXT in description, "the crisis service sees the text")
    expect("Case:" not in description, "the crisis service sees no case id")


@signal_federation([A], partners=[("pol", "police", A)])
def test_format_cap_needs_a_known_format(fed):
    """--format other than json or cap is a usage error (exit 1)."""
    fed.start_all()
    proc = subprocess.run([zvhtest.ZVHCTL, "subscribe", "--format", "xml", "--endpoint",
                           fed.info[A]["subscribe"], "--server-key", fed.info[A]["public_key"],
                           "--key", fed.partners["pol"]["key"]],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=zvhtest.CTL_TIMEOUT_S)
    eq(proc.returncode, 1, f"exit code of --format xml ({proc.stderr})")


if __name__ == "__main__":
    sigtest.main(globals())
