//! Converts a PyTorch checkpoint to safetensors (what benches/convert_ratio.py times):
//! `cargo run --release --example convert --features torch -- IN OUT [KEY]`.
fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(input), Some(output)) = (args.next(), args.next()) else {
        eprintln!("usage: convert IN OUT.safetensors [KEY]");
        std::process::exit(2);
    };
    let key = args.next();
    if let Err(e) =
        pickleproof::torch::convert_file(input.as_ref(), output.as_ref(), key.as_deref())
    {
        eprintln!("{input}: {e}");
        std::process::exit(1);
    }
}
