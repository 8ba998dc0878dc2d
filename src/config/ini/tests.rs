use super::*;

fn err(text: &str) -> String {
    format!("{:#}", parse(text, Path::new("x.ini")).unwrap_err())
}

#[test]
fn errors_name_file_and_line() {
    let cases = [
        ("[phlb]\nNOPE = 1\n", "x.ini:2: NOPE: unknown key"),
        ("[phlb]\n\nHASH = md5\n", "x.ini:3: HASH:"),
        (
            "[phlb]\nSUB_DIR_FORMATTER = %Y-%m-%d.inprogress\n",
            "x.ini:2: SUB_DIR_FORMATTER: \"%Y-%m-%d.inprogress\" gives",
        ),
        (
            "[phlb]\nSUB_DIR_FORMATTER = %Y%m%d-summary\n",
            "x.ini:2: SUB_DIR_FORMATTER: \"%Y%m%d-summary\" gives",
        ),
        (
            "[phlb]\nSUB_DIR_FORMATTER = latest\n",
            "x.ini:2: SUB_DIR_FORMATTER: \"latest\" gives \"latest\", which could be taken",
        ),
        (
            "[phlb]\nSUB_DIR_FORMATTER = %#z\n",
            "x.ini:2: SUB_DIR_FORMATTER: strftime pattern",
        ),
        (
            "[phlb]\nSUB_DIR_FORMATTER = %A\n",
            "x.ini:2: SUB_DIR_FORMATTER: \"%A\" gives",
        ),
        ("[phlb]\nMAX_LINKS = 0\n", "x.ini:2: MAX_LINKS:"),
        (
            "[phlb]\nWATCH_DELAY = 5m\n",
            "x.ini:2: WATCH_DELAY: \"5m\": \"m\" is ambiguous",
        ),
        (
            "[phlb]\nWATCH_MAX_WAIT = 0\n",
            "x.ini:2: WATCH_MAX_WAIT: must be above 0",
        ),
        (
            "[phlb]\nWATCH_MIN_INTERVAL =\n",
            "x.ini:2: WATCH_MIN_INTERVAL: empty",
        ),
        (
            "[phlb]\nONE_FILE_SYSTEM = maybe\n",
            "x.ini:2: ONE_FILE_SYSTEM:",
        ),
        ("[phlb]\nMAX_AGE = 26m\n", "x.ini:2: MAX_AGE: \"26m\""),
        ("[phlb]\nSERVE_TOKEN = a b\n", "x.ini:2: SERVE_TOKEN:"),
        ("HASH = sha256\n", "x.ini:1: key outside"),
        ("[other]\n", "x.ini:1: unknown section"),
        ("[phlb]\njunk\n", "x.ini:2: expected KEY = value"),
        (
            "[phlb]\nSUB_DIR_FORMATTER = %Y/%m\n",
            "x.ini:2: SUB_DIR_FORMATTER:",
        ),
    ];
    for (text, want) in cases {
        let got = err(text);
        assert!(got.starts_with(want), "{text:?}: got {got:?}");
    }
}

#[test]
fn trailing_comments_never_become_values() {
    let text = "[phlb]\nBACKUP_PATH = /mnt/usb   # external disk\nSKIP_PATTERNS = #*#\nPRE_COMMAND = a ; b\nKEEP_LAST =     # default\nSKIP_DIRS = a#b, c\t# two\n";
    let (c, _) = parse(text, Path::new("x.ini")).unwrap();
    assert_eq!(c.backup_path, PathBuf::from("/mnt/usb"));
    assert_eq!(c.skip_patterns, vec!["#*#"]);
    assert_eq!(c.pre_command.as_deref(), Some("a ; b"));
    assert_eq!(c.keep.last, None);
    assert_eq!(c.skip_dirs, vec!["a#b", "c"]);
    let got = err("[phlb]\nSKIP_DIRS = node_modules  ; js junk\n");
    assert!(got.starts_with("x.ini:2: SKIP_DIRS: "), "{got}");
    assert!(got.contains("';'"), "{got}");
}

#[test]
fn values_are_parsed() {
    let text = "[phlb]\nbackup_path = ~/b\nSKIP_DIRS = a , b,\nWORKERS = 3\nDEDUP = content\nWATCH_DELAY = 1min30s\nMAX_AGE = 26h\n";
    let (c, origins) = parse(text, Path::new("x.ini")).unwrap();
    assert_eq!(c.backup_path, home_dir().join("b"));
    assert_eq!(c.skip_dirs, vec!["a", "b"]);
    assert_eq!(c.workers, Some(3));
    assert_eq!(c.dedup, Some(crate::decide::Dedup::Content));
    assert_eq!(origins["WORKERS"], "x.ini:4");
    assert_eq!(c.watch.delay.approx().as_secs(), 90);
    assert_eq!(c.max_age.unwrap().approx().as_secs(), 26 * 3600);
}
