//! Output that cannot be written (a closed pipe, a full disk under stdout) and the temp files killed runs leave.

use super::*;

#[test]
fn closed_output_pipe_ends_phlb_without_a_panic() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let env = Env::new();
    // More output than a pipe holds (64 KiB), so phlb writes after the reader is gone.
    for i in 0..3000 {
        env.write(&format!("some/longer/folder/names/f{i:04}"), b"x");
    }
    env.backup();
    // The reader takes one byte and closes the pipe, as `| head -c1` does.
    let mut child = env
        .cmd()
        .args(["find", "*"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut one = [0u8; 1];
    child.stdout.take().unwrap().read_exact(&mut one).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_no_panic(&out);
    assert!(
        out.status.signal() == Some(libc::SIGPIPE) || out.status.success(),
        "{:?}: {}",
        out.status,
        stderr(&out)
    );
}

#[test]
fn output_to_a_full_disk_is_exit_2_not_a_panic() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    env.backup();
    let full = || fs::File::options().write(true).open("/dev/full").unwrap();
    let out = env.cmd().arg("list").stdout(full()).output().unwrap();
    assert_code(&out, 2);
    assert_no_panic(&out);
    let out = env
        .cmd()
        .args(["-v", "backup", env.src.to_str().unwrap()])
        .stderr(full())
        .output()
        .unwrap();
    assert_code(&out, 2);
    // Stopped as a kill would stop it: the next run cleans up and verify passes.
    env.backup();
    assert_ok(&env.run(&["verify"]));
}

#[test]
fn temp_files_of_killed_runs_are_emptied_by_the_next_writer() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    let snap = env.backup();
    // What killed runs leave under temp names: in phlb's temp folder, and beside the
    // snapshots (a side file's temp name).
    let in_tmp = env.root.join(".phlb/tmp/.phlb-tmp-4242-0");
    fs::hard_link(snap.join("a.txt"), &in_tmp).unwrap();
    let beside_snap = env.root.join("src/.phlb-tmp-4242-1");
    fs::write(&beside_snap, b"half a summary").unwrap();
    env.backup();
    assert!(!in_tmp.exists());
    assert!(!beside_snap.exists());
    assert_eq!(
        nlink(&snap.join("a.txt")),
        2,
        "only the two snapshots link it"
    );
}
