//! An `sshd` on 127.0.0.1 for the remote-source tests: a free port, host and user keys
//! made for the test in its own temp folder, root's login by that key only; nothing
//! reads or writes ~/.ssh. Needs root (sshd's privilege separation).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `sshd -D` that is stopped when dropped.
pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// The user key root logs in with.
    pub key: PathBuf,
    /// A known_hosts file holding the server's host key.
    pub known_hosts: PathBuf,
    child: Child,
}

/// Makes an ed25519 key pair at `path` (and `path.pub`).
pub fn ssh_keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen (openssh-client) is installed")
        .success();
    assert!(ok, "ssh-keygen failed");
}

impl Sshd {
    /// Starts sshd on a free port of 127.0.0.1 and waits until it accepts connections.
    pub fn start() -> Sshd {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (host_key, key) = (d.join("host_key"), d.join("user_key"));
        ssh_keygen(&host_key);
        ssh_keygen(&key);
        fs::copy(d.join("user_key.pub"), d.join("authorized_keys")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let host_pub = fs::read_to_string(d.join("host_key.pub")).unwrap();
        let known_hosts = d.join("known_hosts");
        fs::write(&known_hosts, format!("[127.0.0.1]:{port} {host_pub}")).unwrap();
        let config = d.join("sshd_config");
        fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1\nPort {port}\nHostKey {}\nAuthorizedKeysFile {}\n\
                 StrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 UsePAM no\nPermitRootLogin prohibit-password\nPidFile {}\nLogLevel ERROR\n",
                host_key.display(),
                d.join("authorized_keys").display(),
                d.join("sshd.pid").display()
            ),
        )
        .unwrap();
        // sshd's privilege separation folder (made by the service on a real system).
        fs::create_dir_all("/run/sshd").unwrap();
        let log = fs::File::create(d.join("sshd.log")).unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("sshd (openssh-server) is installed at /usr/sbin/sshd");
        let sshd = Sshd {
            dir,
            port,
            key,
            known_hosts,
            child,
        };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "sshd did not start: {}",
                fs::read_to_string(sshd.dir.path().join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        sshd
    }

    /// The `SSH` value that reaches this server with `key`, touching no ~/.ssh.
    pub fn ssh_with(&self, key: &Path) -> String {
        format!(
            "ssh -F /dev/null -p {} -i {} -o IdentitiesOnly=yes -o BatchMode=yes \
             -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes",
            self.port,
            key.display(),
            self.known_hosts.display()
        )
    }

    /// The `SSH` value with the key the server accepts.
    pub fn ssh(&self) -> String {
        self.ssh_with(&self.key)
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
