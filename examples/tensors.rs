//! Lists the tensors of a PyTorch checkpoint: `cargo run --example tensors --features torch -- FILE`.
fn main() {
    let path = std::env::args().nth(1).unwrap_or_default();
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    match pickleproof::torch::list_tensors(&bytes) {
        Ok(rows) => print!("{}", pickleproof::torch::to_text(&rows)),
        Err(e) => println!("error: {e:?}"),
    }
}
