//! Rebuilds the binary when a bundled fixture is added or changed (`src/bundled.rs`
//! embeds the folder; the compiler alone does not see new files in it).

fn main() {
    println!("cargo:rerun-if-changed=../../fixtures");
}
