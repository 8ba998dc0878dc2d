//! Faults tests cause: a kill at a chosen point (strace), a small disk (tmpfs), a bind mount.

use super::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use walkdir::WalkDir;

/// A tmpfs mounted for one test, unmounted when dropped (mounting needs root).
pub struct SmallDisk(pub PathBuf);

impl SmallDisk {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it) at `dir`; None when it
    /// cannot be mounted.
    pub fn mount(dir: &Path, size: &str) -> Option<SmallDisk> {
        fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk(dir.to_path_buf()))
    }

    /// Fills the disk to the last byte.
    pub fn fill(&self) {
        use std::io::Write;
        let mut f = fs::File::create(self.0.join("filler")).unwrap();
        let block = vec![0x5au8; 64 << 10];
        while f.write_all(&block).is_ok() {}
        for size in [4096, 512, 1] {
            while f.write_all(&block[..size]).is_ok() {}
        }
    }

    /// Gives the disk a new size.
    pub fn grow(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Starts `phlb backup src` and SIGKILLs it once its in-progress snapshot folder holds
/// at least `entries` entries (0: as soon as possible). Returns true when the run was
/// killed, false when it finished first.
pub fn kill_backup_part_way(env: &Env, entries: usize) -> bool {
    let mut child = env.spawn_backup();
    let deadline = Instant::now() + Duration::from_secs(60);
    let killed = loop {
        let partial = fs::read_dir(env.root.join("src"))
            .into_iter()
            .flatten()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().ends_with(".inprogress"));
        let done = partial.map_or(0, |p| WalkDir::new(p.path()).into_iter().count());
        if done >= entries {
            let running = child.try_wait().unwrap().is_none();
            if running {
                child.kill().unwrap();
            }
            break running;
        }
        if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_micros(500));
    };
    child.wait().unwrap();
    killed
}

/// Runs phlb under strace, killed (SIGKILL) at the `n`-th call of `syscall`; true when
/// the kill came (the run made fewer such calls otherwise).
pub fn killed_at(env: &Env, syscall: &str, n: u32, args: &[&str]) -> bool {
    use std::os::unix::process::ExitStatusExt;
    let inject = format!("inject={syscall}:signal=SIGKILL:when={n}");
    let out = env
        .cmd_via("strace", &["-f", "-o", "/dev/null", "-e", &inject])
        .args(args)
        .output()
        .expect("strace must be installed (.ci/run installs it)");
    out.status.signal() == Some(libc::SIGKILL)
}

/// Unmounts a mount when a test ends, passed or not.
pub struct Unmount(pub PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Bind-mounts `from` on the existing folder `on` (root only); unmounted when the
/// returned guard goes.
pub fn bind_mount(from: &Path, on: &Path) -> Unmount {
    let ok = Command::new("mount")
        .arg("--bind")
        .arg(from)
        .arg(on)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mount --bind needs root");
    Unmount(on.to_path_buf())
}
