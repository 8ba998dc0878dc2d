//! Owns the browse pages: a snapshot's folder from the catalog (breadcrumbs, paged), one
//! entry's page, and the download of a file's bytes from the snapshot on disk, hashed as
//! they stream: a mismatch cuts the connection before the last bytes, so a damaged file
//! never arrives complete (logged on stderr and shown on the file's page).

use std::fmt::Write;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::Arc;

use super::html::{bytes, esc, link, pager, q, visible};
use super::http::{encode, Body, Request, Response};
use super::routes::{ok_html, Answer, Fail};
use super::App;
use crate::catalog::web::{self, Entry};
use crate::catalog::SnapshotRow;
use crate::hash::{hex, HashAlgo, Hasher, CHUNK};
use crate::lock::snapshot::{lock, Hold, SnapshotLock};
use crate::sys::at::{self, Scope};

/// Entries per page of a folder.
const PER: i64 = 200;

/// The snapshot (`s`) and, when `p` is given, its entry there; 404 when either is not
/// in the catalog.
fn target(app: &App, req: &Request, key: &str) -> Result<(SnapshotRow, Option<Entry>), Fail> {
    let db = app.catalog.db()?;
    let snap = web::snapshot(&db, req.num("s").ok_or(Fail::NotFound)?)?.ok_or(Fail::NotFound)?;
    let entry = match req.param(key) {
        None => None,
        Some(p) => {
            let id: i64 = p.parse().map_err(|_| Fail::NotFound)?;
            Some(web::entry(&db, snap.id, id)?.ok_or(Fail::NotFound)?)
        }
    };
    Ok((snap, entry))
}

/// Breadcrumbs from the snapshot's top to `path`, each folder a link to its folder
/// page; the last part, when `path` is not a folder (a file page), is plain text.
fn crumbs(app: &App, snap: &SnapshotRow, path: &[u8], is_dir: bool) -> Result<String, Fail> {
    let db = app.catalog.db()?;
    let mut out = format!(
        "<p class=\"crumbs\">{} / {}",
        link(
            &format!("./?name={}#n-{}", q(&snap.name), q(&snap.name)),
            &snap.name
        ),
        link(&format!("browse?s={}", snap.id), &snap.timestamp)
    );
    if path != b"." {
        let mut upto = Vec::new();
        let parts: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
        for (i, part) in parts.iter().enumerate() {
            if !upto.is_empty() {
                upto.push(b'/');
            }
            upto.extend_from_slice(part);
            let name = visible(part);
            let folder = is_dir || i + 1 < parts.len();
            match web::path_id(&db, &upto)?.filter(|_| folder) {
                Some(id) => {
                    let _ = write!(
                        out,
                        " / {}",
                        link(&format!("browse?s={}&d={id}", snap.id), &name)
                    );
                }
                None => {
                    let _ = write!(out, " / {}", esc(&name));
                }
            }
        }
    }
    out.push_str("</p>");
    Ok(out)
}

/// The last part of a path.
fn leaf(path: &[u8]) -> &[u8] {
    path.rsplit(|&b| b == b'/').next().unwrap_or(path)
}

/// `/browse?s=ID[&d=PATH_ID][&o=K]`: one folder of a snapshot, from the catalog.
pub fn folder(app: &App, req: &Request) -> Answer {
    let (snap, dir) = target(app, req, "d")?;
    let dir_path = match &dir {
        Some(e) if e.kind == "dir" => e.path.clone(),
        Some(_) => return Err(Fail::NotFound),
        None => b".".to_vec(),
    };
    let offset = req.num("o").unwrap_or(0).max(0);
    let db = app.catalog.db()?;
    let (rows, total) = web::children(&db, snap.id, &dir_path, offset, PER)?;
    let mut body = crumbs(app, &snap, &dir_path, true)?;
    let _ = write!(
        body,
        "<p>status: {} · {} · {}</p>",
        esc(snap.status.as_str()),
        link(
            &format!("duplicates?s={}", snap.id),
            "duplicates in this snapshot"
        ),
        link(&format!("find?name={}", q(&snap.name)), "find")
    );
    body.push_str(
        "<table id=\"entries\"><tr><th>name</th><th>kind</th><th class=\"n\">size</th>\
         <th>mtime (UTC)</th><th>mode</th></tr>",
    );
    for e in &rows {
        let name = visible(leaf(&e.path));
        let cell = match e.kind.as_str() {
            "dir" => link(
                &format!("browse?s={}&d={}", snap.id, e.path_id),
                &format!("{name}/"),
            ),
            _ => link(&format!("file?s={}&p={}", snap.id, e.path_id), &name),
        };
        let _ = write!(
            body,
            "<tr><td>{cell}{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td>\
             <td class=\"mono\">{:04o}</td></tr>",
            if e.damaged {
                " <span class=\"bad\">damaged</span>"
            } else {
                ""
            },
            esc(&e.kind),
            if e.kind == "file" {
                bytes(e.size)
            } else {
                String::new()
            },
            esc(&e.mtime),
            e.mode & 0o7777
        );
    }
    body.push_str("</table>");
    let base = match &dir {
        Some(d) => format!("browse?s={}&d={}&", snap.id, d.path_id),
        None => format!("browse?s={}&", snap.id),
    };
    body.push_str(&pager(&base, offset, PER, rows.len(), Some(total)));
    ok_html(app, &snap.label(), &body)
}

/// `/file?s=ID&p=PATH_ID`: one entry's metadata, hash, damage, download and history.
pub fn file(app: &App, req: &Request) -> Answer {
    let (snap, entry) = target(app, req, "p")?;
    let e = entry.ok_or(Fail::NotFound)?;
    let mut body = crumbs(app, &snap, &e.path, e.kind == "dir")?;
    let seen_damaged = e.copy_id.is_some_and(|c| app.damaged.contains(c));
    if e.damaged {
        body.push_str(
            "<p class=\"bad\">damaged: <code>phlb verify</code> found that its stored copy \
             no longer has the recorded content.</p>",
        );
    }
    if seen_damaged {
        body.push_str(
            "<p class=\"bad\" id=\"damaged\">damaged: a download found that its stored copy \
             does not have the recorded hash; the transfer was cut. Run <code>phlb verify</code> \
             to record it (and <code>--repair</code> to relink a good copy).</p>",
        );
    }
    let _ = write!(
        body,
        "<table id=\"meta\"><tr><th>path</th><td>{}</td></tr><tr><th>kind</th><td>{}</td></tr>\
         <tr><th>size</th><td>{}</td></tr><tr><th>mtime (UTC)</th><td>{}</td></tr>\
         <tr><th>mode</th><td class=\"mono\">{:04o}</td></tr>",
        esc(&visible(&e.path)),
        esc(&e.kind),
        bytes(e.size),
        esc(&e.mtime),
        e.mode & 0o7777
    );
    if let Some(h) = &e.hash {
        let _ = write!(
            body,
            "<tr><th>hash</th><td class=\"mono\">{}</td></tr>",
            esc(h)
        );
    }
    if let Some(t) = &e.target {
        let _ = write!(
            body,
            "<tr><th>target</th><td>{}</td></tr>",
            esc(&visible(t))
        );
    }
    if let Some(set) = &e.xattrs {
        body.push_str("<tr><th>extended attributes</th><td class=\"mono\" id=\"xattrs\">");
        for (name, value) in set.attrs() {
            let _ = write!(
                body,
                "{} = {}<br>",
                esc(&visible(name)),
                esc(&crate::xattr_set::shown_value(value))
            );
        }
        body.push_str("</td></tr>");
    }
    body.push_str("</table><p>");
    if e.kind == "file" {
        body.push_str(&link(
            &format!("download?s={}&p={}", snap.id, e.path_id),
            "download",
        ));
        body.push_str(" · ");
    }
    body.push_str(&link(
        &format!("history?p={}&name={}", e.path_id, q(&snap.name)),
        "history of this path",
    ));
    body.push_str("</p>");
    ok_html(app, &visible(leaf(&e.path)), &body)
}

/// `/download?s=ID&p=PATH_ID`: the file's bytes from the snapshot on disk, checked
/// against the catalog's hash as they stream.
pub fn download(app: &App, req: &Request) -> Answer {
    let (snap, entry) = target(app, req, "p")?;
    let e = entry.ok_or(Fail::NotFound)?;
    let (Some(hash), true) = (
        e.hash.as_deref().and_then(crate::hash::unhex),
        e.kind == "file",
    ) else {
        return Err(Fail::NotFound);
    };
    let complete = snap.status == crate::catalog::snapshots::Status::Complete;
    let dir = app.root.join(crate::layout::snapshot_dir_rel(
        &snap.name,
        &snap.timestamp,
        complete,
    ));
    let label = format!("{}/{}", snap.label(), visible(&e.path));
    let held = lock(&dir, Hold::Shared, &|| {
        eprintln!("phlb serve: {label}: waiting for a prune or forget to finish")
    })
    .map_err(|err| {
        eprintln!("phlb serve: {label}: {err:#}");
        Fail::NotFound
    })?;
    let opened = at::open_no_symlinks(
        None,
        &dir,
        libc::O_RDONLY | libc::O_DIRECTORY,
        Scope::Anywhere,
    )
    .and_then(|d| {
        let rel =
            Path::new(std::os::unix::ffi::OsStrExt::from_bytes(&e.path[..]) as &std::ffi::OsStr);
        // O_NONBLOCK: a FIFO or device put where the file was must not block the open
        // (a FIFO with no writer would hold this worker forever); the kind is checked
        // on the open descriptor before a byte is read.
        at::open_no_symlinks(
            Some(d.as_fd()),
            rel,
            libc::O_RDONLY | libc::O_NOCTTY | libc::O_NONBLOCK,
            Scope::Beneath,
        )
    })
    .and_then(|fd| {
        let st = at::stat_fd(fd.as_fd())?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(io::Error::other("not a regular file"));
        }
        Ok(File::from(fd))
    });
    let file = opened.map_err(|err| {
        eprintln!("phlb serve: {label}: cannot open: {err}");
        Fail::NotFound
    })?;
    let reader = Checked {
        file,
        hasher: Some(HashAlgo::of_digest(&hash).hasher()),
        want: hash,
        want_size: e.size as u64,
        seen: 0,
        held: Vec::new(),
        out: Vec::new(),
        pos: 0,
        on_damage: Some(Damage {
            app_damaged: Arc::clone(&app.damaged),
            copy_id: e.copy_id,
            label,
        }),
        _lock: held,
    };
    let name = encode(&String::from_utf8_lossy(leaf(&e.path)));
    Ok(Response {
        status: 200,
        headers: vec![
            ("Content-Type", "application/octet-stream".into()),
            (
                "Content-Disposition",
                format!("attachment; filename*=UTF-8''{name}"),
            ),
        ],
        body: Body::Stream(Box::new(reader), e.size as u64),
    })
}

/// Where a damaged download is told.
struct Damage {
    app_damaged: Arc<super::DamageLog>,
    copy_id: Option<i64>,
    label: String,
}

/// Reads a stored copy, hashing it, and always holds the last chunk read back until the
/// end shows that size and hash are the recorded ones; otherwise it fails, so the bytes
/// sent stay short of the announced length.
struct Checked {
    file: File,
    hasher: Option<Hasher>,
    want: Vec<u8>,
    want_size: u64,
    seen: u64,
    held: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    on_damage: Option<Damage>,
    _lock: SnapshotLock,
}

impl Checked {
    fn damaged(&mut self, why: String) -> io::Error {
        if let Some(d) = self.on_damage.take() {
            eprintln!(
                "phlb serve: {}: content damaged in the backup ({why}); the download was cut. \
                 `phlb verify` records it",
                d.label
            );
            if let Some(c) = d.copy_id {
                d.app_damaged.add(c);
            }
        }
        io::Error::new(io::ErrorKind::InvalidData, why)
    }
}

impl Read for Checked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.out.len() {
            let Some(hasher) = self.hasher.as_mut() else {
                return Ok(0);
            };
            let mut chunk = vec![0u8; CHUNK];
            let n = self.file.read(&mut chunk)?;
            if n == 0 {
                let digest = self.hasher.take().expect("checked above").finish();
                if self.seen != self.want_size || digest != self.want {
                    let why = format!(
                        "{} bytes with hash {}, the catalog says {} bytes with hash {}",
                        self.seen,
                        &hex(&digest)[..16],
                        self.want_size,
                        &hex(&self.want)[..16]
                    );
                    return Err(self.damaged(why));
                }
                self.out = std::mem::take(&mut self.held);
                self.pos = 0;
                if self.out.is_empty() {
                    return Ok(0);
                }
                break;
            }
            chunk.truncate(n);
            hasher.update(&chunk);
            self.seen += n as u64;
            if self.seen > self.want_size {
                let why = format!("longer than the recorded {} bytes", self.want_size);
                return Err(self.damaged(why));
            }
            self.out = std::mem::replace(&mut self.held, chunk);
            self.pos = 0;
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
