#!/usr/bin/env python3
"""idle_cpu.py: what an idle federation costs, per daemon.

Starts N federated zvhd daemons (scripts/make-federation.py, the topology of
bench.py's fan-out run: every region with partners in its partners file, none
connected), waits until every link of the first region is up, lets them idle,
and prints each daemon's CPU (utime + stime from /proc/PID/stat) as a percent
of one core, and the mean.

    idle_cpu.py --build-dir B [--regions N] [--seconds S] [--settle S] [--work DIR]

Use a Release build (cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release). The
figures are only as quiet as the machine: say what else ran beside them.
"""
import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _load_bench():
    spec = importlib.util.spec_from_file_location("bench", os.path.join(HERE, "bench.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load_bench()
SUBS_PER_REGION = 4         # as the fan-out run of bench.py


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", required=True, help="holds zvhd and zvhctl")
    parser.add_argument("--regions", type=int, default=31, help="daemons (default 31)")
    parser.add_argument("--seconds", type=float, default=30, help="measured idle time")
    parser.add_argument("--settle", type=float, default=5,
                        help="idle seconds after every link is up, before measuring")
    parser.add_argument("--work", help="work directory (default: a new one, removed)")
    args = parser.parse_args()
    regions = [r for r, _ in bench.make_federation.all_regions()][:args.regions]
    partners = [(f"p-{r}-{i}", bench.ROLES[i % len(bench.ROLES)], "*") for r in regions
                for i in range(SUBS_PER_REGION)]
    work = args.work or tempfile.mkdtemp(prefix="zvh-idle-")
    fed = bench.ZvhFederation(work, os.path.abspath(args.build_dir), regions, partners)
    try:
        bench.log(f"starting {len(regions)} daemons in {work}")
        fed.start_all(timeout=300)
        time.sleep(args.settle)
        bench.log(f"measuring {args.seconds:.0f} s of idle; load {bench.loadavg()}")
        idle = bench.idle_cpu([fed.pid(r) for r in regions], args.seconds)
        for region in regions:
            print(f"{region:24} {idle[fed.pid(region)]:6.2f} %")
        mean = sum(idle.values()) / len(idle)
        print(f"{'mean of ' + str(len(regions)):24} {mean:6.2f} % of a core per daemon "
              f"(load {bench.loadavg()})")
    finally:
        fed.stop_all()
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
