use super::*;

fn pats(list: &[&str], origin: &str) -> Vec<Pattern> {
    list.iter().map(|p| Pattern::new(*p, origin)).collect()
}

fn kept(rules: &SourceRules, rel: &str, is_dir: bool) -> bool {
    !rules.leaves_out(Path::new(rel), is_dir)
}

#[test]
fn glob_cases() {
    let spec = SelectSpec {
        skip_dirs: pats(&["__pycache__"], "SKIP_DIRS"),
        skip_patterns: pats(&["*.pyc"], "SKIP_PATTERNS"),
        exclude: pats(
            &[
                "/top.txt",
                "*.log",
                "build/",
                "a/**/deep",
                "x?.bin",
                "[ab]c.dat",
                "\\[draft\\]",
            ],
            "--exclude",
        ),
        include: pats(&["keep.log"], "--include"),
        ..SelectSpec::default()
    };
    let sel = Selection::compile(&spec).unwrap();
    let rules = sel.for_source(Path::new("/src"));
    let cases = [
        ("top.txt", false, false),
        ("d/top.txt", false, true),
        ("x.log", false, false),
        ("d/e/x.log", false, false),
        ("d/keep.log", false, true),
        ("build", true, false),
        ("build", false, true),
        ("d/build/f", false, false),
        ("a/b/c/deep", false, false),
        ("a/deep", false, false),
        ("b/deep", false, true),
        ("x1.bin", false, false),
        ("x12.bin", false, true),
        ("ac.dat", false, false),
        ("cc.dat", false, true),
        ("[draft]", false, false),
        ("d", false, true),
        ("m.pyc", false, false),
        ("__pycache__/m", false, false),
        ("__pycache__", false, true),
    ];
    for (rel, is_dir, want) in cases {
        assert_eq!(kept(&rules, rel, is_dir), want, "{rel} dir={is_dir}");
    }
}

#[test]
fn whitelists() {
    let spec = SelectSpec {
        include_dirs: pats(&["/docs"], "INCLUDE_DIRS"),
        include_patterns: pats(&["*.pdf"], "INCLUDE_PATTERNS"),
        ..SelectSpec::default()
    };
    let sel = Selection::compile(&spec).unwrap();
    let rules = sel.for_source(Path::new("/src"));
    assert!(kept(&rules, "docs/a.pdf", false));
    assert!(!kept(&rules, "docs/a.txt", false));
    assert!(!kept(&rules, "other/a.pdf", false));
    let spec = SelectSpec {
        files_from: Some(vec![
            "a/b.txt".into(),
            "/src/c".into(),
            "/elsewhere/x".into(),
        ]),
        ..SelectSpec::default()
    };
    let sel = Selection::compile(&spec).unwrap();
    let rules = sel.for_source(Path::new("/src"));
    assert!(kept(&rules, "a/b.txt", false));
    assert!(!kept(&rules, "a/z.txt", false));
    assert!(kept(&rules, "c/d/e", false));
    assert!(!kept(&rules, "x", false));
}

#[test]
fn invalid_glob_names_its_origin() {
    let spec = SelectSpec {
        exclude: pats(&["a[b"], "--exclude"),
        ..SelectSpec::default()
    };
    let err = Selection::compile(&spec).unwrap_err().to_string();
    assert!(err.contains("--exclude") && err.contains("a[b"), "{err}");
}
