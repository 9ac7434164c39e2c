//! `gridctl store keygen|encrypt|rekey|backup`: the key a store is
//! encrypted with (SQLCipher), encrypting a plaintext store, key rotation,
//! and an encrypted backup. `encrypt` and `rekey` rewrite the store file, so
//! the service must be stopped: the store's exclusive `.lock` makes them
//! fail at once, naming it, while it runs. `backup` reads a snapshot and
//! may run beside the service.
//! An interrupted `encrypt` or `rekey` leaves the store whole under the old
//! key or the new one (see `gridsync_store::reencrypt`); run it again.

use std::io::Write;
use std::path::{Path, PathBuf};

use gridsync_store::{Reencrypted, StoreKey, reencrypt};

/// `gridctl store …` (keys): keys are written mode 0600 and never
/// overwritten; no command prints a key.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum StoreKeysCommand {
    /// Writes a new random store key (32 bytes as 64 hex digits) to a new
    /// file, mode 0600 (a missing folder is made, mode 0700); an existing
    /// file is never replaced.
    Keygen {
        /// The key file to write (e.g. /etc/gridsync/node-store.key).
        #[arg(long)]
        out: PathBuf,
    },
    /// Encrypts a plaintext store with a key (a store from before
    /// encryption, or one run with insecure_plaintext_store). Stop the
    /// service first.
    Encrypt {
        /// The store file (e.g. /var/lib/gridsync-node/gridsync-node.sqlite3).
        #[arg(long)]
        db: PathBuf,
        /// The key file to encrypt it with (`gridctl store keygen`).
        #[arg(long)]
        new_key_file: PathBuf,
    },
    /// Re-encrypts a store under a new key (key rotation). Stop the service
    /// first; start it again with the new key.
    Rekey {
        /// The store file (e.g. /var/lib/gridsync-node/gridsync-node.sqlite3).
        #[arg(long)]
        db: PathBuf,
        /// The key file the store is encrypted with now.
        #[arg(long)]
        key_file: PathBuf,
        /// The key file to re-encrypt it with (`gridctl store keygen`).
        #[arg(long)]
        new_key_file: PathBuf,
    },
    /// Writes a consistent copy of a store, encrypted with the same key, to
    /// a new file (mode 0600). Safe while the service runs.
    Backup {
        /// The store file (e.g. /var/lib/gridsync-node/gridsync-node.sqlite3).
        #[arg(long)]
        db: PathBuf,
        /// The key file the store is encrypted with.
        #[arg(long)]
        key_file: PathBuf,
        /// The backup file to write; it must not exist.
        #[arg(long)]
        out: PathBuf,
    },
}

impl StoreKeysCommand {
    /// Runs the command and tells `out` what was done.
    pub fn run(&self, out: &mut dyn Write) -> anyhow::Result<()> {
        match self {
            StoreKeysCommand::Keygen { out: file } => {
                // A missing folder is made private; an existing one is
                // left as it is (it may be /etc/gridsync).
                if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty())
                    && !dir.exists()
                {
                    gridsync_store::private::create_dir(dir).map_err(|e| {
                        anyhow::anyhow!("cannot create the folder {}: {e}", dir.display())
                    })?;
                }
                StoreKey::generate()?.write_new_file(file)?;
                writeln!(
                    out,
                    "wrote a new store key to {} (mode 0600)",
                    file.display()
                )?;
            }
            StoreKeysCommand::Encrypt { db, new_key_file } => {
                let new = StoreKey::read_file(new_key_file)?;
                let done = reencrypt(db, None, &new)?;
                report(out, "encrypted", db, new_key_file, &done)?;
            }
            StoreKeysCommand::Rekey {
                db,
                key_file,
                new_key_file,
            } => {
                let old = StoreKey::read_file(key_file)?;
                let new = StoreKey::read_file(new_key_file)?;
                let done = reencrypt(db, Some(&old), &new)?;
                report(out, "re-encrypted", db, new_key_file, &done)?;
            }
            StoreKeysCommand::Backup {
                db,
                key_file,
                out: file,
            } => {
                let key = StoreKey::read_file(key_file)?;
                let done = gridsync_store::backup(db, &key, file)?;
                writeln!(
                    out,
                    "backed up store {} to {} ({} bytes; rows: {}), encrypted with the key in {}: keep that key as long as the backup",
                    db.display(),
                    file.display(),
                    done.bytes,
                    row_list(&done),
                    key_file.display()
                )?;
            }
        }
        Ok(())
    }
}

fn report(
    out: &mut dyn Write,
    what: &str,
    db: &Path,
    key_file: &Path,
    done: &Reencrypted,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{what} store {} with the key in {} (schema version {}, {} bytes; rows: {})",
        db.display(),
        key_file.display(),
        done.schema_version,
        done.bytes,
        row_list(done)
    )?;
    writeln!(
        out,
        "the service must now open it with that key (store_key_file, or the credential gridsync-store-key); backups made before this still need the old key"
    )
}

fn row_list(done: &Reencrypted) -> String {
    done.rows
        .iter()
        .filter(|(t, _)| !t.starts_with("sqlite_"))
        .map(|(t, n)| format!("{t} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn run(args: &[&str]) -> anyhow::Result<String> {
        let mut all = vec!["gridctl", "store"];
        all.extend_from_slice(args);
        let cli = crate::Cli::try_parse_from(all)?;
        let crate::Cmd::Store {
            cmd: crate::StoreCommand::Keys(cmd),
        } = cli.cmd
        else {
            panic!("not a store key command");
        };
        let mut out = Vec::new();
        cmd.run(&mut out)?;
        Ok(String::from_utf8(out)?)
    }

    #[test]
    fn keygen_encrypt_and_rekey_from_the_command_line() {
        let tmp = tempfile::tempdir().unwrap();
        let p = |n: &str| tmp.path().join(n).to_string_lossy().into_owned();
        let db = p("gridsync-node.sqlite3");
        drop(gridsync_store::Store::open(Path::new(&db), None).unwrap());
        run(&["keygen", "--out", &p("k1")]).unwrap();
        run(&["keygen", "--out", &p("k2")]).unwrap();
        let e = run(&["keygen", "--out", &p("k1")]).unwrap_err().to_string();
        assert!(e.contains("k1") && e.contains("exists already"), "{e}");
        let said = run(&["encrypt", "--db", &db, "--new-key-file", &p("k1")]).unwrap();
        assert!(
            said.contains("encrypted store") && said.contains("audit 0"),
            "{said}"
        );
        // The old key no longer opens it after a rotation; the message names the store.
        run(&[
            "rekey",
            "--db",
            &db,
            "--key-file",
            &p("k1"),
            "--new-key-file",
            &p("k2"),
        ])
        .unwrap();
        let e = run(&[
            "rekey",
            "--db",
            &db,
            "--key-file",
            &p("k1"),
            "--new-key-file",
            &p("k2"),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains(&db) && e.contains("does not open it"), "{e}");
        let k2 = StoreKey::read_file(Path::new(&p("k2"))).unwrap();
        assert!(gridsync_store::Store::open(Path::new(&db), Some(&k2)).is_ok());
        let said = run(&[
            "backup",
            "--db",
            &db,
            "--key-file",
            &p("k2"),
            "--out",
            &p("b"),
        ])
        .unwrap();
        assert!(said.contains("backed up store"), "{said}");
        assert!(gridsync_store::Store::open(Path::new(&p("b")), Some(&k2)).is_ok());
        std::fs::write(p("bad"), "0123").unwrap();
        let e = run(&[
            "rekey",
            "--db",
            &db,
            "--key-file",
            &p("k2"),
            "--new-key-file",
            &p("bad"),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("bad") && e.contains("4 hex digits"), "{e}");
    }
}
