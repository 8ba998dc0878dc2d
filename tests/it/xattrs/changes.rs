//! Attributes take part in dedup: equal bytes under other attributes are another stored
//! copy; a changed attribute alone (which leaves the mtime alone) makes a new copy and
//! older snapshots keep theirs; verify, diff and history see it.

use super::{attrs, setfattr};
use crate::common::*;

#[test]
fn equal_content_with_other_attributes_gets_its_own_inode_under_every_dedup() {
    for dedup in ["content", "mode", "strict"] {
        let env = Env::new();
        env.config(&format!("DEDUP = {dedup}"));
        let a = env.write("a.txt", b"same bytes");
        let b = env.write("b.txt", b"same bytes");
        env.write("c.txt", b"same bytes");
        setfattr(&a, "user.tag", "one");
        setfattr(&b, "user.tag", "two");
        let snap = env.backup();
        let inos = [
            ino(&snap.join("a.txt")),
            ino(&snap.join("b.txt")),
            ino(&snap.join("c.txt")),
        ];
        assert!(
            inos[0] != inos[1] && inos[1] != inos[2] && inos[0] != inos[2],
            "DEDUP = {dedup}: {inos:?}"
        );
        assert_eq!(attrs(&snap.join("a.txt")), attrs(&a), "DEDUP = {dedup}");
        assert_eq!(attrs(&snap.join("b.txt")), attrs(&b), "DEDUP = {dedup}");
        assert!(attrs(&snap.join("c.txt")).is_empty(), "DEDUP = {dedup}");
    }
}

#[test]
fn a_changed_attribute_alone_makes_a_new_copy_and_the_older_snapshot_keeps_the_old_one() {
    let env = Env::new();
    let f = env.write("photo.jpg", b"pixels");
    env.write("other.txt", b"untouched");
    setfattr(&f, "user.rating", "3");
    let first = env.backup();
    let mtime = mtime_ns(&f);
    setfattr(&f, "user.rating", "5");
    assert_eq!(mtime_ns(&f), mtime, "setfattr leaves the mtime alone");
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("attributes: 1 files stored anew"), "{text}");
    let second = env.snapshots("src").pop().unwrap();
    assert_ne!(
        ino(&first.join("photo.jpg")),
        ino(&second.join("photo.jpg"))
    );
    assert_eq!(
        ino(&first.join("other.txt")),
        ino(&second.join("other.txt"))
    );
    assert_eq!(attrs(&first.join("photo.jpg")), vec!["user.rating=0x33"]);
    assert_eq!(attrs(&second.join("photo.jpg")), vec!["user.rating=0x35"]);
    assert_ok(&env.run(&["verify"]));

    // diff names the change; history shows two versions of the path.
    let out = env.run(&["diff", &label(&first), &label(&second)]);
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("photo.jpg") && text.contains("extended attributes"),
        "{text}"
    );
    assert!(!text.contains("other.txt"), "{text}");
    let out = env.run(&["history", "--json", f.to_str().unwrap()]);
    assert_ok(&out);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2, "{rows}");
    assert_eq!(rows[1]["xattrs"], "user.rating", "{rows}");
}

#[test]
fn verify_finds_an_attribute_changed_by_hand_in_a_snapshot() {
    let env = Env::new();
    let f = env.write("a.txt", b"alpha");
    env.write("b.txt", b"beta");
    setfattr(&f, "user.k", "v");
    let snap = env.backup();
    assert_ok(&env.run(&["verify"]));
    setfattr(&snap.join("a.txt"), "user.k", "forged");
    setfattr(&snap.join("b.txt"), "user.added", "x");
    let out = env.run(&["verify"]);
    assert_code(&out, 1);
    let err = format!("{}{}", stderr(&out), String::from_utf8_lossy(&out.stdout));
    assert!(
        err.contains("a.txt")
            && err.contains("extended attributes differ from the catalog: user.k changed"),
        "{err}"
    );
    assert!(
        err.contains("b.txt") && err.contains("user.added added"),
        "{err}"
    );
}

#[test]
fn add_reads_the_attributes_back_from_the_snapshots() {
    let env = Env::new();
    let f = env.write("a.txt", b"alpha");
    env.write("b.txt", b"beta");
    setfattr(&f, "user.k", "v");
    let first = env.backup();
    env.remove_catalog();
    assert_ok(&env.run(&["add", "-q"]));
    assert_eq!(
        env.sql_int("SELECT count(*) FROM entries WHERE xattr_set_id IS NOT NULL"),
        1
    );
    // The rebuilt catalog knows the stored copy's set: the next run links, not copies.
    let second = env.backup();
    assert_eq!(ino(&first.join("a.txt")), ino(&second.join("a.txt")));
    let to = env.dir.path().join("out");
    assert_ok(&env.restore(&[&label(&first)], &to));
    assert_eq!(attrs(&to.join("a.txt")), attrs(&f));
}

#[test]
fn the_web_ui_shows_a_path_attributes_and_a_change_of_them() {
    use crate::common::serve::*;
    let env = Env::new();
    let f = env.write("a.txt", b"alpha");
    setfattr(&f, "user.colour", "blue");
    env.backup();
    setfattr(&f, "user.colour", "green");
    env.backup();
    let srv = Server::start(&env);
    let id = path_id(&env, "a.txt");
    let page = srv.get(&format!("/file?s=2&p={id}")).text();
    let shown = page.split("id=\"xattrs\"").nth(1).unwrap_or_default();
    assert!(shown.contains("user.colour = &quot;green&quot;"), "{page}");
    let diff = srv.get("/diff/part?a=1&b=2").text();
    let meta = diff.split("id=\"meta-changes\"").nth(1).unwrap_or_default();
    assert!(
        meta.contains(">a.txt<") && meta.contains("<td>changed</td>"),
        "{diff}"
    );
}
