//! Minifies the embedded scripts (`public/*.js`) and the stylesheet into `OUT_DIR` with esbuild,
//! which wrangler's npm install brings (`node_modules/.bin/esbuild`): the served client is half
//! the size, and so is its share of the wasm. Without esbuild (a bare `cargo test` on a fresh
//! clone) the files are embedded as written, which behaves the same.

use std::path::Path;
use std::process::Command;

// The stylesheet too: esbuild minifies CSS as well.
const SCRIPTS: [&str; 4] = ["edge-signal.js", "room.js", "landing.js", "app.css"];

fn main() {
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let esbuild = Path::new("node_modules/.bin/esbuild");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", esbuild.display());
    for name in SCRIPTS {
        let src = Path::new("public").join(name);
        let dst = Path::new(&out).join(name);
        println!("cargo:rerun-if-changed={}", src.display());
        let minified = esbuild.exists()
            && Command::new(esbuild)
                .arg(&src)
                .args(["--minify", "--log-level=error"])
                .arg(format!("--outfile={}", dst.display()))
                .status()
                .is_ok_and(|s| s.success());
        if !minified {
            std::fs::copy(&src, &dst).expect("copy a script");
        }
    }
}
