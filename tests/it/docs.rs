//! What ships beside the binary stays true to it: `docs/commands.md` is what
//! `phlb man --markdown` prints now, and the systemd units and the cron line in
//! `contrib/` verify and run phlb command lines that parse.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

const PHLB: &str = env!("CARGO_BIN_EXE_phlb");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where each contrib file runs phlb from, as installed (the files' headers say how).
const INSTALLED: [&str; 2] = ["/usr/local/bin/phlb", "%h/.cargo/bin/phlb"];

/// The phlb arguments of a command line that starts with an installed phlb.
fn phlb_args(line: &str) -> Vec<String> {
    let mut words = line.split_whitespace();
    let bin = words.next().unwrap_or_default();
    assert!(INSTALLED.contains(&bin), "not an installed phlb: {line}");
    words.map(str::to_string).collect()
}

/// Checks that phlb's parser takes these arguments (`--help` stops before any work).
fn assert_parses(args: &[String], from: &str) {
    let out = Command::new(PHLB)
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{from}: phlb does not take `{}`: {}",
        args.join(" "),
        stderr(&out)
    );
}

#[test]
#[ignore = "needs systemd-analyze (.ci/run installs it)"]
fn contrib_systemd_units_verify_and_their_command_lines_parse() {
    let have = Command::new("systemd-analyze").arg("--version").output();
    assert!(
        have.is_ok_and(|o| o.status.success()),
        "systemd-analyze is missing: install systemd (apt-get install -y systemd), as .ci/run does"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut units = Vec::new();
    for entry in fs::read_dir(repo().join("contrib")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.ends_with(".service") || name.ends_with(".timer")) {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap();
        // verify wants ExecStart's program to exist: run the binary under test instead
        // of the installed path, and check the arguments it is given parse.
        let mut copy = String::new();
        for line in text.lines() {
            match line.strip_prefix("ExecStart=") {
                Some(cmd) => {
                    let args: Vec<String> = phlb_args(cmd)
                        .iter()
                        .map(|a| a.replace("%h", "/home/u"))
                        .collect();
                    assert_parses(&args, &name);
                    let bin = INSTALLED.iter().find(|b| cmd.starts_with(*b)).unwrap();
                    copy.push_str(&format!("ExecStart={PHLB}{}\n", &cmd[bin.len()..]));
                }
                None => copy.push_str(&format!("{line}\n")),
            }
        }
        assert!(
            !name.ends_with(".service") || copy.contains(&format!("ExecStart={PHLB}")),
            "{name} runs no phlb"
        );
        fs::write(dir.path().join(&name), copy).unwrap();
        units.push(name);
    }
    units.sort();
    assert_eq!(
        units,
        [
            "phlb-backup.service",
            "phlb-backup.timer",
            "phlb-watch.service"
        ]
    );
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&units)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify {units:?}: {:?}\n{}",
        out.status,
        stderr(&out)
    );
}

#[test]
fn contrib_cron_line_runs_a_command_phlb_takes() {
    let text = fs::read_to_string(repo().join("contrib/phlb.cron")).unwrap();
    let jobs: Vec<&str> = text
        .lines()
        .filter(|l| {
            // Not blank, a comment, or an environment line such as PATH=...
            let first = l.split_whitespace().next().unwrap_or("#");
            !first.starts_with('#') && !first.contains('=')
        })
        .collect();
    assert_eq!(jobs.len(), 1, "one job line: {jobs:?}");
    // /etc/cron.d format: five time fields, the user, then the command.
    let words: Vec<&str> = jobs[0].split_whitespace().collect();
    assert_eq!(words[5], "root", "{}", jobs[0]);
    assert_parses(&phlb_args(&words[6..].join(" ")), "phlb.cron");
    assert!(Path::new(PHLB).exists());
}

#[test]
fn docs_commands_md_is_what_phlb_man_markdown_prints() {
    let out = Command::new(PHLB)
        .args(["man", "--markdown"])
        .output()
        .unwrap();
    assert_ok(&out);
    let now = String::from_utf8(out.stdout).unwrap();
    assert!(now.contains("## phlb backup\n") && now.contains("Examples:\n  phlb backup"));
    let file = repo().join("docs/commands.md");
    let saved = fs::read_to_string(&file).unwrap_or_default();
    assert!(
        saved == now,
        "docs/commands.md is stale (the clap definitions changed): regenerate it with\n  \
         cargo run -q -- man --markdown > docs/commands.md"
    );
}
