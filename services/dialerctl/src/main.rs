//! `dialerctl`: the operator's command-line tool.

fn main() {}
