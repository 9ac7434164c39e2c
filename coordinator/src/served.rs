//! `ServedLog`: the last rollup the coordinator served for each community,
//! date and zone, so that it never serves an older state of a community
//! than one it has shown.
//!
//! It lives in files of its own beside the store,
//! `rollup-served/<community>/<date>@<zone>.json`, each replaced atomically
//! (write, fsync, rename, fsync the folder): restoring the store from an
//! older backup does not restore them, so the coordinator knows it has
//! shown more than its replica holds. Memory follows the files: an entry
//! changes only after its file was written. A file that exists but cannot
//! be read is an error, never "nothing served" (that would silently turn
//! the guarantee off). The folders are mode 0700 and the files 0600,
//! whatever the umask.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use gridsync_core::rollup::{Node, RollupHeads};
use gridsync_core::{CommunityId, Date, Day};
use serde::{Deserialize, Serialize};

/// The folder of the records, beside the store.
pub const SERVED_DIR: &str = "rollup-served";

/// Dates kept per community; the oldest written go first, never the one
/// just written.
pub const SERVED_KEEP: usize = 16;

/// What is kept of a rollup served: the heads it reflected, its digest and
/// its tree (not the person keys: those follow the registry, which the
/// replica holds).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Served {
    pub heads: RollupHeads,
    pub digest: String,
    pub rollup_version: u32,
    pub tree: Node,
    pub served_ms: i64,
}

type Key = (CommunityId, Day, String);

pub struct ServedLog {
    dir: PathBuf,
    mem: HashMap<Key, Served>,
}

impl ServedLog {
    pub fn new(dir: PathBuf) -> Self {
        ServedLog {
            dir,
            mem: HashMap::new(),
        }
    }

    fn community_dir(&self, c: &CommunityId) -> PathBuf {
        self.dir.join(c.as_str())
    }

    fn path(&self, c: &CommunityId, as_of: Day, tz: &str) -> PathBuf {
        // Zone names hold '/', which is not for file names.
        let tz: String = tz
            .chars()
            .map(|ch| {
                if ch.is_ascii_alphanumeric() || "_-+".contains(ch) {
                    ch
                } else {
                    '~'
                }
            })
            .collect();
        self.community_dir(c)
            .join(format!("{}@{tz}.json", Date(as_of)))
    }

    /// The last rollup served for (`c`, `as_of`, `tz`), if any.
    pub fn get(&mut self, c: &CommunityId, as_of: Day, tz: &str) -> io::Result<Option<&Served>> {
        let key = (c.clone(), as_of, tz.to_string());
        if !self.mem.contains_key(&key) {
            let path = self.path(c, as_of, tz);
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("cannot read {}: {e}", path.display()),
                    ));
                }
            };
            let served: Served = serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} is not a record of a rollup served ({e}); move it aside only if the store is known to hold everything it names",
                        path.display()
                    ),
                )
            })?;
            self.mem.insert(key.clone(), served);
        }
        Ok(self.mem.get(&key))
    }

    /// Records `s` as served for (`c`, `as_of`, `tz`): durable before this
    /// returns, and only then in memory.
    pub fn put(&mut self, c: &CommunityId, as_of: Day, tz: &str, s: Served) -> io::Result<()> {
        let dir = self.community_dir(c);
        let path = self.path(c, as_of, tz);
        let bytes = serde_json::to_vec(&s).map_err(io::Error::other)?;
        gridsync_store::private::create_dir(&dir)?;
        write_atomically(&dir, &path, &bytes)?;
        self.mem.insert((c.clone(), as_of, tz.to_string()), s);
        if let Err(e) = self.evict(c, &path) {
            tracing::warn!(community = %c, error = %e, "could not drop old records of rollups served");
        }
        Ok(())
    }

    /// Keeps the `SERVED_KEEP` most recently written files of `c`.
    fn evict(&mut self, c: &CommunityId, keep: &Path) -> io::Result<()> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(self.community_dir(c))? {
            let entry = entry?;
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") && path != keep {
                let modified = entry.metadata()?.modified()?;
                files.push((modified, path));
            }
        }
        if files.len() < SERVED_KEEP {
            return Ok(());
        }
        files.sort();
        for (_, path) in files.iter().take(files.len() + 1 - SERVED_KEEP) {
            std::fs::remove_file(path)?;
        }
        // Memory holds at most what the files hold.
        let dir = self.community_dir(c);
        let paths: Vec<(Key, PathBuf)> = self
            .mem
            .keys()
            .filter(|(cc, _, _)| cc == c)
            .map(|k| (k.clone(), self.path(&k.0, k.1, &k.2)))
            .collect();
        for (k, p) in paths {
            if p.starts_with(&dir) && !p.exists() {
                self.mem.remove(&k);
            }
        }
        Ok(())
    }
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    {
        let mut f = gridsync_store::private::create_file(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridsync_core::rollup::{Figures, Level};

    fn served(n: u64) -> Served {
        Served {
            heads: RollupHeads::default(),
            digest: format!("{n:064x}"),
            rollup_version: 1,
            tree: Node {
                level: Level::Community,
                id: "c01".into(),
                name: String::new(),
                figures: Figures {
                    households: n,
                    ..Default::default()
                },
                children: Vec::new(),
            },
            served_ms: n as i64,
        }
    }

    fn day(d: u32) -> Day {
        chrono::NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
    }

    #[test]
    fn what_is_written_is_read_back_by_another_log() {
        let dir = tempfile::tempdir().unwrap();
        let c = CommunityId::parse("c01").unwrap();
        let mut log = ServedLog::new(dir.path().join("rollup-served"));
        assert_eq!(log.get(&c, day(1), "Asia/Shanghai").unwrap(), None);
        log.put(&c, day(1), "Asia/Shanghai", served(3)).unwrap();
        let mut other = ServedLog::new(dir.path().join("rollup-served"));
        assert_eq!(
            other.get(&c, day(1), "Asia/Shanghai").unwrap(),
            Some(&served(3))
        );
        assert_eq!(other.get(&c, day(1), "UTC").unwrap(), None, "zones apart");
    }

    #[test]
    fn the_records_and_their_folders_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let c = CommunityId::parse("c01").unwrap();
        let served_dir = dir.path().join(SERVED_DIR);
        let mut log = ServedLog::new(served_dir.clone());
        log.put(&c, day(1), "Asia/Shanghai", served(3)).unwrap();
        let file = log.path(&c, day(1), "Asia/Shanghai");
        assert_eq!(
            (
                mode(&served_dir),
                mode(&served_dir.join("c01")),
                mode(&file)
            ),
            (0o700, 0o700, 0o600)
        );
        // A record an older build left readable is rewritten private.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        log.put(&c, day(1), "Asia/Shanghai", served(4)).unwrap();
        assert_eq!(mode(&file), 0o600);
    }

    #[test]
    fn an_unreadable_record_is_an_error_not_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let c = CommunityId::parse("c01").unwrap();
        let mut log = ServedLog::new(dir.path().to_path_buf());
        log.put(&c, day(1), "UTC", served(1)).unwrap();
        let path = log.path(&c, day(1), "UTC");
        std::fs::write(&path, b"{not json").unwrap();
        let mut fresh = ServedLog::new(dir.path().to_path_buf());
        let e = fresh.get(&c, day(1), "UTC").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("not a record"), "{e}");
    }

    #[test]
    fn a_failed_write_leaves_memory_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let c = CommunityId::parse("c01").unwrap();
        // A file where the community's folder should be: writes fail.
        std::fs::write(dir.path().join("c01"), b"").unwrap();
        let mut log = ServedLog::new(dir.path().to_path_buf());
        assert!(log.put(&c, day(1), "UTC", served(1)).is_err());
        assert!(log.mem.is_empty());
    }

    #[test]
    fn old_dates_go_and_the_one_just_written_stays() {
        let dir = tempfile::tempdir().unwrap();
        let c = CommunityId::parse("c01").unwrap();
        let mut log = ServedLog::new(dir.path().to_path_buf());
        for d in 1..=(SERVED_KEEP as u32 + 4) {
            log.put(&c, day(d), "UTC", served(d as u64)).unwrap();
        }
        let files = std::fs::read_dir(dir.path().join("c01")).unwrap().count();
        assert_eq!(files, SERVED_KEEP);
        let last = SERVED_KEEP as u32 + 4;
        assert!(log.get(&c, day(last), "UTC").unwrap().is_some());
        assert!(log.mem.len() <= SERVED_KEEP);
    }
}
