use super::*;
use std::os::fd::AsFd;

fn open_dir(p: &Path) -> OwnedFd {
    std::fs::File::open(p).unwrap().into()
}

#[test]
fn no_component_may_be_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    std::fs::write(root.join("a/b/f"), b"real").unwrap();
    std::fs::create_dir(root.join("other")).unwrap();
    std::fs::write(root.join("other/f"), b"other").unwrap();
    std::os::unix::fs::symlink(root.join("other"), root.join("a/l")).unwrap();
    std::os::unix::fs::symlink("b", root.join("a/rel")).unwrap();
    let fd = open_dir(root);
    let cases = [
        ("a/b/f", Ok(())),
        ("a/l/f", Err(libc::ELOOP)),
        ("a/rel/f", Err(libc::ELOOP)),
        ("a/../../f", Err(libc::EXDEV)),
        ("/etc/passwd", Err(libc::EXDEV)),
    ];
    for (rel, want) in cases {
        for by_components in [false, true] {
            let got = if by_components {
                open_by_components(
                    fd.as_raw_fd(),
                    Path::new(rel),
                    libc::O_RDONLY | libc::O_NOFOLLOW,
                    Scope::Beneath,
                )
            } else {
                open_no_symlinks(
                    Some(fd.as_fd()),
                    Path::new(rel),
                    libc::O_RDONLY,
                    Scope::Beneath,
                )
            };
            let got = got.map(drop).map_err(|e| e.raw_os_error().unwrap_or(0));
            assert_eq!(got, want, "{rel} (by components: {by_components})");
        }
    }
}

#[test]
fn list_and_stat_from_a_descriptor() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), b"x").unwrap();
    std::os::unix::fs::symlink("f", dir.path().join("l")).unwrap();
    let fd = open_dir(dir.path());
    let mut names: Vec<_> = list(fd.as_fd(), &mut Vec::new())
        .unwrap()
        .into_iter()
        .map(|n| n.name.into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["f", "l"]);
    let l = CString::new("l").unwrap();
    let st = stat_at(fd.as_fd(), &l).unwrap();
    assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFLNK);
    assert_eq!(read_link_at(fd.as_fd(), &l).unwrap(), Path::new("f"));
    let err = open_dir_at(fd.as_fd(), &l).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOTDIR));
}
