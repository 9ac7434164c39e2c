//! `gridsync-fuzz-seeds DIR`: writes the fuzz targets' seed inputs
//! (`gridsync_testkit::fuzzing::seeds`) to `DIR/<target>/seed-<name>`,
//! creating the folders; an existing file of the same name is replaced.
//!
//! ```text
//! cargo run -p gridsync-testkit --features fuzzing --bin gridsync-fuzz-seeds -- fuzz/corpus
//! ```

use std::path::PathBuf;

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    let dir: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .context("usage: gridsync-fuzz-seeds DIR (the corpus folder, e.g. fuzz/corpus)")?;
    let mut written = 0;
    for seed in gridsync_testkit::fuzzing::seeds::all() {
        let folder = dir.join(seed.target);
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
        let file = folder.join(format!("seed-{}", seed.name));
        std::fs::write(&file, &seed.bytes)
            .with_context(|| format!("cannot write {}", file.display()))?;
        written += 1;
    }
    println!("{written} seeds written under {}", dir.display());
    Ok(())
}
