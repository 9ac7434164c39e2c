//! Compiles every `.proto` file under `proto/` with protox (pure Rust, no
//! system `protoc`), generates the prost messages and tonic services from the
//! resulting descriptors, and writes the encoded descriptor set to
//! `$OUT_DIR/gridsync_descriptor.bin` for gRPC reflection.

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

use protox::prost::Message as _;

const PROTO_DIR: &str = "proto";

fn main() {
    if let Err(e) = run() {
        // protox errors carry the file, line and column; show them as text.
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let proto_dir = manifest_dir.join(PROTO_DIR);

    let mut files = Vec::new();
    collect_protos(&proto_dir, &mut files)?;
    files.sort();
    if files.is_empty() {
        return Err(format!("no .proto files under {}", proto_dir.display()).into());
    }

    println!("cargo:rerun-if-changed={}", proto_dir.display());
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let fds = protox::compile(&files, [&proto_dir])?;
    fs::write(out_dir.join("gridsync_descriptor.bin"), fds.encode_to_vec())?;
    // Serialize lets gridctl print any reply as JSON.
    tonic_prost_build::configure()
        .type_attribute(".gridsync", "#[derive(serde::Serialize)]")
        // Ordered maps encode the same figures to the same bytes, which
        // `figures_tag` hashes.
        .btree_map(".gridsync.rollup.v1")
        // Requests that do not decode are the caller's error (see src/codec.rs).
        .codec_path("crate::codec::Codec")
        .compile_fds(fds)?;
    Ok(())
}

/// Every `.proto` file under `dir`, recursively.
fn collect_protos(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), Box<dyn Error>> {
    for entry in fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, files)?;
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            files.push(path);
        }
    }
    Ok(())
}
