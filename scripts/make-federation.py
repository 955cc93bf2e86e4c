#!/usr/bin/env python3
"""Write a local federation: keys, a directory of all regions, one config each.

Used by the demo and the integration tests, so both run the same topology.
Regions come from config/regions.zpl (the 31 ZVH regions); the chosen ones get
a loopback endpoint and a fresh CURVE key, the rest stay placeholders.

    make-federation.py DIR --zvhctl PATH [--regions a,b,c | --count N]
                       [--set key=value ...]
"""
import argparse
import os
import re
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REGIONS_FILE = os.path.join(HERE, "..", "config", "regions.zpl")


def all_regions(path=REGIONS_FILE):
    """(id, name) of every region in a directory file, in file order."""
    regions, current = [], None
    for line in open(path, encoding="utf-8"):
        m = re.match(r"^    ([a-z0-9-]+)\s*$", line)
        if m:
            current = m.group(1)
            continue
        m = re.match(r'^        name = "(.*)"\s*$', line)
        if m and current:
            regions.append((current, m.group(1)))
            current = None
    return regions


def free_ports(count):
    """Ports the kernel just handed out, so parallel runs do not collide."""
    socks, ports = [], []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def keygen(zvhctl, keydir, name, region, role="region"):
    out = subprocess.run([zvhctl, "--json", "keygen", name, "--dir", keydir,
                          "--region", region, "--role", role, "--force"],
                         check=True, capture_output=True, text=True).stdout
    return re.search(r'"public_key": "([^"]+)"', out).group(1)


def write_federation(root, zvhctl, chosen, settings=None):
    """Create root/keys, root/federation.zpl and root/<region>/zvhd.cfg.
    Returns {region: {"config": path, "endpoint": ..., "public_key": ...}}."""
    settings = settings or {}
    regions = all_regions()
    known = {r for r, _ in regions}
    for region in chosen:
        if region not in known:
            raise SystemExit(f"unknown region {region}; see {REGIONS_FILE}")
    keydir = os.path.join(root, "keys")
    os.makedirs(keydir, exist_ok=True)
    ports = dict(zip(chosen, free_ports(len(chosen))))
    info = {}
    for region in chosen:
        info[region] = {
            "endpoint": f"tcp://127.0.0.1:{ports[region]}",
            "public_key": keygen(zvhctl, keydir, region, region),
        }
    with open(os.path.join(root, "federation.zpl"), "w", encoding="utf-8") as f:
        f.write("#   Local federation written by scripts/make-federation.py\n\ndirectory\n")
        for region, name in regions:
            endpoint = info.get(region, {}).get("endpoint", "")
            key = info.get(region, {}).get("public_key", "")
            f.write(f'    {region}\n        name = "{name}"\n'
                    f'        endpoint = "{endpoint}"\n        public_key = "{key}"\n')
    for region in chosen:
        rdir = os.path.join(root, region)
        os.makedirs(rdir, exist_ok=True)
        path = os.path.join(rdir, "zvhd.cfg")
        with open(path, "w", encoding="utf-8") as f:
            f.write("zvhd\n")
            f.write(f"    region = {region}\n    data_dir = data\n")
            f.write(f'    bind = "{info[region]["endpoint"]}"\n')
            f.write(f"    secret_key = ../keys/{region}.key_secret\n")
            f.write("    directory = ../federation.zpl\n")
            for key, value in settings.items():
                f.write(f"    {key} = {value}\n")
        info[region]["config"] = path
        info[region]["data_dir"] = os.path.join(rdir, "data")
    return info


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir")
    parser.add_argument("--zvhctl", required=True)
    parser.add_argument("--regions", help="comma-separated region ids")
    parser.add_argument("--count", type=int, help="the first N regions")
    parser.add_argument("--set", action="append", default=[],
                        help="extra zvhd key=value for every region")
    args = parser.parse_args()
    if args.regions:
        chosen = args.regions.split(",")
    else:
        chosen = [r for r, _ in all_regions()][: args.count or 3]
    settings = dict(s.split("=", 1) for s in args.set)
    info = write_federation(args.dir, args.zvhctl, chosen, settings)
    for region, data in info.items():
        print(f"{region} {data['endpoint']} {data['config']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
