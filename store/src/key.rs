//! [`StoreKey`]: the key a store is encrypted with (SQLCipher), and the key
//! file it is kept in.
//!
//! A key file holds 32 random bytes as 64 hex digits (surrounding
//! whitespace is ignored); `gridctl store keygen` writes one. Nothing here
//! ever prints a key: errors name the file and what is wrong with it, and
//! `Debug` shows no byte of it.

use std::io::Write;
use std::path::Path;

use crate::StoreError;
use crate::private;

/// Bytes of a store key.
pub const KEY_BYTES: usize = 32;

/// A store's encryption key: 32 bytes, handed to SQLCipher as a raw key
/// (no passphrase derivation: the bytes are random already).
#[derive(Clone, PartialEq, Eq)]
pub struct StoreKey([u8; KEY_BYTES]);

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey(…)")
    }
}

impl StoreKey {
    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> StoreKey {
        StoreKey(bytes)
    }

    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<StoreKey, StoreError> {
        use rand::TryRng;
        let mut bytes = [0u8; KEY_BYTES];
        rand::rngs::SysRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| StoreError::Random(e.to_string()))?;
        Ok(StoreKey(bytes))
    }

    /// Parses a key file's text: 64 hex digits, whitespace around them
    /// ignored. The error says what is wrong without quoting the text.
    pub fn parse(text: &str) -> Result<StoreKey, String> {
        let hex = text.trim();
        if let Some((i, _)) = hex.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
            let what = if hex[i..].starts_with(char::is_whitespace) {
                "whitespace inside the key"
            } else {
                "a character that is not a hex digit"
            };
            return Err(format!(
                "it holds {what} (at character {}); a store key is {} hex digits",
                hex[..i].chars().count() + 1,
                2 * KEY_BYTES
            ));
        }
        if hex.len() != 2 * KEY_BYTES {
            return Err(format!(
                "it holds {} hex digits; a store key is {} (32 random bytes; make one with `gridctl store keygen --out FILE`)",
                hex.len(),
                2 * KEY_BYTES
            ));
        }
        let mut bytes = [0u8; KEY_BYTES];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .map_err(|_| "it holds a character that is not a hex digit".to_string())?;
        }
        Ok(StoreKey(bytes))
    }

    /// Reads a key file. A file others may read is used, with a warning.
    pub fn read_file(path: &Path) -> Result<StoreKey, StoreError> {
        let bad = |reason: String| StoreError::KeyFile {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| bad("it is not text; a store key is 64 hex digits".into()))?;
        let key = StoreKey::parse(&text).map_err(bad)?;
        if private::others_may_access(path) {
            tracing::warn!(
                key_file = %path.display(),
                "the store key file may be read by other users; make it mode 0600 (chmod 600)"
            );
        }
        Ok(key)
    }

    /// Writes the key to a new file, mode 0600, durably; an existing file
    /// is never replaced.
    pub fn write_new_file(&self, path: &Path) -> Result<(), StoreError> {
        let failed = |e: std::io::Error| StoreError::KeyFile {
            path: path.to_path_buf(),
            reason: if e.kind() == std::io::ErrorKind::AlreadyExists {
                "it exists already; a key file is never overwritten (move it aside first, or choose another name)".into()
            } else {
                format!("cannot write it: {e}")
            },
        };
        let mut f = private::create_new_file(path).map_err(failed)?;
        f.write_all(format!("{}\n", self.hex()).as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(failed)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(failed)?;
        }
        Ok(())
    }

    fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// SQLCipher's raw-key form, `x'<64 hex digits>'`.
    pub(crate) fn sqlcipher_literal(&self) -> String {
        format!("x'{}'", self.hex())
    }

    /// The statement that keys a connection; the first one it runs.
    pub(crate) fn pragma(&self) -> String {
        format!("PRAGMA key = \"{}\";", self.sqlcipher_literal())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_64_hex_digits_and_anything_else_is_refused_without_quoting_it() {
        let k = StoreKey::parse(&format!("  {}\n", "aB".repeat(32))).unwrap();
        assert_eq!(k, StoreKey::from_bytes([0xab; 32]));
        for (text, needle) in [
            ("", "holds 0 hex digits"),
            (&"ab".repeat(31), "holds 62 hex digits"),
            (&"ab".repeat(33), "holds 66 hex digits"),
            (
                &format!("{}zz", "ab".repeat(31)),
                "not a hex digit (at character 63)",
            ),
            (
                &format!("{} {}", "ab".repeat(16), "ab".repeat(16)),
                "whitespace inside",
            ),
            ("ü", "not a hex digit"),
        ] {
            let e = StoreKey::parse(text).unwrap_err();
            assert!(e.contains(needle), "{text:?}: {e}");
            assert!(!e.contains("abab"), "the error quotes the key: {e}");
        }
        assert_eq!(format!("{k:?}"), "StoreKey(…)");
    }

    #[test]
    fn a_written_key_reads_back_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        let k = StoreKey::generate().unwrap();
        assert_ne!(k, StoreKey::generate().unwrap());
        k.write_new_file(&p).unwrap();
        assert_eq!(StoreKey::read_file(&p).unwrap(), k);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let e = StoreKey::generate()
            .unwrap()
            .write_new_file(&p)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("exists already") && e.contains(&*p.to_string_lossy()),
            "{e}"
        );
        assert_eq!(StoreKey::read_file(&p).unwrap(), k);
        std::fs::write(&p, "abcde\n").unwrap();
        let e = StoreKey::read_file(&p).unwrap_err().to_string();
        assert!(
            e.contains(&*p.to_string_lossy()) && e.contains("5 hex digits"),
            "{e}"
        );
        let e = StoreKey::read_file(&dir.path().join("none"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read it"), "{e}");
    }
}
