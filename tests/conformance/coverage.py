#!/usr/bin/env python3
"""Which MUST requirements of docs/PROTOCOL.md the conformance suites check.

docs/PROTOCOL.md gives every normative statement an id `[P<section>-<n>]`
right after the sentence, list item or table row it names. A statement is
the text from the start of its paragraph, list item or table row (or from the
id before it in the same one) up to its id; a MUST id is one whose statement
says MUST (or MUST NOT), or a list item or table row whose list or table
is introduced by a paragraph that says MUST ("The target MUST accept an
offer only if all hold:", then one id per condition). A test cites an id by writing it, brackets
included, anywhere in a file under tests/conformance/ (docstrings or
comments).

    python3 tests/conformance/coverage.py            # report; exit 0
    python3 tests/conformance/coverage.py --check    # exit 1 on a bad citation

The report lists every MUST id no test cites, with the start of its
statement, then one line per section and the totals. With --check it exits
non-zero if a file cites an id the spec does not have (a typo must fail CI),
or if the spec's ids are malformed: an id twice, an id under another
section's heading, or ids of a subsection out of order.
"""
import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.path.join(HERE, "..", ".."))
SPEC = os.path.join(SOURCE_DIR, "docs", "PROTOCOL.md")
#  The sections whose MUST ids the headline figure counts (the wire
#  behaviour of a daemon: links, handover, partner link, views)
HEADLINE = ("4", "5", "7", "8")

ID = re.compile(r"\[P(\d+(?:\.\d+)?)-(\d+)\]")
HEADING = re.compile(r"^#{2,3} (\d+(?:\.\d+)?)\.? ")
#  Where a statement may start: a list item or a table row
ITEM = re.compile(r"^\s*(?:[*-]|\d+\.)\s|^\s*\|")
MUST = re.compile(r"\bMUST\b")


def mask_code(line, in_span):
    """line with the text of code spans blanked, and whether a span is
    still open at its end."""
    out = []
    for char in line:
        if char == "`":
            in_span = not in_span
            out.append(" ")
        else:
            out.append(" " if in_span else char)
    return "".join(out), in_span


def parse_spec(path=SPEC):
    """([(id, section, statement, is_must)] in document order, [problems])."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    ids, problems, section, statement = [], [], None, ""
    in_code = in_item = lead_must = in_span = False
    previous = ""
    for number, line in enumerate(lines, 1):
        if line.strip().startswith("```"):
            in_code = not in_code
            statement = ""
            continue
        heading = HEADING.match(line)
        if heading and not in_code:
            section, statement, lead_must, in_item = heading.group(1), "", False, False
            continue
        if in_code:
            continue
        if not line.strip():
            statement = ""
        elif ITEM.match(line):
            statement, in_item = "", True
        elif not previous.strip():
            #  A new paragraph: the lead-in of any list or table that follows
            in_item = False
            lead_must = False
        if not in_item and MUST.search(line):
            lead_must = True
        previous = line
        #  Ids inside a code span are examples, not ids; a span may go on
        #  over a line break, so whether one is open carries over
        if not line.strip():
            in_span = False
        visible, in_span = mask_code(line, in_span)
        at = 0
        for match in ID.finditer(visible):
            statement += " " + line[at:match.start()]
            at = match.end()
            name = match.group(0)[1:-1]
            where = f"{os.path.basename(path)}:{number}"
            if section is None or match.group(1) not in (section, section.split(".")[0]):
                problems.append(f"{where}: {name} is under the heading of section {section}")
            #  A list item or table row is a MUST if it says so or if the
            #  paragraph that introduces its list or table does
            ids.append((name, match.group(1), " ".join(statement.split()),
                        bool(MUST.search(statement)) or (in_item and lead_must), where))
            statement = ""
        statement += " " + line[at:]
    seen, last = {}, {}
    for name, sec, _, _, where in ids:
        if name in seen:
            problems.append(f"{where}: {name} already given at {seen[name]}")
        seen.setdefault(name, where)
        n = int(name.rsplit("-", 1)[1])
        if n != last.get(sec, 0) + 1:
            problems.append(f"{where}: {name} follows P{sec}-{last.get(sec, 0)} "
                            f"(ids of a subsection are numbered 1, 2, 3, ... in order)")
        last[sec] = n
    return ids, problems


def citations(folder=HERE):
    """{id: [file:line, ...]} of every id cited in a file under folder, this
    script excepted."""
    cited = {}
    me = os.path.abspath(__file__)
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            path = os.path.join(root, name)
            if os.path.abspath(path) == me or name.endswith((".pyc", ".pyo")):
                continue
            try:
                with open(path, encoding="utf-8") as f:
                    text = f.read()
            except (UnicodeDecodeError, OSError):
                continue
            for number, line in enumerate(text.split("\n"), 1):
                for match in ID.finditer(line):
                    cited.setdefault(match.group(0)[1:-1], []).append(
                        f"{os.path.relpath(path, SOURCE_DIR)}:{number}")
    return cited


def top(section):
    return section.split(".")[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if a test cites an id the spec does not have, or the "
                             "spec's ids are malformed")
    parser.add_argument("--spec", default=SPEC)
    parser.add_argument("--tests", default=HERE)
    args = parser.parse_args(argv)
    ids, problems = parse_spec(args.spec)
    cited = citations(args.tests)
    known = {name for name, *_ in ids}
    unknown = {name: where for name, where in cited.items() if name not in known}

    musts = [(name, sec, text) for name, sec, text, is_must, _ in ids if is_must]
    missing = [(name, sec, text) for name, sec, text in musts if name not in cited]
    if missing:
        print("MUST ids no test cites:")
        for name, _, text in missing:
            short = text if len(text) <= 110 else text[:107] + "..."
            print(f"  [{name}] {short}")
        print()
    sections = []
    for _, sec, _ in musts:
        if sec not in sections:
            sections.append(sec)
    print("per section (MUST ids cited / MUST ids):")
    for sec in sections:
        total = [n for n, s, _ in musts if s == sec]
        done = [n for n in total if n in cited]
        print(f"  §{sec}: {len(done)} of {len(total)}")
    head = [n for n, s, _ in musts if top(s) in HEADLINE]
    head_done = [n for n in head if n in cited]
    print(f"{len(head_done)} of {len(head)} MUST ids of "
          f"{', '.join('§' + s for s in HEADLINE)} covered")
    print(f"{len(musts) - len(missing)} of {len(musts)} MUST ids covered")
    for name, where in sorted(unknown.items()):
        print(f"UNKNOWN id [{name}] cited at {', '.join(where)}", file=sys.stderr)
    for problem in problems:
        print(f"SPEC: {problem}", file=sys.stderr)
    if args.check and (unknown or problems):
        print(f"coverage --check: {len(unknown)} unknown id(s) cited, "
              f"{len(problems)} problem(s) in the spec's ids", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
