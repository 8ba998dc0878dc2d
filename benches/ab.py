#!/usr/bin/env python3
"""A/B benchmark of two phlb binaries on the same corpus, runs interleaved.

    python3 benches/ab.py OLD NEW [--scale 0.2] [--reps 5] [--work /tmp/phlb-ab]

For a change that must not slow phlb down (a refactor, a hot-path edit): builds the
corpus once with benches/gen_corpus.py, then per repetition and per binary (the order
alternates each repetition, so drift of the machine hits both alike) times
  S1      the first backup into a fresh root (`phlb init` untimed)
  S2      a second backup, nothing changed
  verify  `phlb verify` of that root (full: every stored copy hashed)
each after a `sync`, and prints the median of each with the ratio NEW/OLD. One untimed
round of each binary comes first (a VM's fresh pages are slow to write), and nothing is
deleted until the end: ext4 passes over recently freed inodes when it allocates, so a
round right after a deletion is slower, whichever binary it times. Needs about
(2 * reps + 3) times the corpus size in free disk.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(HERE, "gen_corpus.py")


def timed(cmd, env):
    subprocess.run(["sync"], check=True)
    start = time.monotonic()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.monotonic() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.decode()}")
    return took


def one_round(binary, corpus, root, env):
    subprocess.run([binary, "-q", "init", root], check=True, env=env)
    base = [binary, "-q", "--backup-root", root]
    s1 = timed(base + ["backup", corpus], env)
    s2 = timed(base + ["backup", corpus], env)
    verify = timed(base + ["verify"], env)
    return {"S1": s1, "S2": s2, "verify": verify}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--scale", type=float, default=0.2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--work", default="/tmp/phlb-ab")
    args = ap.parse_args()
    binaries = {"old": os.path.abspath(args.old), "new": os.path.abspath(args.new)}
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    corpus = os.path.join(args.work, "corpus")
    subprocess.run([sys.executable, GEN, "create", corpus, "--scale", str(args.scale)],
                   check=True, stdout=subprocess.DEVNULL)
    env = dict(os.environ, HOME=args.work)
    env.pop("PHLB_CONFIG", None)
    times = {k: {"S1": [], "S2": [], "verify": []} for k in binaries}
    try:
        for which in ["old", "new"]:
            one_round(binaries[which], corpus, os.path.join(args.work, f"warm-{which}"), env)
        for rep in range(args.reps):
            order = ["old", "new"] if rep % 2 == 0 else ["new", "old"]
            for which in order:
                root = os.path.join(args.work, f"root-{which}-{rep}")
                got = one_round(binaries[which], corpus, root, env)
                for k, v in got.items():
                    times[which][k].append(v)
                print(f"rep {rep + 1} {which}: " +
                      ", ".join(f"{k} {v:.2f} s" for k, v in got.items()), flush=True)
    finally:
        shutil.rmtree(args.work, ignore_errors=True)
    print(f"\nmedians of {args.reps} interleaved runs, scale {args.scale}:")
    print(f"{'':8} {'old':>9} {'new':>9} {'new/old':>8}")
    for k in ["S1", "S2", "verify"]:
        o = statistics.median(times["old"][k])
        n = statistics.median(times["new"][k])
        print(f"{k:8} {o:8.2f}s {n:8.2f}s {n / o:8.3f}")


if __name__ == "__main__":
    main()
