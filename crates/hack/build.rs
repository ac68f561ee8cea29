//! Empty: present so that cargo counts this crate's build-dependencies (host features).
fn main() {}
