"""Runs tests/python/clean_exit_rank.py as N separate rank processes (like torchrun), R times
in a row, and checks that every rank of every run exits with status 0 (issue 15, item 2).

  /usr/bin/python3 tests/python/clean_exit.py [--runs 50] [--ranks 2]

Exit status: 0 when every process exited 0, 1 otherwise (each failure printed with its output).
"""

import argparse
import os
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_run(ranks: int, timeout: float) -> list:
    """The failures of one run: (rank, exit status, output)."""
    port = free_port()
    env = dict(os.environ, WORLD_SIZE=str(ranks), MASTER_ADDR="127.0.0.1",
               MASTER_PORT=str(port), OMP_NUM_THREADS="1")
    in_tree = os.path.join(ROOT, "python")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (in_tree, env.get("PYTHONPATH")) if p)
    procs = [subprocess.Popen([sys.executable, os.path.join(HERE, "clean_exit_rank.py")],
                              env=dict(env, RANK=str(r), LOCAL_RANK=str(r)),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for r in range(ranks)]
    failures = []
    deadline = time.monotonic() + timeout
    for r, p in enumerate(procs):
        try:
            output, _ = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            output, _ = p.communicate()
            failures.append((r, "timeout", output))
            continue
        if p.returncode != 0:
            failures.append((r, p.returncode, output))
    return failures


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50, help="consecutive runs (default: 50)")
    ap.add_argument("--ranks", type=int, default=2, help="processes per run (default: 2)")
    ap.add_argument("--timeout", type=float, default=120.0,
                    help="seconds per run before it counts as hung (default: 120)")
    args = ap.parse_args(argv)
    bad = 0
    for i in range(args.runs):
        failures = one_run(args.ranks, args.timeout)
        for r, status, output in failures:
            print(f"run {i}: rank {r} exited with {status}:\n{output}", flush=True)
        bad += bool(failures)
    print(f"{args.runs - bad} of {args.runs} runs of {args.ranks} ranks: every rank exited 0")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
