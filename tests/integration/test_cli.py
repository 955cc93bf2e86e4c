#!/usr/bin/env python3
"""zvhctl's own surface: --help on every command, usage errors and exit codes.
No daemon is needed for these; the commands that talk to one are exercised
by the other integration tests."""
import os
import subprocess
import sys

BUILD = os.environ.get("ZVH_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
ZVHCTL = os.path.join(BUILD, "zvhctl")
COMMANDS = ["status", "case", "plan", "signal", "subscribe", "keygen", "datakey",
            "reload", "audit", "backup"]


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
    for args in (["frobnicate"], [], ["case", "move", "c1"], ["signal", "raise"],
                 ["-e"], ["keygen"], ["datakey"]):
        rc, out, err = run(*args)
        assert rc == 1, f"zvhctl {' '.join(args)} exited {rc}, not 1"
        assert "zvhctl:" in err, f"zvhctl {' '.join(args)} gave no reason: {err!r}"


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
