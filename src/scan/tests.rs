use super::*;

#[test]
fn skips_and_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::create_dir_all(root.join("a/__pycache__")).unwrap();
    std::fs::write(root.join("a/x.txt"), b"x").unwrap();
    std::fs::write(root.join("a/y.pyc"), b"y").unwrap();
    std::fs::write(root.join("a/__pycache__/z"), b"z").unwrap();
    std::os::unix::fs::symlink("x.txt", root.join("a/l")).unwrap();
    let spec = SelectSpec {
        skip_dirs: vec![Pattern::new("__pycache__", "test")],
        skip_patterns: vec![Pattern::new("*.pyc", "test")],
        ..Default::default()
    };
    let opts = ScanOptions {
        select: std::sync::Arc::new(Selection::compile(&spec).unwrap()),
        ..Default::default()
    };
    let scan = scan(&root, &opts);
    let got: Vec<(String, Kind)> = scan
        .entries
        .iter()
        .map(|e| (e.rel.display().to_string(), e.kind))
        .collect();
    assert_eq!(
        got,
        vec![
            (".".into(), Kind::Dir),
            ("a".into(), Kind::Dir),
            ("a/l".into(), Kind::Symlink),
            ("a/x.txt".into(), Kind::File),
        ]
    );
    assert_eq!(scan.skipped.len(), 2);
}

/// A folder swapped for a symlink to a folder outside the source after it was
/// listed but before it is entered: the walk must not list the other folder.
#[test]
fn walk_never_enters_a_folder_swapped_for_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().canonicalize().unwrap();
    let (src, secret) = (base.join("src"), base.join("secret"));
    std::fs::create_dir_all(src.join("d")).unwrap();
    std::fs::write(src.join("d/f"), b"x").unwrap();
    std::fs::create_dir_all(src.join("victim")).unwrap();
    std::fs::create_dir_all(&secret).unwrap();
    std::fs::write(secret.join("secret.txt"), b"s").unwrap();
    let root = SourceDir::open_canonical(&src).unwrap();
    let mut seen = Vec::new();
    let mut problems = Vec::new();
    walk(&root, &ScanOptions::default(), |found| {
        match found {
            // `victim` was listed with the root; swap it while `d` is walked.
            Found::Entry(e) if e.rel == Path::new("d/f") => {
                std::fs::rename(src.join("victim"), base.join("moved")).unwrap();
                std::os::unix::fs::symlink(&secret, src.join("victim")).unwrap();
            }
            Found::Entry(e) => seen.push(e.rel),
            Found::Problem(p) => problems.push(p.path),
            _ => {}
        }
        true
    });
    assert!(
        !seen.iter().any(|p| p.ends_with("secret.txt")),
        "walked into the symlink: {seen:?}"
    );
    assert_eq!(problems, vec![src.join("victim")]);
}
