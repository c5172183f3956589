//! Prints the full decision for one JSON request read from stdin: `cargo run --example explain < case.json`.
use std::io::Read;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let req: compliance::CallRequest = serde_json::from_str(&input)?;
    let decision = compliance::Engine::builtin().evaluate(&req, &compliance::Policy::default())?;
    println!("{}", serde_json::to_string_pretty(&decision)?);
    Ok(())
}
