use super::*;
use crate::scan::SourceDir;
use crate::sys::xattr::Xattrs;
use crate::workers::FileError;
use std::os::unix::fs::MetadataExt;

/// A folder on a file's path swapped for a symlink between the walk and the read:
/// the read must fail instead of reading the other folder's file.
#[test]
fn read_never_follows_a_folder_swapped_for_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().canonicalize().unwrap();
    std::fs::create_dir_all(base.join("src/a/b")).unwrap();
    std::fs::write(base.join("src/a/b/f"), b"mine").unwrap();
    std::fs::create_dir_all(base.join("other")).unwrap();
    std::fs::write(base.join("other/f"), b"SECRET").unwrap();
    let root = Arc::new(SourceDir::open_canonical(&base.join("src")).unwrap());
    let md = std::fs::metadata(base.join("src/a/b/f")).unwrap();
    let src = SourceFile::Beneath {
        root,
        rel: PathBuf::from("a/b/f"),
        dev: md.dev(),
        ino: md.ino(),
        xattrs: Xattrs::None,
        xattr_id: 0,
        xattr_set: None,
    };
    let read = read_and_hash(&src, HashAlgo::Sha256).unwrap();
    assert_eq!(read.buffer.as_deref(), Some(&b"mine"[..]));
    std::fs::rename(base.join("src/a/b"), base.join("moved")).unwrap();
    std::os::unix::fs::symlink(base.join("other"), base.join("src/a/b")).unwrap();
    let err = read_and_hash(&src, HashAlgo::Sha256).unwrap_err();
    assert!(matches!(err, FileError::Swapped), "{err}");
    // A real folder put there instead holds another file: refused as well.
    std::fs::remove_file(base.join("src/a/b")).unwrap();
    std::fs::create_dir(base.join("src/a/b")).unwrap();
    std::fs::write(base.join("src/a/b/f"), b"SECRET").unwrap();
    let err = read_and_hash(&src, HashAlgo::Sha256).unwrap_err();
    assert!(matches!(err, FileError::Replaced), "{err}");
}

#[test]
fn a_stored_copy_swapped_for_another_file_since_it_was_listed_is_not_read() {
    // Found by the attack round on verify: a path replaced between its listing and its
    // read had the other file's bytes judged as the stored copy's (damage recorded for an
    // intact copy). A read of a stored copy now names the inode it must find.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("copy");
    std::fs::write(&path, b"stored").unwrap();
    let ino = std::fs::metadata(&path).unwrap().ino();
    let read = |ino| {
        read_and_hash(
            &SourceFile::Copy {
                path: path.clone(),
                ino,
            },
            crate::hash::HashAlgo::Sha256,
        )
    };
    assert!(read(ino).is_ok());
    let swapped = dir.path().join("other");
    std::fs::write(&swapped, b"other bytes").unwrap();
    std::fs::rename(&swapped, &path).unwrap();
    assert!(matches!(read(ino), Err(FileError::Replaced)));
}
