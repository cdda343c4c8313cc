//! Lists the tensors of a PyTorch checkpoint, reading only what listing needs (not the
//! storages): `cargo run --example tensors --features torch -- FILE`.
fn main() {
    let path = std::env::args().nth(1).unwrap_or_default();
    match pickleproof::torch::list_tensors_file(path.as_ref()) {
        Ok(rows) => print!("{}", pickleproof::torch::to_text(&rows)),
        Err(e) => println!("error: {e:?}"),
    }
}
