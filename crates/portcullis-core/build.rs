//! `sqlx::migrate!` embeds `migrations/` at compile time, but on stable Rust the macro cannot
//! tell Cargo to watch that directory: without this, a new migration file is silently left out
//! of the build until something else in the crate changes.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
