//! Files and folders readable by the service alone: files are created mode
//! 0600 and folders 0700 whatever the process's umask (the mode is set
//! explicitly after creating), and existing ones with bits for the group or
//! others are tightened. Both services keep their stores and what lies
//! beside them (the coordinator's `rollup-served/`) with these.

use std::fs::{File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The mode of every file a service writes beside its store.
pub const FILE_MODE: u32 = 0o600;
/// The mode of every folder a service creates for its data.
pub const DIR_MODE: u32 = 0o700;

/// The permission bits of a group or of others.
const SHARED_BITS: u32 = 0o077;

/// Creates `dir` (and any missing parent) mode 0700, or tightens an
/// existing one. Returns whether an existing folder was tightened.
pub fn create_dir(dir: &Path) -> io::Result<bool> {
    if dir.is_dir() {
        return tighten(dir);
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    std::fs::set_permissions(dir, Permissions::from_mode(DIR_MODE))?;
    Ok(false)
}

/// Creates a new file, mode 0600; fails if it exists.
pub fn create_new_file(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)?;
    f.set_permissions(Permissions::from_mode(FILE_MODE))?;
    Ok(f)
}

/// Creates or truncates a file, mode 0600 (an existing file is tightened).
pub fn create_file(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)?;
    tighten_open(&f)?;
    Ok(f)
}

/// Opens (creating if needed, never truncating) a file for writing, mode
/// 0600. Returns the file and whether an existing one was tightened.
pub fn open_file(path: &Path) -> io::Result<(File, bool)> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(path)?;
    let tightened = tighten_open(&f)?;
    Ok((f, tightened))
}

fn tighten_open(f: &File) -> io::Result<bool> {
    let mode = f.metadata()?.permissions().mode();
    if mode & SHARED_BITS == 0 {
        return Ok(false);
    }
    f.set_permissions(Permissions::from_mode(mode & 0o700))?;
    Ok(true)
}

/// Takes the group's and others' bits off `path` if it has any; a path
/// that does not exist is left alone. Returns whether it changed.
pub fn tighten(path: &Path) -> io::Result<bool> {
    let mode = match std::fs::metadata(path) {
        Ok(m) => m.permissions().mode(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if mode & SHARED_BITS == 0 {
        return Ok(false);
    }
    std::fs::set_permissions(path, Permissions::from_mode(mode & 0o700))?;
    Ok(true)
}

/// Tightens `dir` and everything under it (folders 0700, files 0600 at
/// most); returns what was changed. A folder that does not exist is left
/// alone.
pub fn tighten_tree(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut changed = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        if tighten(&d)? {
            changed.push(d.clone());
        }
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                todo.push(entry.path());
            } else if kind.is_file() && tighten(&entry.path())? {
                changed.push(entry.path());
            }
        }
    }
    Ok(changed)
}

/// Whether the group or others have any permission on `path`.
pub(crate) fn others_may_access(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & SHARED_BITS != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_files_and_folders_are_private_and_loose_ones_are_tightened() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("a/b");
        assert!(!create_dir(&d).unwrap());
        assert_eq!((mode(&tmp.path().join("a")), mode(&d)), (0o700, 0o700));
        drop(create_new_file(&d.join("f")).unwrap());
        assert_eq!(mode(&d.join("f")), 0o600);
        assert!(create_new_file(&d.join("f")).is_err());
        std::fs::set_permissions(&d, Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(d.join("f"), Permissions::from_mode(0o644)).unwrap();
        std::fs::write(d.join("g"), b"").unwrap();
        std::fs::set_permissions(d.join("g"), Permissions::from_mode(0o640)).unwrap();
        let mut changed = tighten_tree(&d).unwrap();
        changed.sort();
        assert_eq!(changed, vec![d.clone(), d.join("f"), d.join("g")]);
        assert_eq!(
            (mode(&d), mode(&d.join("f")), mode(&d.join("g"))),
            (0o700, 0o600, 0o600)
        );
        assert!(tighten_tree(&d).unwrap().is_empty());
        std::fs::set_permissions(&d, Permissions::from_mode(0o750)).unwrap();
        assert!(create_dir(&d).unwrap());
        assert_eq!(mode(&d), 0o700);
        std::fs::set_permissions(d.join("f"), Permissions::from_mode(0o666)).unwrap();
        drop(create_file(&d.join("f")).unwrap());
        assert_eq!(mode(&d.join("f")), 0o600);
        assert!(tighten_tree(&tmp.path().join("none")).unwrap().is_empty());
    }
}
