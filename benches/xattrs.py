#!/usr/bin/env python3
"""What keeping extended attributes costs: one phlb binary on the same corpus twice,
plain and tagged, runs interleaved.

    python3 benches/xattrs.py PHLB [--scale 0.2] [--reps 5] [--work /tmp/phlb-xattrs]

The corpus comes from benches/gen_corpus.py; the tagged copy has a `user.*` attribute on
every file and a POSIX access ACL (user 65534 may read) on every tenth, written as the
kernel's binary `system.posix_acl_access` value. Per repetition (the order alternates)
it times S1 (first backup into a fresh root), S2 (second backup, nothing changed) and
verify, and prints the medians and the ratio tagged/plain. The goal (#31): S1 <= 1.10x,
S2 <= 1.05x.
"""
import argparse
import os
import shutil
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from ab import GEN, interleaved, print_medians  # noqa: E402

# ACL_USER_OBJ rw-, ACL_USER 65534 r--, ACL_GROUP_OBJ r--, ACL_MASK r--, ACL_OTHER r--.
ACL = struct.pack("<I", 2) + b"".join(
    struct.pack("<HHI", tag, perm, uid)
    for tag, perm, uid in [
        (0x01, 6, 0xFFFFFFFF),
        (0x02, 4, 65534),
        (0x04, 4, 0xFFFFFFFF),
        (0x10, 4, 0xFFFFFFFF),
        (0x20, 4, 0xFFFFFFFF),
    ]
)


def tag(tree):
    """Puts a user.* attribute on every file of `tree` and an ACL on every tenth."""
    n = 0
    for folder, _, files in os.walk(tree):
        for name in sorted(files):
            path = os.path.join(folder, name)
            if os.path.islink(path):
                continue
            os.setxattr(path, "user.origin", f"bench-{n % 7}".encode(), follow_symlinks=False)
            if n % 10 == 0:
                os.setxattr(path, "system.posix_acl_access", ACL, follow_symlinks=False)
            n += 1
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("phlb")
    ap.add_argument("--scale", type=float, default=0.2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--work", default="/tmp/phlb-xattrs")
    args = ap.parse_args()
    binary = os.path.abspath(args.phlb)
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    corpora = {k: os.path.join(args.work, k) for k in ["plain", "tagged"]}
    for path in corpora.values():
        subprocess.run([sys.executable, GEN, "create", path, "--scale", str(args.scale)],
                       check=True, stdout=subprocess.DEVNULL)
    print(f"tagged {tag(corpora['tagged'])} files", flush=True)
    env = dict(os.environ, HOME=args.work)
    env.pop("PHLB_CONFIG", None)
    try:
        times = interleaved({k: (binary, c) for k, c in corpora.items()}, args.reps,
                            args.work, env)
    finally:
        shutil.rmtree(args.work, ignore_errors=True)
    print_medians(times, "plain", "tagged", f"{args.reps} interleaved runs, scale {args.scale}")


if __name__ == "__main__":
    main()
