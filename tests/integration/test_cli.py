#!/usr/bin/env python3
"""zvhctl's own surface: --help on every command, usage errors and exit codes.
No daemon is needed for these; the commands that talk to one are exercised
by the other integration tests."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

BUILD = os.environ.get("ZVH_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
ZVHCTL = os.path.join(BUILD, "zvhctl")
COMMANDS = ["status", "case", "plan", "signal", "subscribe", "forward", "keygen", "datakey",
            "reload", "audit", "backup", "federation", "monitor"]


def run(*args):
    done = subprocess.run([ZVHCTL, *args], capture_output=True, text=True, timeout=30)
    return done.returncode, done.stdout, done.stderr


def test_every_command_has_help():
    for command in COMMANDS:
        rc, out, err = run(command, "--help")
        assert rc == 0, f"{command} --help exited {rc}: {err}"
        assert f"  {command}" in out, f"{command} --help does not describe {command}: {out}"
        assert "exit codes" in out, f"{command} --help lacks the exit codes"


def test_global_help_lists_every_command():
    rc, out, _ = run("--help")
    assert rc == 0
    for command in COMMANDS:
        assert f"  {command}" in out, f"global help lacks {command}"


def test_usage_errors_exit_1_with_a_reason():
    absent = ["-e", "ipc:///nonexistent/zvh-control.sock", "-t", "300"]
    for args, why in ((["frobnicate"], ""), ([], ""), (["case", "move", "c1"], ""),
                      (["signal", "raise"], ""), (["-e"], ""), (["keygen"], ""),
                      (["datakey"], ""),
                      #  Garbage in this session's arguments: refused before any call
                      (absent + ["federation", "everything"], "federation takes: status"),
                      (absent + ["monitor", "--period", "2026Q5"], "--period YYYY-MM"),
                      (absent + ["monitor", "--period", "2026-13"], "--period YYYY-MM"),
                      (absent + ["monitor"], "--period YYYY-MM"),
                      (absent + ["subscribe", "--format", "yaml"], "json or cap"),
                      (absent + ["forward"], "forward needs"),
                      (absent + ["case", "move", "c1", "c2"], "needs --to REGION"),
                      (absent + ["case", "move", "--to", "drenthe"], "needs a case id")):
        rc, out, err = run(*args)
        assert rc == 1, f"zvhctl {' '.join(args)} exited {rc}, not 1"
        assert "zvhctl:" in err and why in err, f"zvhctl {' '.join(args)} gave no reason: {err!r}"


def test_absent_daemon_exits_2():
    rc, _, err = run("-e", "ipc:///nonexistent/zvh-control.sock", "-t", "300", "status")
    assert rc == 2, f"exit {rc}, not 2 (daemon unreachable): {err}"
    assert "unreachable" in err


def test_datakey_never_overwrites_and_is_private():
    path = f"/tmp/zvh-cli-test-{os.getpid()}.key"
    try:
        rc, _, err = run("datakey", path)
        assert rc == 0, err
        assert oct(os.stat(path).st_mode & 0o777) == "0o600"
        assert len(open(path).read().strip()) == 64
        rc, _, err = run("datakey", path)
        assert rc == 1 and "never overwritten" in err
    finally:
        if os.path.exists(path):
            os.remove(path)


def test_keygen_makes_its_directory_private():
    """keygen --dir of a directory that does not exist makes it, mode 0700
    (issue 16: it failed with 'No such file or directory')."""
    root = tempfile.mkdtemp(prefix="zvh-cli-keygen-")
    try:
        keys = os.path.join(root, "keys")
        rc, out, err = run("keygen", "groningen", "--dir", keys, "--region", "groningen")
        assert rc == 0, f"keygen into a new directory exited {rc}: {err}"
        assert oct(os.stat(keys).st_mode & 0o777) == "0o700", "mode of the new key directory"
        assert oct(os.stat(os.path.join(keys, "groningen.key_secret")).st_mode & 0o777) \
            == "0o600", "mode of the secret key file"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_version_names_the_release_and_the_protocol():
    for tool in ("zvhctl", "zvhd"):
        done = subprocess.run([os.path.join(BUILD, tool), "--version"], capture_output=True,
                              text=True, timeout=30)
        assert done.returncode == 0, f"{tool} --version exited {done.returncode}"
        assert re.match(rf"{tool} \d+\.\d+\.\d+ \(protocol \d+\.\d+", done.stdout), \
            f"{tool} --version printed {done.stdout!r}"


def test_both_docker_ignore_files_keep_secrets_out():
    """The classic builder reads /.dockerignore, BuildKit
    docker/Dockerfile.dockerignore (issue 16: only the latter existed, so the
    classic builder copied .git and generated keys into the build stage):
    both exist, say the same, and leave out .git and secret key files."""
    source = os.environ.get("ZVH_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))

    def patterns(name):
        with open(os.path.join(source, name), encoding="utf-8") as f:
            return sorted(line.strip() for line in f if line.strip()
                          and not line.startswith("#"))
    classic, buildkit = patterns(".dockerignore"), patterns("docker/Dockerfile.dockerignore")
    assert classic == buildkit, f"the ignore files differ: {classic} vs {buildkit}"
    for needed in (".git", "docker/generated", "**/*.key_secret", "**/*.data_key"):
        assert needed in classic, f".dockerignore does not leave out {needed}"


def main():
    tests = [value for name, value in globals().items() if name.startswith("test_")]
    passed = failed = 0
    for test in tests:
        try:
            test()
            print(f"PASS {test.__name__}")
            passed += 1
        except AssertionError as error:
            print(f"FAIL {test.__name__}: {error}")
            failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
