//! Every attribute a file, folder or symlink has is on the snapshot, in the catalog and
//! back after a restore, in every namespace.

use std::fs;
use std::os::unix::fs::symlink;
use std::process::Command;

use super::{attrs, is_root, setfattr, tool};
use crate::common::*;

#[test]
#[ignore = "needs root (capabilities and trusted.* attributes)"]
fn attributes_acls_and_capabilities_are_on_the_snapshot_in_the_catalog_and_restored() {
    assert!(is_root(), "run as root: setcap and trusted.* need it");
    let env = Env::new();
    let tool_file = env.write("bin/tool", b"\x7fELF not really, but setcap takes any file");
    let doc = env.write("doc.txt", b"a document");
    let plain = env.write("plain.txt", b"no attributes");
    let team = env.src.join("team");
    fs::create_dir(&team).unwrap();
    env.write("team/notes.txt", b"notes");
    symlink("doc.txt", env.src.join("link")).unwrap();
    tool("setcap", &["cap_net_raw+ep"], &tool_file);
    setfattr(&doc, "user.color", "blue");
    tool("setfacl", &["-m", "u:65534:r"], &doc);
    setfattr(&team, "user.dir", "1");
    tool(
        "setfacl",
        &["-m", "u:65534:rx", "-d", "-m", "u:65534:r"],
        &team,
    );
    setfattr(&env.src.join("link"), "trusted.tag", "on the link");
    let named = ["bin/tool", "doc.txt", "team", "link", "plain.txt"];
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_ok(&out);
    assert!(!stderr(&out).contains("not kept"), "{}", stderr(&out));
    let snap = env.snapshots("src").pop().unwrap();
    for rel in named {
        assert_eq!(
            attrs(&snap.join(rel)),
            attrs(&env.src.join(rel)),
            "{rel} on the snapshot"
        );
    }
    assert!(tool("getcap", &[], &snap.join("bin/tool")).contains("cap_net_raw=ep"));
    let acl = tool("getfacl", &["-p"], &snap.join("team"));
    assert!(
        acl.contains("default:user:65534:r--") || acl.contains("default:user:nobody:r--"),
        "{acl}"
    );
    assert!(attrs(&plain).is_empty());
    // The catalog: one set per distinct attribute set, and a set id on each path with one.
    assert_eq!(env.sql_int("SELECT count(*) FROM xattr_sets"), 4);
    assert_eq!(
        env.sql_int(
            "SELECT count(*) FROM entries e JOIN paths p ON p.id = e.path_id
             WHERE e.xattr_set_id IS NOT NULL
               AND CAST(p.path AS TEXT) IN ('bin/tool', 'doc.txt', 'team', 'link')"
        ),
        4
    );
    assert_ok(&env.run(&["verify"]));

    let to = env.dir.path().join("restored");
    assert_ok(&env.restore(&[&label(&snap)], &to));
    for rel in named {
        assert_eq!(
            attrs(&to.join(rel)),
            attrs(&env.src.join(rel)),
            "{rel} restored"
        );
    }
    assert!(tool("getcap", &[], &to.join("bin/tool")).contains("cap_net_raw=ep"));
    // rsync, which keeps all of it (-aHAX), finds nothing to change, comparing bytes (-c).
    let out = Command::new("rsync")
        .args(["-aHAXn", "-c", "-i"])
        .arg(format!("{}/", env.src.display()))
        .arg(format!("{}/", to.display()))
        .output()
        .expect("rsync is needed (.ci/run installs it)");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "",
        "rsync -aHAXn -c -i"
    );

    // A second restore over the first leaves every file as it is; a file whose attribute
    // was changed in the target is put back.
    setfattr(&to.join("doc.txt"), "user.color", "red");
    let again = env.run(&[
        "restore",
        &label(&snap),
        "--to",
        to.to_str().unwrap(),
        "--force",
    ]);
    assert_ok(&again);
    assert_eq!(attrs(&to.join("doc.txt")), attrs(&doc));
}

#[test]
fn a_user_attribute_on_a_file_and_a_folder_comes_back_and_a_second_run_links_it() {
    let env = Env::new();
    let file = env.write("d/a.txt", b"alpha");
    setfattr(&file, "user.origin", "camera");
    setfattr(&env.src.join("d"), "user.album", "summer");
    let first = env.backup();
    assert_eq!(attrs(&first.join("d/a.txt")), attrs(&file));
    assert_eq!(attrs(&first.join("d")), attrs(&env.src.join("d")));
    let second = env.backup();
    assert_eq!(ino(&first.join("d/a.txt")), ino(&second.join("d/a.txt")));
    let to = env.dir.path().join("out");
    assert_ok(&env.restore(&[&label(&second)], &to));
    assert_eq!(attrs(&to.join("d/a.txt")), attrs(&file));
    assert_eq!(attrs(&to.join("d")), attrs(&env.src.join("d")));
}
