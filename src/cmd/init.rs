//! `phlb init [DIR]`: makes a backup root on purpose, and says where and on which
//! filesystem. Every other command refuses a folder that is not a root (no `.phlb`), so
//! a drive that is not mounted never gets a backup written into its empty mount point.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::cli::InitArgs;
use crate::config::Config;
use crate::lock::Wait;
use crate::progress::Ui;
use crate::root::{BackupRoot, Filesystem, META_DIR};
use crate::units::human_bytes;
use crate::Outcome;

/// Runs `phlb init`.
pub fn run(config: &Config, ui: &Ui, args: &InitArgs) -> Result<Outcome> {
    let dir = match &args.dir {
        Some(d) => std::path::absolute(d).context("cannot read the current folder")?,
        None => config.backup_path.clone(),
    };
    let made = init(config, &dir, ui)?;
    if args.json {
        println!("{}", serde_json::to_string(&made.json())?);
    } else if !ui.quiet() {
        println!("{}", made.line());
    }
    Ok(Outcome::Clean)
}

/// What `init` found and did.
pub struct Made {
    pub root: PathBuf,
    /// It was a root already: nothing changed.
    pub existed: bool,
    /// Snapshot folders that were there without a catalog (to be rebuilt with `add`).
    pub adopted: usize,
    pub filesystem: String,
    pub free: u64,
}

impl Made {
    /// One line saying what the root is now and where it lies.
    pub fn line(&self) -> String {
        let what = if self.existed {
            "is already a backup root"
        } else if self.adopted > 0 {
            "is a backup root again"
        } else {
            "is a new backup root"
        };
        let mut line = format!(
            "{} {what}, on {} ({} free)",
            self.root.display(),
            self.filesystem,
            human_bytes(self.free)
        );
        if self.adopted > 0 {
            line.push_str(&format!(
                "; the {} snapshot folder(s) it holds are recorded in the new catalog (`phlb verify` checks them)",
                self.adopted
            ));
        }
        line
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "root": self.root.display().to_string(),
            "existed": self.existed,
            "adopted_snapshots": self.adopted,
            "filesystem": self.filesystem,
            "free_bytes": self.free,
        })
    }
}

/// Makes `dir` a backup root (the folder, `.phlb`, the catalog recording the
/// filesystem it is on); a root already is left as it is. Snapshot folders already there
/// (a root that lost its `.phlb`) are recorded at once, as `add --no-link` would, so the
/// first backup takes its place after them.
pub fn init(config: &Config, dir: &Path, ui: &Ui) -> Result<Made> {
    crate::store::check_root_safe(dir)?;
    refuse_inside_a_root(dir)?;
    let existed = dir.join(META_DIR).is_dir();
    if !dir.exists() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("{}: cannot create backup root", dir.display()))?;
    } else if !dir.is_dir() {
        bail!("{}: cannot make a backup root: not a folder", dir.display());
    }
    let adopted = if existed { 0 } else { snapshot_folders(dir) };
    let say: &dyn crate::tell::Tell = ui;
    crate::store::make_private_dir(&dir.join(META_DIR))?;
    let opened = BackupRoot::open_writer(dir, Filesystem::MustMatch, Wait::No, &say)?;
    if adopted > 0 {
        crate::ops::record::record_on_disk(
            config,
            opened.path(),
            &opened.catalog,
            crate::progress::Style::detect(ui.quiet()),
            &say,
        )?;
    }
    let (filesystem, free) = describe_filesystem(&opened.path);
    Ok(Made {
        root: opened.path.clone(),
        existed,
        adopted,
        filesystem,
        free,
    })
}

/// Refuses a folder inside another backup root (in a snapshot, a `<name>` folder or
/// `.phlb`): its backups would be taken for the outer root's snapshots, or change them.
fn refuse_inside_a_root(dir: &Path) -> Result<()> {
    let abs = std::path::absolute(dir).context("cannot read the current folder")?;
    // The deepest part that exists, as the kernel resolves it.
    let Some(existing) = abs.ancestors().find(|a| a.exists()) else {
        return Ok(());
    };
    let canon = existing
        .canonicalize()
        .with_context(|| format!("{}: cannot open", existing.display()))?;
    let below = if existing == abs { 1 } else { 0 };
    for outer in canon.ancestors().skip(below) {
        if outer
            .join(META_DIR)
            .symlink_metadata()
            .is_ok_and(|m| m.is_dir())
        {
            bail!(
                "{}: cannot make a backup root inside the backup root {}",
                dir.display(),
                outer.display()
            );
        }
    }
    Ok(())
}

/// The snapshot folders (`<name>/<timestamp>` with a manifest or summary beside them)
/// in `dir`, counted to tell the user that `add` can rebuild their catalog.
fn snapshot_folders(dir: &Path) -> usize {
    let Ok(names) = std::fs::read_dir(dir) else {
        return 0;
    };
    names
        .flatten()
        .filter(|n| n.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|n| std::fs::read_dir(n.path()).ok())
        .map(|inner| {
            inner
                .flatten()
                .filter(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    name.ends_with("-summary.txt")
                })
                .count()
        })
        .sum()
}

/// The filesystem type and the free bytes of the filesystem holding `path`.
fn describe_filesystem(path: &Path) -> (String, u64) {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return ("an unknown filesystem".into(), 0);
    };
    let st: libc::statfs = match crate::sys::fs_info::statfs(&c) {
        Ok(st) => st,
        Err(_) => return ("an unknown filesystem".into(), 0),
    };
    let kind = match st.f_type as i64 {
        0xEF53 => "ext4".to_string(),
        0x0102_1994 => "tmpfs".to_string(),
        0x9123_683E => "btrfs".to_string(),
        0x5846_5342 => "xfs".to_string(),
        0xCA45_1A4E => "bcachefs".to_string(),
        0x2FC1_2FC1 => "zfs".to_string(),
        0x4d44 => "vfat".to_string(),
        0x2011_BAB0 => "exfat".to_string(),
        0x5346_544e => "ntfs".to_string(),
        0x6969 => "nfs".to_string(),
        0xFF53_4D42 | 0xFE53_4D42 => "cifs/smb".to_string(),
        0x6573_5546 => "a fuse filesystem".to_string(),
        0x794c_7630 => "overlayfs".to_string(),
        other => format!("filesystem type {other:#x}"),
    };
    let free = st.f_bavail.saturating_mul(st.f_bsize as u64);
    (kind, free)
}
