use pickleproof::container::{open, ContainerLimits};
fn main() {
    for path in std::env::args().skip(1) {
        let data = std::fs::read(&path).unwrap();
        let mut limits = ContainerLimits::default();
        limits.max_output_bytes = 1 << 20;
        let c = open(&data, &limits);
        let formats: Vec<&str> = c.formats.iter().map(|f| f.name()).collect();
        println!(
            "{path}: {formats:?} err={:?}",
            c.error.as_ref().map(|e| e.to_string())
        );
        for p in &c.pieces {
            println!(
                "   piece {:?} off={:?} len={} {:?}",
                p.location,
                p.file_offset,
                p.data.len(),
                p.kind
            );
        }
        for a in &c.anomalies {
            println!(
                "   anomaly {} {:?} @{} {}",
                a.kind.name(),
                a.location,
                a.offset,
                a.detail
            );
        }
    }
}
