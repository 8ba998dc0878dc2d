//! Waiting on what a running phlb does (a line printed, a snapshot made), never on a
//! guessed sleep: one deadline, one poll loop, a child whose stderr can be polled.

use super::Env;
use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a test waits for an event it asserts (a snapshot made, a line printed, a
/// server up). Generous on purpose: on a loaded 2-core machine a step that takes
/// milliseconds alone can take many seconds. A test that passes waits only as long as
/// the event takes; the deadline matters only when something is really wrong.
pub const EVENT_DEADLINE: Duration = Duration::from_secs(60);

/// The one polling helper of the suite: calls `cond` every 20 ms until it holds (true)
/// or `EVENT_DEADLINE` passes (false). Tests wait on what they assert, never on a
/// proxy and never on a bare sleep.
pub fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + EVENT_DEADLINE;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child whose stderr goes to a file, so a test can wait for a line it prints while
/// it runs (`wait_for(|| c.stderr().contains(…))`).
pub struct Watched {
    pub child: std::process::Child,
    err: PathBuf,
}

impl Watched {
    /// Spawns `cmd` with stdout discarded and stderr into a file of `env`'s temp folder.
    pub fn spawn(env: &Env, mut cmd: Command) -> Watched {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let err = env.dir.path().join(format!("stderr-{n}"));
        cmd.stdout(Stdio::null())
            .stderr(fs::File::create(&err).unwrap());
        Watched {
            child: cmd.spawn().unwrap(),
            err,
        }
    }

    /// What the child printed on stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// Waits for the child to end; its exit status and everything it printed on stderr.
    pub fn finish(mut self) -> (std::process::ExitStatus, String) {
        let status = self.child.wait().unwrap();
        (status, self.stderr())
    }
}
