//! The `dtunet` command-line tool.
fn main() {}
