//! Reading a service's settings: a TOML file, then `GRIDSYNC_*` environment
//! variables, then flags; flags win. Each service declares its settings
//! once, as one struct that is both the file's shape (serde) and the
//! command line's (clap, which also reads the environment), every field an
//! `Option` with its doc comment as the help text; [`layered`] merges the
//! two, and the service then checks every value with an error naming it.

use std::path::Path;

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
