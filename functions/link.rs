//! The build script of every Lambda function, and of the cold-start floor it is
//! measured against (`tests`), so that both are linked alike: on Linux the binary is a
//! position-dependent executable (`-no-pie`, as Go links by default).
//!
//! Why: a position-independent executable is patched by the loader before `main`, one
//! pointer for each `&'static str` in a table (the emoji and HTML-entity names, the
//! panic locations, the catalogues): 13,000 in the webhook, 66,000 in the publisher,
//! whose 1.4 MB of patched pages were a third of its cold start. Linked at a fixed
//! address, those pages are read from the file only when touched, and the binary is
//! smaller by the relocation table. The libraries, stack, heap and mappings stay
//! randomised; the code, in memory-safe Rust, no longer is.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    // Paths here are the package's: this file is `../link.rs` of one package and
    // `../functions/link.rs` of another, and `file!()` is neither (it names it from the
    // workspace), which made cargo find it missing and rebuild every function each
    // time. The output depends on nothing but the target; a change to this file
    // rebuilds the script, which then runs again.
    println!("cargo:rerun-if-changed=Cargo.toml");
}
