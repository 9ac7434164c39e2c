//! Child processes for the demo: stopped with SIGTERM when dropped, found
//! next to the running binary.

use std::path::PathBuf;

use anyhow::bail;

/// A running child process, stopped with SIGTERM when dropped.
pub struct Child(pub std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            let pid = self.0.id().to_string();
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status();
        }
        #[cfg(not(unix))]
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A binary built next to the running one (`target/release/gridsync-node`
/// next to `target/release/gridsync-demo`).
pub fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let p = me.with_file_name(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if p.exists() {
        Ok(p)
    } else {
        bail!(
            "cannot find {} next to {}; build it with `cargo build --release -p gridsync-node -p gridsync-coordinator -p gridsync-cli -p gridsync-testkit --bins`",
            p.display(),
            me.display()
        )
    }
}
