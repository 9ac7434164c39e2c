//! Reading a service's settings: a TOML file, then `GRIDSYNC_*` environment
//! variables, then flags; flags win. Each service declares its settings
//! once, as one struct that is both the file's shape (serde) and the
//! command line's (clap, which also reads the environment), every field an
//! `Option` with its doc comment as the help text; [`layered`] merges the
//! two, and the service then checks every value with an error naming it.
//! [`store_key`] finds the store's key the same way for both services.

use std::path::{Path, PathBuf};

use gridsync_store::StoreKey;

use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {source}")]
    Parse {
        path: std::path::PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("settings: {0}")]
    Merge(#[source] serde_json::Error),
    #[error(
        "no store key: set store_key_file to a key file (make one with `gridctl store keygen --out FILE`, mode 0600, outside the data folder) or load it as the systemd credential {STORE_KEY_CREDENTIAL} (LoadCredential=); for development only, insecure_plaintext_store = true keeps the store unencrypted"
    )]
    NoStoreKey,
    #[error(
        "insecure_plaintext_store is set, and so is a store key ({0}); choose one: the key (the store is encrypted) or, for development only, a plaintext store"
    )]
    KeyAndPlaintext(String),
    #[error("{setting}: {source}")]
    StoreKey {
        setting: String,
        #[source]
        source: Box<gridsync_store::StoreError>,
    },
}

/// The name of the systemd credential that holds a service's store key
/// (`LoadCredential=gridsync-store-key:/etc/gridsync/<service>-store.key`).
pub const STORE_KEY_CREDENTIAL: &str = "gridsync-store-key";

/// The key a service opens its store with: the file `store_key_file` if
/// set, else the systemd credential [`STORE_KEY_CREDENTIAL`] if
/// `credentials_dir` (`$CREDENTIALS_DIRECTORY`) holds it. `None` (a
/// plaintext store) only with `insecure_plaintext_store` and no key; no
/// key without it, or both, is refused.
pub fn store_key(
    store_key_file: Option<&Path>,
    insecure_plaintext_store: bool,
    credentials_dir: Option<&Path>,
) -> Result<Option<StoreKey>, ConfigError> {
    let credential = credentials_dir
        .map(|d| d.join(STORE_KEY_CREDENTIAL))
        .filter(|p| p.exists());
    let (file, setting): (PathBuf, String) = match (store_key_file, credential) {
        (Some(f), _) => (f.to_path_buf(), "store_key_file".into()),
        (None, Some(c)) => (c, format!("the systemd credential {STORE_KEY_CREDENTIAL}")),
        (None, None) if insecure_plaintext_store => return Ok(None),
        (None, None) => return Err(ConfigError::NoStoreKey),
    };
    if insecure_plaintext_store {
        return Err(ConfigError::KeyAndPlaintext(setting));
    }
    StoreKey::read_file(&file)
        .map(Some)
        .map_err(|source| ConfigError::StoreKey {
            setting,
            source: Box::new(source),
        })
}

/// Reads a TOML config file into `T` (unknown settings are refused when
/// `T` denies unknown fields), or `T::default()` when there is no file.
pub fn read_config_file<T: DeserializeOwned + Default>(
    path: Option<&Path>,
) -> Result<T, ConfigError> {
    let Some(p) = path else {
        return Ok(T::default());
    };
    let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
        path: p.to_path_buf(),
        source,
    })?;
    toml::from_str::<T>(&text).map_err(|source| ConfigError::Parse {
        path: p.to_path_buf(),
        source,
    })
}

/// The settings of the file at `path` (if any), overridden by every value
/// `flags` has (flags and environment, as clap read them).
pub fn layered<T>(path: Option<&Path>, flags: &T) -> Result<T, ConfigError>
where
    T: Serialize + DeserializeOwned + Default,
{
    let file: T = read_config_file(path)?;
    let mut merged = serde_json::to_value(&file).map_err(ConfigError::Merge)?;
    let over = serde_json::to_value(flags).map_err(ConfigError::Merge)?;
    if let (Some(m), serde_json::Value::Object(o)) = (merged.as_object_mut(), over) {
        for (k, v) in o {
            if !v.is_null() {
                m.insert(k, v);
            }
        }
    }
    serde_json::from_value(merged).map_err(ConfigError::Merge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct S {
        a: Option<String>,
        b: Option<u64>,
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_fills_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.toml");
        std::fs::write(&p, "a = \"file\"\nb = 7\n").unwrap();
        let flags = S {
            a: Some("flag".into()),
            b: None,
        };
        let s: S = layered(Some(&p), &flags).unwrap();
        assert_eq!(
            s,
            S {
                a: Some("flag".into()),
                b: Some(7)
            }
        );
        let none: S = layered(None, &S::default()).unwrap();
        assert_eq!(none, S::default());
    }

    #[test]
    fn the_store_key_comes_from_the_setting_or_the_credential_and_none_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("creds");
        std::fs::create_dir(&creds).unwrap();
        let file = dir.path().join("node-store.key");
        let k1 = StoreKey::generate().unwrap();
        let k2 = StoreKey::generate().unwrap();
        k1.write_new_file(&file).unwrap();
        let e = store_key(None, false, None).unwrap_err().to_string();
        assert!(
            e.contains("no store key") && e.contains("store_key_file"),
            "{e}"
        );
        assert!(store_key(None, true, Some(&creds)).unwrap().is_none());
        assert_eq!(
            store_key(Some(&file), false, None).unwrap(),
            Some(k1.clone())
        );
        k2.write_new_file(&creds.join(STORE_KEY_CREDENTIAL))
            .unwrap();
        assert_eq!(store_key(None, false, Some(&creds)).unwrap(), Some(k2));
        // The setting wins over the credential.
        assert_eq!(
            store_key(Some(&file), false, Some(&creds)).unwrap(),
            Some(k1)
        );
        let e = store_key(None, true, Some(&creds)).unwrap_err().to_string();
        assert!(
            e.contains("insecure_plaintext_store") && e.contains("credential"),
            "{e}"
        );
        std::fs::write(&file, "not a key").unwrap();
        let e = store_key(Some(&file), false, None).unwrap_err().to_string();
        assert!(
            e.starts_with("store_key_file: ") && e.contains("node-store.key"),
            "{e}"
        );
        assert!(!e.contains("not a key"), "{e}");
    }

    #[test]
    fn an_unknown_setting_or_a_missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.toml");
        std::fs::write(&p, "c = 1\n").unwrap();
        let e = layered::<S>(Some(&p), &S::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("s.toml") && e.contains('c'), "{e}");
        let e = layered::<S>(Some(&dir.path().join("nope.toml")), &S::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope.toml"), "{e}");
    }
}
