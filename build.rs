// The migrations are embedded at compile time (`embed_migrations!`); without this a new
// migration directory does not rebuild the binary, which then runs without it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
