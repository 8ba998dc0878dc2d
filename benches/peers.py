#!/usr/bin/env python3
"""Peer comparison: phlb against rsnapshot, restic and borg on the shared corpus.

    python3 benches/peers.py [--scale 0.1] [--work /tmp/phlb-peers] [--phlb PATH] [--markdown]

Builds the corpus with benches/gen_corpus.py, then backs it up with each tool three times:
  run 1  first backup into an empty repository / root
  run 2  again, nothing changed
  run 3  after `gen_corpus.py mutate` (1% modified, 1% renamed or moved, 1% added,
         0.5% deleted)
and restores the newest backup into an empty folder. For each run it reports the wall
time and the repository's size on disk (`du`, which counts a hardlinked inode once) and
what the run added to it; the restored tree is compared with the corpus (names, sizes,
modes, mtimes, content: gen_corpus.py fingerprint).

The tools, as Debian packages them (apt-get install -y rsnapshot restic borgbackup):
  phlb       `phlb backup`; restore: `phlb restore NAME --to DIR` (hash-checked).
             Its own defaults (LINK = auto: hardlinks on ext4; a root holds plain files).
  rsnapshot  one `rsnapshot hourly` per run (cp -al of the previous run, then rsync into
             it; its default config); restore: `cp -a` of hourly.0 (plain files).
  restic     repository format 2 with `--compression off`; restic always encrypts: the
             password is a fixed test password given in RESTIC_PASSWORD (not a secret).
             Restore: `restic restore latest --target DIR`.
  borg       `borg init --encryption none`, `borg create --compression none` (borg's
             default is lz4); restore: `borg extract` inside DIR.
The corpus is incompressible random data, so compression would only cost time; every
tool here stores it uncompressed. Each timed run ends with a `sync` (phlb syncs its files
itself, the others leave that to the kernel), and starts with nothing dirty.

Needs free disk of about 8 times the corpus (scale 0.1: ~270 MB corpus, ~2.2 GB); checks
before it starts and removes its work folder at the end, also after a failure.

Not in benches/smoke.sh: its figures only mean something at scale 0.1 and above, and
CI does not install rsnapshot, restic and borg (three packages, ~40 MB, only for this);
run it by hand when phlb's backup or restore path changes. docs/performance.md holds its
last table.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GEN = os.path.join(REPO, "benches", "gen_corpus.py")
RESTIC_TEST_PASSWORD = "phlb-peers-benchmark"  # a fixed test password, not a secret


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def timed(cmd, cwd=None, env=None):
    """Runs cmd (quietly) and then `sync`; returns the seconds of both together."""
    os.sync()
    t0 = time.monotonic()
    out = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    if out.returncode != 0:
        sys.exit(f"failed ({out.returncode}): {' '.join(cmd)}\n{out.stderr}")
    os.sync()
    return time.monotonic() - t0


def du_bytes(path):
    out = sh(["du", "-s", "--block-size=1", path], capture_output=True, text=True)
    return int(out.stdout.split()[0])


def fingerprint(tree):
    out = sh([sys.executable, GEN, "fingerprint", tree], capture_output=True, text=True)
    return out.stdout.strip().split()[-1]


def mib(n):
    return f"{n / 2**20:,.1f} MiB"


class Phlb:
    name = "phlb"

    def __init__(self, work, corpus, binary):
        self.root, self.corpus, self.bin = os.path.join(work, "phlb-root"), corpus, binary
        # An empty ini: phlb's defaults, whatever phlb.ini lies above the work folder.
        self.ini = os.path.join(work, "phlb.ini")
        with open(self.ini, "w") as f:
            f.write("[phlb]\n")
        sh(self.cmd("init", self.root), stdout=subprocess.DEVNULL)

    def cmd(self, *a):
        return [self.bin, "-q", "--config", self.ini, "--backup-root", self.root] + list(a)

    def backup(self):
        return timed(self.cmd("backup", self.corpus, "--name", "corpus"))

    def restore(self, to):
        return timed(self.cmd("restore", "corpus", "--to", to))

    def repo(self):
        return self.root


class Rsnapshot:
    name = "rsnapshot"

    def __init__(self, work, corpus):
        self.root, self.corpus = os.path.join(work, "rsnapshot-root"), corpus
        self.conf = os.path.join(work, "rsnapshot.conf")
        rsync = shutil.which("rsync")
        lines = [
            ("config_version", "1.2"),
            ("snapshot_root", self.root + "/"),
            ("cmd_cp", shutil.which("cp")),
            ("cmd_rm", shutil.which("rm")),
            ("cmd_rsync", rsync),
            ("retain", "hourly\t10"),
            ("lockfile", os.path.join(work, "rsnapshot.pid")),
            ("backup", f"{corpus}/\tlocalhost/"),
        ]
        with open(self.conf, "w") as f:  # rsnapshot wants tabs between fields
            f.write("".join(f"{k}\t{v}\n" for k, v in lines))
        sh(["rsnapshot", "-c", self.conf, "configtest"], stdout=subprocess.DEVNULL)

    def backup(self):
        return timed(["rsnapshot", "-c", self.conf, "hourly"])

    def restore(self, to):
        # rsnapshot runs rsync with --relative: the tree sits under its full path.
        src = os.path.join(self.root, "hourly.0", "localhost", self.corpus.lstrip("/"))
        return timed(["cp", "-a", src + "/.", to])

    def repo(self):
        return self.root


class Restic:
    name = "restic"

    def __init__(self, work, corpus):
        self.repo_dir, self.corpus = os.path.join(work, "restic-repo"), corpus
        self.env = dict(os.environ, RESTIC_PASSWORD=RESTIC_TEST_PASSWORD,
                        RESTIC_REPOSITORY=self.repo_dir,
                        RESTIC_CACHE_DIR=os.path.join(work, "restic-cache"))
        sh(["restic", "init", "--repository-version", "2"], env=self.env,
           stdout=subprocess.DEVNULL)

    def backup(self):
        # From inside the corpus with ".", so a restore lands with the tree at DIR's top.
        return timed(["restic", "backup", "--compression", "off", "."], cwd=self.corpus,
                     env=self.env)

    def restore(self, to):
        return timed(["restic", "restore", "latest", "--target", to], env=self.env)

    def repo(self):
        return self.repo_dir


class Borg:
    name = "borg"

    def __init__(self, work, corpus):
        self.repo_dir, self.corpus, self.n = os.path.join(work, "borg-repo"), corpus, 0
        self.env = dict(os.environ, BORG_REPO=self.repo_dir,
                        BORG_BASE_DIR=os.path.join(work, "borg-base"),
                        BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="yes")
        sh(["borg", "init", "--encryption", "none"], env=self.env, stdout=subprocess.DEVNULL)

    def backup(self):
        self.n += 1
        return timed(["borg", "create", "--compression", "none", f"::run{self.n}", "."],
                     cwd=self.corpus, env=self.env)

    def restore(self, to):
        return timed(["borg", "extract", f"::run{self.n}"], cwd=to, env=self.env)

    def repo(self):
        return self.repo_dir


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--work", default="/tmp/phlb-peers")
    ap.add_argument("--phlb", default=os.path.join(REPO, "target", "release", "phlb"))
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = ap.parse_args()

    missing = [t for t in ("rsnapshot", "restic", "borg", "rsync") if not shutil.which(t)]
    if missing:
        sys.exit(f"missing: {', '.join(missing)} (apt-get install -y rsnapshot restic borgbackup)")
    if not os.access(args.phlb, os.X_OK):
        sys.exit(f"no phlb at {args.phlb} (cargo build --release, or --phlb PATH)")
    # scale 1.0 is ~2.7 GB of corpus; the work needs about 8 corpora.
    need = int(2.7e9 * args.scale * 8)
    parent = os.path.dirname(os.path.abspath(args.work))
    free = shutil.disk_usage(parent).free
    if free < need:
        sys.exit(f"{parent}: {mib(free)} free, need about {mib(need)}")

    if os.path.exists(args.work):
        shutil.rmtree(args.work)
    os.makedirs(args.work)
    try:
        rows = measure(args)
    finally:
        shutil.rmtree(args.work, ignore_errors=True)
    print_table(rows, args.markdown)


def measure(args):
    work = args.work
    corpus = os.path.join(work, "corpus")
    print(f"corpus at scale {args.scale} ...", file=sys.stderr, flush=True)
    sh([sys.executable, GEN, "create", corpus, "--scale", str(args.scale)],
       stdout=subprocess.DEVNULL)
    files = sum(len(f) for _, _, f in os.walk(corpus))
    print(f"  {files} files, {mib(du_bytes(corpus))}", file=sys.stderr, flush=True)
    tools = [Phlb(work, corpus, args.phlb), Rsnapshot(work, corpus), Restic(work, corpus),
             Borg(work, corpus)]
    rows = {t.name: {} for t in tools}
    size = {t.name: 0 for t in tools}

    def run(label):
        for t in tools:
            secs = t.backup()
            now = du_bytes(t.repo())
            added = now - size[t.name]
            rows[t.name][label] = (secs, now, added)
            size[t.name] = now
            print(f"  {label} {t.name}: {secs:.1f} s, {mib(now)} (+{mib(added)})",
                  file=sys.stderr, flush=True)

    run("run 1")
    run("run 2")
    sh([sys.executable, GEN, "mutate", corpus, "--round", "1"], stdout=subprocess.DEVNULL)
    run("run 3")
    want = fingerprint(corpus)
    for t in tools:
        to = tempfile.mkdtemp(prefix=f"restore-{t.name}-", dir=work)
        secs = t.restore(to)
        same = fingerprint(to) == want
        rows[t.name]["restore"] = (secs, same)
        print(f"  restore {t.name}: {secs:.1f} s, {'same' if same else 'DIFFERENT'}",
              file=sys.stderr, flush=True)
        shutil.rmtree(to)
    rows["_corpus"] = (files, du_bytes(corpus))
    return rows


def print_table(rows, markdown):
    files, size = rows.pop("_corpus")
    head = ["tool", "run 1 (first)", "run 2 (no change)", "run 3 (after mutate)",
            "disk after 3 runs", "restore", "restored tree"]
    body = []
    for name, r in rows.items():
        cells = [name]
        for label in ("run 1", "run 2", "run 3"):
            secs, _, added = r[label]
            cells.append(f"{secs:.1f} s, +{mib(added)}")
        cells.append(mib(r["run 3"][1]))
        secs, same = r["restore"]
        cells += [f"{secs:.1f} s", "identical" if same else "DIFFERENT"]
        body.append(cells)
    print(f"corpus: {files:,} files, {mib(size)}")
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for cells in body:
            print("| " + " | ".join(cells) + " |")
    else:
        widths = [max(len(c[i]) for c in [head] + body) for i in range(len(head))]
        for cells in [head] + body:
            print("  ".join(c.ljust(w) for c, w in zip(cells, widths)))


if __name__ == "__main__":
    main()
