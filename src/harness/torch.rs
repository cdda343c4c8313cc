//! The `torch` target: any bytes as a checkpoint through [`crate::torch::open`],
//! validation and [`crate::torch::convert_to_safetensors`]. Bytes that start like a
//! pickle (`\x80`) are also wrapped as the `data.pkl` of a ZIP checkpoint with four
//! 64-byte storages `data/0`..`data/3`, so the fuzzer reaches tensor validation
//! without having to build a ZIP archive first.
//!
//! Invariants: no panic; the lazy loader ([`crate::torch::load`] over the input as a
//! positioned-read source, then [`crate::torch::open_image`]; for a ZIP its records
//! by range, for a legacy file its pickles and storage counts) finds the same
//! checkpoint (layout, byte order, tensors, storages) or the same error as
//! [`crate::torch::open`] over the whole input, reading at most three times its
//! length; every storage and tensor byte range lies within the input; a tensor's
//! gathered bytes are exactly `numel × element size` long, and refused as out of
//! bounds from bytes cut short of its storage; a successful conversion reads back
//! with the `safetensors` crate holding at most as many tensors as were listed; the
//! layout's name is the container scan's; the path entry points (`read_file`,
//! `list_tensors_file`, `convert_file`, also onto the input itself) agree with the
//! bytes ones, and refuse a missing file with an I/O error naming it.

// A fuzz body's job is to panic when an invariant breaks.
#![allow(
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

use crate::container::sniff::sniff;
use crate::container::zip::crc32;
use crate::container::Format;
use crate::torch::{
    convert_file, convert_to_safetensors, list_tensors, list_tensors_file, load, open, open_image,
    read_file, to_json, to_text, DType, Layout, TorchError,
};

use super::on_small_stack;

/// Runs the body on a small stack.
pub fn run_torch(data: &[u8]) {
    on_small_stack(|| {
        torch(data);
        if data.first() == Some(&0x80) {
            torch(&checkpoint_around(data));
        }
    });
}

/// Body of the `torch` target; see the module docs.
pub fn torch(data: &[u8]) {
    let len = data.len() as u64;
    check_convert_file(data);
    let opened = open(data);
    let image = load(data).expect("reading from memory cannot fail");
    assert!(image.bytes_read() <= len.saturating_mul(3), "{image:?}");
    // Its debug form (what a failed assertion prints) says the length and bytes read.
    let shown = format!("{image:?}");
    assert!(
        shown.contains(&format!("len: {len}"))
            && shown.contains(&format!("read: {}", image.bytes_read())),
        "{shown}"
    );
    match (&opened, open_image(&image)) {
        (Ok(whole), Ok(lazy)) => {
            assert_eq!(whole.layout, lazy.layout);
            assert_eq!(whole.big_endian, lazy.big_endian);
            assert_eq!(whole.tensors, lazy.tensors);
            assert_eq!(whole.storages, lazy.storages);
        }
        (Err(whole), Err(lazy)) => assert_eq!(whole, &lazy),
        (whole, lazy) => panic!(
            "whole file: {:?}, lazy: {:?}",
            whole.as_ref().map(|c| &c.tensors),
            lazy.map(|c| c.tensors)
        ),
    }
    let checkpoint = match opened {
        Ok(checkpoint) => checkpoint,
        Err(e) => {
            check_error(&e);
            return;
        }
    };
    // The layout is the one the first bytes announce, named as the container scan
    // names it.
    let format = match &checkpoint.layout {
        Layout::Zip { .. } => (Format::Zip, Format::TorchZip),
        Layout::Legacy => (Format::TorchLegacy, Format::TorchLegacy),
        Layout::LegacyTar => (Format::Tar, Format::TorchLegacyTar),
    };
    assert_eq!(sniff(data), format.0);
    assert_eq!(checkpoint.layout.name(), format.1.name());
    check_rows(data, &checkpoint);
    for s in &checkpoint.storages {
        assert!(
            s.range.start <= s.range.end && s.range.end <= len,
            "storage {s:?}"
        );
        assert_eq!(s.range.end - s.range.start, s.numel * s.dtype.size());
    }
    for t in &checkpoint.tensors {
        assert!(
            t.storage_range.start <= t.storage_range.end && t.storage_range.end <= len,
            "tensor {t:?}"
        );
        let storage = t.storage_bytes(data).unwrap();
        assert_eq!(
            storage.len() as u64,
            t.storage_range.end - t.storage_range.start
        );
        let whole = t.bytes(data).map(|b| b.into_owned());
        if let Ok(bytes) = &whole {
            assert_eq!(bytes.len() as u64, t.nbytes(), "tensor {}", t.name);
        }
        // By position, only the view's reach: the same bytes, or the same refusal.
        assert_eq!(t.read_at(data), whole, "tensor {}", t.name);
        // Bytes that end one short of the storage: refused by range, naming the tensor.
        if let Some(short) = t.storage_range.end.checked_sub(1) {
            let want = TorchError::OutOfBounds {
                tensor: t.name.clone(),
                needed: t.storage_range.end,
                available: short,
            };
            let cut = &data[..short as usize];
            assert_eq!(t.storage_bytes(cut), Err(want.clone()));
            assert_eq!(t.bytes(cut).map(|b| b.len()), Err(want.clone()));
            check_error(&want);
            // A source cut short after opening: its reach is still there, or the read
            // is refused naming the tensor.
            if let Ok(whole) = &whole {
                match t.read_at(cut) {
                    Ok(bytes) => assert_eq!(&bytes, whole, "tensor {}", t.name),
                    Err(e) => {
                        let eof = TorchError::Read {
                            tensor: t.name.clone(),
                            kind: std::io::ErrorKind::UnexpectedEof,
                        };
                        assert_eq!(e, eof);
                        check_error(&e);
                    }
                }
            }
        }
    }
    match convert_to_safetensors(data, None) {
        Ok(out) => {
            let st = safetensors::SafeTensors::deserialize(&out).unwrap();
            assert!(st.len() <= checkpoint.tensors.len());
        }
        Err(e) => check_error(&e),
    }
    // Under the first tensor's top-level key: names relative to it, or a typed error.
    if let Some(first) = checkpoint.tensors.first() {
        let key = first.name.split('.').next().unwrap_or_default();
        match convert_to_safetensors(data, Some(key)) {
            Ok(out) => {
                let st = safetensors::SafeTensors::deserialize(&out).unwrap();
                assert!(st.len() <= checkpoint.tensors.len());
            }
            Err(e) => check_error(&e),
        }
    }
    if let Err(e) = convert_to_safetensors(data, Some("\u{0}no such key")) {
        check_error(&e);
    }
}

/// The path entry points against the bytes ones: `read_file` reads the bytes back,
/// `list_tensors_file` (lazy) lists what `list_tensors` lists, `convert_file` (lazy
/// input, tensors copied file to file) writes exactly the bytes
/// `convert_to_safetensors` returns, or each fails with the same error; converting the
/// file onto itself does too (and leaves it untouched on failure); once the file is
/// gone, each refuses with an I/O error naming its path. Files under the temporary
/// directory, named after the process and a counter: neither parallel fuzzers nor
/// test threads share them.
fn check_convert_file(data: &[u8]) {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = std::env::temp_dir();
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let id = format!("{}-{call}", std::process::id());
    let input = dir.join(format!("pickleproof-fuzz-{id}.pt"));
    let output = dir.join(format!("pickleproof-fuzz-{id}.safetensors"));
    if std::fs::write(&input, data).is_err() {
        return;
    }
    let _ = std::fs::remove_file(&output);
    assert!(
        read_file(&input).unwrap() == data,
        "read_file read other bytes"
    );
    assert_eq!(list_tensors_file(&input), list_tensors(data));
    let in_memory = convert_to_safetensors(data, None);
    let to_file = convert_file(&input, &output, None);
    match (&in_memory, to_file) {
        (Ok(bytes), Ok(())) => {
            let written = std::fs::read(&output).unwrap();
            assert!(
                &written == bytes,
                "convert_file wrote other bytes than convert_to_safetensors"
            );
        }
        (Err(a), Err(b)) => assert_eq!(a, &b),
        (a, b) => panic!(
            "in memory: {:?}, to a file: {b:?}",
            a.as_ref().map(|v| v.len())
        ),
    }
    // Onto itself: read whole first, so the same output (or error, the file intact).
    let onto_itself = convert_file(&input, &input, None);
    let after = std::fs::read(&input).unwrap();
    match (&in_memory, onto_itself) {
        (Ok(bytes), Ok(())) => assert!(&after == bytes, "converted onto itself: other bytes"),
        (Err(a), Err(b)) => {
            assert_eq!(a, &b);
            assert!(
                after == data,
                "a refused conversion onto itself changed the file"
            );
        }
        (a, b) => panic!(
            "in memory: {:?}, onto itself: {b:?}",
            a.as_ref().map(|v| v.len())
        ),
    }
    let _ = std::fs::remove_file(&input);
    let _ = std::fs::remove_file(&output);
    // Gone: an I/O error naming the path, and no output created.
    let missing = TorchError::Io {
        kind: std::io::ErrorKind::NotFound,
        path: input.display().to_string(),
    };
    assert_eq!(convert_file(&input, &output, None), Err(missing.clone()));
    assert_eq!(list_tensors_file(&input), Err(missing.clone()));
    assert!(!output.exists(), "a failed conversion created its output");
    check_error(&missing);
    assert!(missing.to_string().contains(&input.display().to_string()));
}

/// A refusal renders, has a stable name, and names its tensor when it is about one
/// (the "each failure a typed error naming the tensor").
fn check_error(e: &crate::torch::TorchError) {
    let text = e.to_string();
    assert!(!text.is_empty() && !e.name().is_empty());
    if let Some(tensor) = e.tensor() {
        assert!(text.contains(tensor), "{text} does not name {tensor}");
    }
}

/// The listing (`pickleproof tensors`) is the checkpoint's tensors, one row each, and
/// its text and JSON renderings hold every row.
fn check_rows(data: &[u8], checkpoint: &crate::torch::Checkpoint<'_>) {
    let rows = list_tensors(data).unwrap();
    assert_eq!(rows.len(), checkpoint.tensors.len());
    for (row, t) in rows.iter().zip(&checkpoint.tensors) {
        assert_eq!(
            (row.name.as_str(), row.dtype, &row.shape, row.bytes),
            (t.name.as_str(), t.dtype.name(), &t.shape, t.nbytes())
        );
        assert_eq!(DType::from_name(t.dtype.name()), Some(t.dtype));
        assert!(t.dtype.swap_unit() <= t.dtype.size().max(1));
        let _ = t.is_contiguous();
    }
    let text = to_text(&rows);
    assert!(text.lines().count() >= rows.len());
    let json = to_json(&rows);
    super::check_json_balanced(&json);
    assert_eq!(json.matches("\"dtype\":").count(), rows.len());
}

/// A stored ZIP `archive/data.pkl` = `pickle`, `archive/data/0..3` = 64 bytes each.
pub fn checkpoint_around(pickle: &[u8]) -> Vec<u8> {
    let storage: Vec<u8> = (0u8..64).collect();
    checkpoint_with(pickle, &[&storage, &storage, &storage, &storage])
}

/// A stored ZIP `archive/data.pkl` = `pickle`, `archive/data/<i>` = `storages[i]`
/// (each under 4 GiB: no ZIP64 records).
pub fn checkpoint_with(pickle: &[u8], storages: &[&[u8]]) -> Vec<u8> {
    let mut records: Vec<(String, &[u8])> = vec![("archive/data.pkl".to_owned(), pickle)];
    for (key, storage) in storages.iter().enumerate() {
        records.push((format!("archive/data/{key}"), storage));
    }
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in &records {
        let offset = out.len() as u32;
        let crc = crc32(data);
        let size = data.len() as u32;
        let header = |sig: u32, buf: &mut Vec<u8>, central: bool| {
            buf.extend_from_slice(&sig.to_le_bytes());
            if central {
                buf.extend_from_slice(&20u16.to_le_bytes());
            }
            buf.extend_from_slice(&20u16.to_le_bytes()); // version needed
            buf.extend_from_slice(&[0; 6]); // flags, method, time
            buf.extend_from_slice(&0u16.to_le_bytes()); // date
            buf.extend_from_slice(&crc.to_le_bytes());
            buf.extend_from_slice(&size.to_le_bytes());
            buf.extend_from_slice(&size.to_le_bytes());
            buf.extend_from_slice(&(name.len() as u16).to_le_bytes());
            buf.extend_from_slice(&0u16.to_le_bytes()); // extra
            if central {
                buf.extend_from_slice(&[0; 10]); // comment, disk, attributes
                buf.extend_from_slice(&offset.to_le_bytes());
            }
            buf.extend_from_slice(name.as_bytes());
        };
        header(0x0403_4b50, &mut out, false);
        out.extend_from_slice(data);
        header(0x0201_4b50, &mut central, true);
    }
    let dir_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    let n = records.len() as u16;
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&dir_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoke_every_checkpoint_of_the_corpus() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/torch");
        for sub in [dir.clone(), dir.join("hostile"), dir.join("fuzz")] {
            let Ok(entries) = std::fs::read_dir(sub) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "pt") {
                    run_torch(&std::fs::read(path).unwrap());
                }
            }
        }
    }

    #[test]
    fn a_bare_pickle_becomes_a_checkpoint_with_four_storages() {
        // {'w': _rebuild_tensor_v2(('storage', torch.FloatStorage, '0', 'cpu', 16), 2,
        //   (3,), (1,), False, OrderedDict())}
        let pickle = b"\x80\x02}X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x10tQK\x02K\x03\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtRs.";
        let file = checkpoint_around(pickle);
        let ckpt = open(&file).unwrap();
        let t = &ckpt.tensors[0];
        assert_eq!(
            (t.name.as_str(), t.shape.as_slice(), t.storage_offset),
            ("w", &[3u64][..], 2)
        );
        assert_eq!(
            t.bytes(&file).unwrap().as_ref(),
            &(8u8..20).collect::<Vec<u8>>()[..]
        );
        run_torch(pickle);
    }
}
