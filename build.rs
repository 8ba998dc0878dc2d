//! The catalog's migrations are embedded at compile time (`refinery::embed_migrations!`):
//! a new or edited file under `migrations/` must rebuild the crate.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
