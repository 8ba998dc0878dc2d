//! `phlb backup [user@]host:/path`: remote sources pulled with rsync over ssh from an
//! `sshd` on 127.0.0.1 that each test starts with its own keys (root: `.ci/run` runs
//! these with `--include-ignored`). `errors` covers what must stop a run, `filters`
//! the selection sent to rsync, `kill` a pull killed midway.

use crate::common::*;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Output;

mod errors;
mod filters;
mod kill;
mod owners;

/// A backup root, a source folder and an sshd that serves it as `127.0.0.1:SRC`.
pub struct Remote {
    pub env: Env,
    pub sshd: Sshd,
}

impl Remote {
    /// A fresh env whose `phlb.ini` points `SSH` at a new sshd.
    pub fn new() -> Remote {
        let sshd = Sshd::start();
        let env = Env::new();
        env.config(&format!("SSH = {}", sshd.ssh()));
        Remote { env, sshd }
    }

    /// The source as a remote spec, `127.0.0.1:/…/src`.
    pub fn spec(&self) -> String {
        format!("127.0.0.1:{}", self.env.src.display())
    }

    /// `phlb backup ARGS… SPEC`.
    pub fn backup(&self, args: &[&str]) -> Output {
        self.env
            .cmd()
            .arg("backup")
            .args(args)
            .arg(self.spec())
            .output()
            .unwrap()
    }

    /// `phlb backup --json ARGS… SPEC`, asserted clean; its report.
    pub fn backup_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.backup(&all);
        assert_ok(&out);
        serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap()
    }

    /// The mirror's tree of snapshot name `name`.
    pub fn mirror(&self, name: &str) -> PathBuf {
        self.env.root.join(".phlb/mirrors").join(name).join("tree")
    }
}

/// The default name of the test source.
pub const NAME: &str = "127.0.0.1-src";

/// Fills the source with small files, a larger one, a hardlink pair, a symlink, an
/// empty folder, odd modes and ns mtimes.
pub fn fill(env: &Env) {
    env.write("a.txt", b"alpha");
    env.write("docs/b.txt", b"beta");
    env.write("docs/deep/c.txt", b"gamma");
    let big: Vec<u8> = (0..400_000u32).map(|i| (i * 7 % 251) as u8).collect();
    env.write("big.bin", &big);
    fs::hard_link(env.src.join("a.txt"), env.src.join("a-link.txt")).unwrap();
    std::os::unix::fs::symlink("docs/b.txt", env.src.join("to-b")).unwrap();
    fs::create_dir(env.src.join("empty")).unwrap();
    set_mode(&env.src.join("docs/b.txt"), 0o640);
    set_mtime(&env.src.join("docs/deep/c.txt"), 1_600_000_000, 123_456_789);
}

#[test]
#[ignore = "needs root (runs sshd)"]
fn first_and_second_pull_send_only_changes_and_the_snapshot_is_the_source() {
    let r = Remote::new();
    fill(&r.env);
    let first = r.backup_json(&[]);
    assert_eq!(first["failed"], 0, "{first}");
    let snap = r.env.snapshots(NAME).pop().unwrap();
    assert_eq!(tree(&snap), tree(&r.env.src));
    assert!(first["pulled_bytes"].as_u64().unwrap() > 400_000, "{first}");
    // The source is recorded normalised: the login user made explicit, no trailing `/`.
    let db = r.env.db();
    let (host, path): (String, Vec<u8>) = db
        .query_row("SELECT source_host, source FROM snapshot_runs", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    assert_eq!(host, "root@127.0.0.1");
    assert_eq!(path, r.env.src.as_os_str().as_encoded_bytes());
    // Hardlinked in the source, hardlinked in the snapshot.
    assert_eq!(ino(&snap.join("a.txt")), ino(&snap.join("a-link.txt")));

    // Second pull: one small change and a rename in its folder. Only the change crosses
    // (rsync's --stats), and the renamed file is linked, not stored again.
    r.env.write("docs/b.txt", b"beta, changed");
    fs::rename(r.env.src.join("big.bin"), r.env.src.join("big-renamed.bin")).unwrap();
    let second = r.backup_json(&[]);
    let sent = second["pulled_bytes"].as_u64().unwrap();
    assert!(sent < 40_000, "the second pull sent {sent} bytes: {second}");
    assert_eq!(second["copied"], 1, "{second}");
    let snaps = r.env.snapshots(NAME);
    let (old, new) = (&snaps[0], &snaps[1]);
    assert_eq!(tree(new), tree(&r.env.src));
    assert_eq!(ino(&old.join("big.bin")), ino(&new.join("big-renamed.bin")));
    // The same source written another way (user given, trailing `/`) is the same
    // source: same name, same mirror, no refusal.
    let spec = format!("root@127.0.0.1:{}/", r.env.src.display());
    let out = r.env.run(&["backup", &spec]);
    assert_ok(&out);
    assert_eq!(r.env.snapshots(NAME).len(), 3);
    assert_ok(&r.env.run(&["verify"]));
}

#[test]
#[ignore = "needs root (runs sshd)"]
fn the_mirror_is_private_shares_no_inode_and_is_never_a_snapshot() {
    let r = Remote::new();
    fill(&r.env);
    assert_ok(&r.backup(&[]));
    let mirror = r.mirror(NAME);
    assert_eq!(mode(mirror.parent().unwrap()), 0o700);
    assert_eq!(mode(&r.env.root.join(".phlb/mirrors")), 0o700);
    assert_eq!(tree(&mirror), tree(&r.env.src));
    // rsync changes the mirror's files in place: no snapshot may share an inode with it.
    let snap = r.env.snapshots(NAME).pop().unwrap();
    let inodes = |dir: &std::path::Path| -> std::collections::BTreeSet<u64> {
        walkdir::WalkDir::new(dir)
            .into_iter()
            .map(|e| e.unwrap().metadata().unwrap().ino())
            .collect()
    };
    assert!(inodes(&mirror).is_disjoint(&inodes(&snap)));
    // One snapshot listed; the mirror is not one, and `add` finds nothing new in it.
    assert_eq!(r.env.sql_int("SELECT count(*) FROM snapshots"), 1);
    let list = stdout(&r.env.run(&["list"]));
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(list.contains("root@127.0.0.1:"), "{list}");
    assert_ok(&r.env.run(&["add"]));
    assert_eq!(r.env.sql_int("SELECT count(*) FROM snapshots"), 1);
    assert_ok(&r.env.run(&["verify"]));
}

#[test]
#[ignore = "needs root (runs sshd)"]
fn restore_of_a_remote_snapshot_gives_the_source_back() {
    let r = Remote::new();
    fill(&r.env);
    assert_ok(&r.backup(&[]));
    let to = r.env.dir.path().join("restored");
    assert_ok(&r.env.restore(&[NAME], &to));
    assert_eq!(tree(&to), tree(&r.env.src));
}

#[test]
#[ignore = "needs root (runs sshd)"]
fn hostile_names_cross_and_the_manifest_checks() {
    use std::os::unix::ffi::OsStrExt;
    let r = Remote::new();
    let names: Vec<&[u8]> = vec![
        b"with space.txt",
        b"new\nline",
        b"back\\slash",
        b"bad\xff\xfebytes",
        b"-leading-dash",
        b"ends in cr\r",
        b"tab\there",
        b"ctl\x01\x02\x1f",
        b"quote\"and'apos",
        b"colon:and$dollar*star?[x]",
        b"<img src=x onerror=alert(1)>",
    ];
    for (i, n) in names.iter().enumerate() {
        let p = r.env.src.join(std::ffi::OsStr::from_bytes(n));
        fs::write(&p, format!("file {i}")).unwrap();
    }
    let long = "x".repeat(255);
    r.env.write(&format!("{long}/{long}"), b"long");
    assert_ok(&r.backup(&[]));
    let snap = r.env.snapshots(NAME).pop().unwrap();
    assert_eq!(tree(&snap), tree(&r.env.src));
    let text = assert_sums_check(&snap, "sha256sum");
    assert_eq!(text.matches(": OK").count(), names.len() + 1, "{text}");
    assert_ok(&r.env.run(&["verify"]));
}

#[test]
#[ignore = "needs root (runs sshd)"]
fn two_hosts_sharing_files_store_them_once_and_sources_takes_remote_entries() {
    let r = Remote::new();
    let shared: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    r.env.write("etc/os-release", &shared);
    r.env.write("home/one", b"host one");
    let other = r.env.dir.path().join("other");
    fs::create_dir_all(other.join("etc")).unwrap();
    fs::write(other.join("etc/os-release"), &shared).unwrap();
    fs::write(other.join("two"), b"host two").unwrap();
    // The same OS file on two hosts has one mtime (one package): stored once also
    // under `DEDUP = strict`, a new root's default.
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    set_mtime_to(&r.env.src.join("etc/os-release"), when);
    set_mtime_to(&other.join("etc/os-release"), when);
    // The second "host" comes from SOURCES, named there.
    r.env.config(&format!(
        "SSH = {}\nSOURCES = h2=127.0.0.1:{}",
        r.sshd.ssh(),
        other.display()
    ));
    assert_ok(&r.backup(&["--name", "h1"]));
    let out = r.env.run(&["backup"]);
    assert_ok(&out);
    let h1 = r.env.snapshots("h1").pop().unwrap();
    let h2 = r.env.snapshots("h2").pop().unwrap();
    assert_eq!(
        ino(&h1.join("etc/os-release")),
        ino(&h2.join("etc/os-release"))
    );
    // `du` over both snapshots counts the shared file once.
    let du = std::process::Command::new("du")
        .args(["-sb", "--"])
        .arg(&h1)
        .arg(&h2)
        .output()
        .unwrap();
    let total: u64 = stdout(&du)
        .lines()
        .map(|l| l.split('\t').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert!(total < 2 * 300_000, "du: {}", stdout(&du));
    // Another host under a taken name is another source: refused.
    let out = r.env.run(&[
        "backup",
        "--name",
        "h1",
        &format!("127.0.0.1:{}", other.display()),
    ]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("another source"), "{}", stderr(&out));
}
