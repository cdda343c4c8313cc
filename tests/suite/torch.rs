//! corpus/torch/: every generated checkpoint against its manifest (tensors, bytes, and
//! the conversion read back), every hostile one refused with its exact error.

use std::path::{Path, PathBuf};

use pickleproof::torch::{self, TorchError};
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/torch")
}

fn manifest() -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(dir().join("manifest.json")).unwrap();
    match serde_json::from_str(&text).unwrap() {
        Value::Object(m) => m,
        _ => panic!("manifest is not an object"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn u64s(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

#[test]
fn every_benign_checkpoint_matches_its_manifest() {
    let mut checked = 0;
    for (file, want) in manifest() {
        if want["kind"] != "benign" {
            continue;
        }
        let bytes = std::fs::read(dir().join(&file)).unwrap();
        let ckpt = torch::open(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(ckpt.layout.name(), want["layout"], "{file}");
        let tensors = want["tensors"].as_array().unwrap();
        let names: Vec<&str> = ckpt.tensors.iter().map(|t| t.name.as_str()).collect();
        let want_names: Vec<&str> = tensors
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, want_names, "{file}");
        for (t, w) in ckpt.tensors.iter().zip(tensors) {
            let at = format!("{file}: {}", t.name);
            assert_eq!(t.dtype.name(), w["dtype"], "{at}");
            assert_eq!(t.shape, u64s(&w["shape"]), "{at}");
            assert_eq!(t.stride, u64s(&w["stride"]), "{at}");
            assert_eq!(t.storage_offset, w["offset"].as_u64().unwrap(), "{at}");
            assert_eq!(t.storage_key, w["storage_key"], "{at}");
            assert_eq!(t.requires_grad, w["requires_grad"], "{at}");
            assert_eq!(t.parameter, w["parameter"], "{at}");
            // Bit-exact elements, row-major little-endian, read by range.
            assert_eq!(hex(&t.bytes(&bytes).unwrap()), w["hex"], "{at}");
            let range = t.storage_range.start as usize..t.storage_range.end as usize;
            assert!(range.end <= bytes.len(), "{at}");
            assert_eq!(t.storage_bytes(&bytes).unwrap(), &bytes[range], "{at}");
        }
        let key = want["convert_key"].as_str();
        match (&want["convert"], torch::convert_to_safetensors(&bytes, key)) {
            (Value::String(ok), Ok(out)) if ok == "ok" => {
                let st = safetensors::SafeTensors::deserialize(&out).unwrap();
                let (_, meta) = safetensors::SafeTensors::read_metadata(&out).unwrap();
                let info = meta.metadata().as_ref().unwrap();
                assert_eq!(info.get("format").map(String::as_str), Some("pt"));
                let prefix = key.map(|k| format!("{k}.")).unwrap_or_default();
                let mut written = 0;
                for w in tensors {
                    let Some(name) = w["name"].as_str().unwrap().strip_prefix(&prefix) else {
                        continue;
                    };
                    let view = st
                        .tensor(name)
                        .unwrap_or_else(|e| panic!("{file}: {name}: {e}"));
                    assert_eq!(hex(view.data()), w["hex"], "{file}: {name}");
                    let shape: Vec<u64> = view.shape().iter().map(|&d| d as u64).collect();
                    assert_eq!(shape, u64s(&w["shape"]), "{file}: {name}");
                    written += 1;
                }
                assert_eq!(st.len(), written, "{file}");
            }
            (Value::Object(e), Err(err)) => {
                assert_eq!(err.name(), e["error"], "{file}: {err}");
                match err {
                    TorchError::Aliased { tensors, .. } => {
                        let want: Vec<&str> = e["tensors"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|v| v.as_str().unwrap())
                            .collect();
                        assert_eq!(tensors, want, "{file}");
                    }
                    other => assert_eq!(other.tensor(), e["tensor"].as_str(), "{file}"),
                }
            }
            (want, got) => panic!("{file}: want {want}, got {got:?}"),
        }
        checked += 1;
    }
    assert_eq!(checked, 16);
}

fn open_hostile(name: &str) -> TorchError {
    let bytes = std::fs::read(dir().join("hostile").join(name)).unwrap();
    let err = torch::open(&bytes).unwrap_err();
    // Listing and converting refuse with the same error.
    assert_eq!(torch::list_tensors(&bytes).unwrap_err(), err);
    assert_eq!(
        torch::convert_to_safetensors(&bytes, None).unwrap_err(),
        err
    );
    err
}

fn s(x: &str) -> String {
    x.to_owned()
}

#[test]
fn every_hostile_checkpoint_is_refused_with_its_exact_error() {
    let cases = [
        (
            "storage_size_mismatch.pt",
            TorchError::StorageSizeMismatch {
                tensor: s("w"),
                key: s("1"),
                expected: 24,
                actual: 20,
            },
        ),
        (
            "out_of_bounds_view.pt",
            TorchError::OutOfBounds {
                tensor: s("w"),
                needed: 20,
                available: 16,
            },
        ),
        (
            "negative_stride.pt",
            TorchError::Negative {
                tensor: s("w"),
                field: "stride",
                value: -1,
            },
        ),
        (
            "huge_shape.pt",
            TorchError::TooLarge {
                tensor: s("w"),
                field: "numel",
                limit: 1 << 40,
            },
        ),
        (
            "duplicate_storage_key.pt",
            TorchError::DuplicateStorage {
                tensor: s("w"),
                key: s("0"),
            },
        ),
        (
            "storage_key_other_dtype.pt",
            TorchError::StorageConflict {
                tensor: s("b"),
                key: s("0"),
                first: s("a"),
            },
        ),
        (
            "missing_storage.pt",
            TorchError::MissingStorage {
                tensor: s("w"),
                key: s("0"),
            },
        ),
        (
            "forbidden_global.pt",
            TorchError::Forbidden {
                module: s("os"),
                name: s("system"),
                offset: 2,
            },
        ),
        (
            "unknown_storage_class.pt",
            TorchError::UnknownDtype {
                tensor: s("w"),
                name: s("torch.FloatTensor"),
            },
        ),
        (
            "unknown_dtype.pt",
            TorchError::UnknownDtype {
                tensor: s("w"),
                name: s("torch.int4"),
            },
        ),
        (
            "rank_mismatch.pt",
            TorchError::RankMismatch {
                tensor: s("w"),
                shape: 2,
                stride: 1,
            },
        ),
        (
            "rank_too_large.pt",
            TorchError::TooLarge {
                tensor: s("w"),
                field: "rank",
                limit: 64,
            },
        ),
        (
            "huge_offset.pt",
            TorchError::TooLarge {
                tensor: s("w"),
                field: "storage_offset",
                limit: i64::MAX as u64,
            },
        ),
        (
            "empty_huge_dim.pt",
            TorchError::TooLarge {
                tensor: s("w"),
                field: "shape",
                limit: 1 << 40,
            },
        ),
        (
            "unsupported_rebuild.pt",
            TorchError::UnsupportedTensor {
                tensor: s("w"),
                rebuild: s("torch._utils._rebuild_sparse_tensor"),
            },
        ),
        (
            "parameter_of_int.pt",
            TorchError::Malformed {
                tensor: s("w"),
                what: "a Parameter's data is not a tensor",
            },
        ),
        (
            "parameter_of_parameter.pt",
            TorchError::Malformed {
                tensor: s("w"),
                what: "a Parameter's data is not a tensor",
            },
        ),
        (
            "long_names.pt",
            TorchError::Limit {
                what: "name bytes",
                limit: 64 << 20,
            },
        ),
        (
            "legacy_duplicate_key.pt",
            TorchError::DuplicateStorage {
                tensor: s("w"),
                key: s("94000000000000"),
            },
        ),
        (
            "legacy_cut_short.pt",
            TorchError::NotACheckpoint("legacy checkpoint cut short"),
        ),
        (
            "legacy_view_out_of_bounds.pt",
            TorchError::OutOfBounds {
                tensor: s("w"),
                needed: 20,
                available: 16,
            },
        ),
        (
            "tar_out_of_bounds.pt",
            TorchError::OutOfBounds {
                tensor: s("w"),
                needed: 20,
                available: 16,
            },
        ),
        (
            "tar_view_out_of_bounds.pt",
            TorchError::OutOfBounds {
                tensor: s("w"),
                needed: 20,
                available: 16,
            },
        ),
        (
            "tar_storage_count_past_end.pt",
            TorchError::NotACheckpoint(
                "tar checkpoint: more storages than its storages member holds",
            ),
        ),
        (
            "legacy_view_key_conflict.pt",
            TorchError::StorageConflict {
                tensor: s("b"),
                key: s("95000000000001"),
                first: s("a"),
            },
        ),
    ];
    let manifest = manifest();
    let listed = manifest
        .values()
        .filter(|v| v["kind"] == "hostile" && v.get("stage").is_none())
        .count();
    assert_eq!(listed, cases.len());
    for (name, want) in cases {
        let got = open_hostile(name);
        assert_eq!(got, want, "{name}");
        let m = &manifest[&format!("hostile/{name}")];
        assert_eq!(got.name(), m["error"], "{name}");
        assert_eq!(got.tensor(), m["tensor"].as_str(), "{name}");
    }
}

/// Hostile checkpoints whose every element lies in its storage, so they open and
/// list, but whose conversion (and reading of the tensor's bytes) is refused.
#[test]
fn hostile_views_open_but_refuse_to_convert_with_their_exact_error() {
    let cases = [(
        "broadcast_view.pt",
        TorchError::TooLarge {
            tensor: s("w"),
            field: "gathered bytes",
            limit: 4 + (1 << 20),
        },
    )];
    let manifest = manifest();
    let listed = manifest
        .values()
        .filter(|v| v["kind"] == "hostile" && v["stage"] == "convert")
        .count();
    assert_eq!(listed, cases.len());
    for (name, want) in cases {
        let bytes = std::fs::read(dir().join("hostile").join(name)).unwrap();
        let ckpt = torch::open(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let rows = torch::list_tensors(&bytes).unwrap();
        assert_eq!(rows.len(), ckpt.tensors.len(), "{name}");
        let got = torch::convert_to_safetensors(&bytes, None).unwrap_err();
        assert_eq!(got, want, "{name}");
        let tensor = ckpt
            .tensors
            .iter()
            .find(|t| Some(t.name.as_str()) == got.tensor());
        assert_eq!(
            tensor.map(|t| t.bytes(&bytes).unwrap_err()),
            Some(want),
            "{name}"
        );
        let m = &manifest[&format!("hostile/{name}")];
        assert_eq!(got.name(), m["error"], "{name}");
        assert_eq!(got.tensor(), m["tensor"].as_str(), "{name}");
    }
}

#[test]
fn key_selects_a_sub_dict_and_names_are_relative_to_it() {
    let bytes = std::fs::read(dir().join("training.pt")).unwrap();
    let rows = torch::list_tensors(&bytes).unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "state_dict.layer1.weight",
            "state_dict.layer1.bias",
            "optimizer.state.0.step",
            "optimizer.state.0.exp_avg",
            "optimizer.state.0.exp_avg_sq"
        ]
    );
    assert_eq!(
        torch::to_json(&rows[..1]),
        r#"[{"name":"state_dict.layer1.weight","dtype":"float32","shape":[2,2],"bytes":16}]"#
    );
    assert_eq!(
        torch::convert_to_safetensors(&bytes, Some("nope")).unwrap_err(),
        TorchError::KeyNotFound { key: s("nope") }
    );
    // The non-tensor values stay graph values.
    let ckpt = torch::open(&bytes).unwrap();
    let repr = pickleproof::views::repr::repr(&ckpt.graph, ckpt.root);
    assert!(repr.contains("'epoch': 7"), "{repr}");
}

#[test]
fn non_overlapping_slices_of_one_storage_convert() {
    let bytes = std::fs::read(dir().join("shared.pt")).unwrap();
    let out = torch::convert_to_safetensors(&bytes, Some("buffers")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&out).unwrap();
    let mut names = st.names();
    names.sort();
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn convert_file_writes_what_convert_returns() {
    let input = dir().join("views.pt");
    let out = std::env::temp_dir().join(format!(
        "pickleproof-views-{}.safetensors",
        std::process::id()
    ));
    torch::convert_file(&input, &out, None).unwrap();
    let written = std::fs::read(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    let bytes = std::fs::read(&input).unwrap();
    assert_eq!(
        written,
        torch::convert_to_safetensors(&bytes, None).unwrap()
    );
}

#[test]
fn python_reads_the_conversions_back_bit_for_bit() {
    let python = ["/work/venv/bin/python", "python3"].into_iter().find(|p| {
        std::process::Command::new(p)
            .args(["-c", "import safetensors, numpy"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let Some(python) = python else {
        println!("skipped: no python3 with safetensors and numpy");
        return;
    };
    let outdir = std::env::temp_dir().join(format!("pickleproof-convert-{}", std::process::id()));
    std::fs::create_dir_all(&outdir).unwrap();
    for (file, want) in manifest() {
        if want["kind"] != "benign" || want["convert"] != "ok" {
            continue;
        }
        let bytes = std::fs::read(dir().join(&file)).unwrap();
        let out = torch::convert_to_safetensors(&bytes, want["convert_key"].as_str()).unwrap();
        std::fs::write(outdir.join(format!("{file}.safetensors")), out).unwrap();
    }
    let status = std::process::Command::new(python)
        .arg(dir().join("check_convert.py"))
        .arg(&outdir)
        .status()
        .unwrap();
    std::fs::remove_dir_all(&outdir).unwrap();
    assert!(status.success());
}

/// Every checkpoint of the corpus, benign or hostile, by path.
fn every_checkpoint() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for sub in [dir(), dir().join("hostile")] {
        for entry in std::fs::read_dir(sub).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "pt") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The file writer (lazy input, tensors copied file to file) against the in-memory
/// one: the same bytes, whole files compared, or the same error, for every checkpoint
/// (with the manifest's key for those converted under one, without, and with each
/// tensor's name as the key).
#[test]
fn convert_file_is_byte_identical_to_convert_to_safetensors() {
    let manifest = manifest();
    let out = std::env::temp_dir().join(format!(
        "pickleproof-identical-{}.safetensors",
        std::process::id()
    ));
    let mut compared = 0;
    for path in every_checkpoint() {
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let manifest_key = manifest
            .get(&name)
            .and_then(|m| m["convert_key"].as_str())
            .map(str::to_owned);
        let bytes = std::fs::read(&path).unwrap();
        // Each tensor alone too: the gathered (strided) and byte-swapped (big-endian)
        // ones of a checkpoint that refuses a whole conversion (aliases) included.
        let mut keys = vec![None, manifest_key];
        for row in torch::list_tensors(&bytes).unwrap_or_default() {
            keys.push(Some(row.name));
        }
        for key in keys {
            let _ = std::fs::remove_file(&out);
            let want = torch::convert_to_safetensors(&bytes, key.as_deref());
            let got = torch::convert_file(&path, &out, key.as_deref());
            match (want, got) {
                (Ok(want), Ok(())) => {
                    assert!(std::fs::read(&out).unwrap() == want, "{name} {key:?}");
                    compared += 1;
                }
                (Err(want), Err(got)) => assert_eq!(want, got, "{name} {key:?}"),
                (want, got) => panic!(
                    "{name} {key:?}: in memory {:?}, file {got:?}",
                    want.map(|b| b.len())
                ),
            }
        }
    }
    let _ = std::fs::remove_file(&out);
    assert!(compared >= 8, "only {compared} conversions compared");
}

/// Listing and opening from a file read lazily give what the whole bytes give, for
/// every checkpoint of the corpus.
#[test]
fn the_lazy_loader_opens_every_checkpoint_as_the_whole_file_does() {
    for path in every_checkpoint() {
        let bytes = std::fs::read(&path).unwrap();
        let image = torch::load_file(&path).unwrap();
        match (torch::open(&bytes), torch::open_image(&image)) {
            (Ok(whole), Ok(lazy)) => {
                assert_eq!(whole.tensors, lazy.tensors, "{path:?}");
                assert_eq!(whole.storages, lazy.storages, "{path:?}");
            }
            (Err(whole), Err(lazy)) => assert_eq!(whole, lazy, "{path:?}"),
            (whole, lazy) => panic!("{path:?}: {:?} / {:?}", whole.err(), lazy.err()),
        }
        assert_eq!(
            torch::list_tensors(&bytes).ok(),
            torch::list_tensors_file(&path).ok(),
            "{path:?}"
        );
    }
}

/// `convert_file` on `path` (holding `file`) writes exactly what
/// `convert_to_safetensors` returns for the bytes.
fn assert_file_converts_as_bytes(path: &Path, file: &[u8]) {
    let out = path.with_extension("safetensors");
    torch::convert_file(path, &out, None).unwrap();
    assert_eq!(
        std::fs::read(&out).unwrap(),
        torch::convert_to_safetensors(file, None).unwrap()
    );
    std::fs::remove_file(&out).unwrap();
}

/// Laziness without timing: a checkpoint with an 8 MiB storage is listed, converted
/// and opened after reading a few kilobytes of it (the loader counts what it reads).
#[test]
fn listing_reads_the_directory_and_the_pickle_not_the_storages() {
    // {'w': _rebuild_tensor_v2(('storage', torch.FloatStorage, '0', 'cpu', 2**21), 2,
    //   (3,), (1,), False, OrderedDict())}
    let pickle = b"\x80\x02}X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuJ\x00\x00\x20\x00tQK\x02K\x03\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtRs.";
    let storage: Vec<u8> = (0..8u32 << 20).map(|i| (i % 251) as u8).collect();
    let file = pickleproof::harness::torch::checkpoint_with(pickle, &[&storage]);
    let path = std::env::temp_dir().join(format!("pickleproof-lazy-{}.pt", std::process::id()));
    std::fs::write(&path, &file).unwrap();
    let image = torch::load_file(&path).unwrap();
    let read = image.bytes_read();
    assert!(read < 4096, "read {read} bytes of {}", file.len());
    let lazy = torch::open_image(&image).unwrap();
    assert_eq!(lazy.tensors, torch::open(&file).unwrap().tensors);
    assert_eq!(
        lazy.tensors[0].storage_range.end - lazy.tensors[0].storage_range.start,
        8 << 20
    );
    // Opening read nothing more.
    assert_eq!(image.bytes_read(), read);
    let rows = torch::list_tensors_file(&path).unwrap();
    assert_eq!((rows[0].name.as_str(), rows[0].bytes), ("w", 12));
    // The same image through memory: the loader is the same code over any source.
    let in_memory = torch::load(file.as_slice()).unwrap();
    assert_eq!(in_memory.bytes_read(), read);
    assert_file_converts_as_bytes(&path, &file);
    std::fs::remove_file(&path).unwrap();
}

/// Converting a file onto itself reads it whole first (the file writer would truncate
/// what it still has to copy).
#[test]
fn converting_a_file_onto_itself_does_not_lose_it() {
    let src = dir().join("params.pt");
    let path = std::env::temp_dir().join(format!("pickleproof-self-{}.pt", std::process::id()));
    std::fs::copy(&src, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    torch::convert_file(&path, &path, None).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        torch::convert_to_safetensors(&bytes, None).unwrap()
    );
    std::fs::remove_file(&path).unwrap();
}

/// Tensors in a set and a frozenset are found, numbered in the order the stream adds
/// them (as list items are), and converted under those names.
#[test]
fn tensors_in_sets_are_numbered_in_stream_order() {
    let bytes = std::fs::read(dir().join("sets.pt")).unwrap();
    let rows = torch::list_tensors(&bytes).unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["set.0", "set.1", "frozen.0", "after"]);
    let out = torch::convert_to_safetensors(&bytes, Some("set")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&out).unwrap();
    let mut names = st.names();
    names.sort();
    assert_eq!(names, ["0", "1"]);
    assert_eq!(st.tensor("1").unwrap().shape(), [3]);
}

/// Legacy storage views: each tensor's storage is its view's slice of the root record
/// (listed as a storage of its own, naming its root), and tensors on overlapping
/// views of one root are aliases, refused by conversion under the root's key.
#[test]
fn legacy_storage_views_are_slices_of_their_root() {
    let bytes = std::fs::read(dir().join("legacy_views.pt")).unwrap();
    let ckpt = torch::open(&bytes).unwrap();
    let root = ckpt
        .storages
        .iter()
        .find(|s| s.key == "94000000000000")
        .unwrap()
        .clone();
    assert_eq!((root.numel, root.root.as_deref()), (12, None));
    let views: Vec<(&str, u64, Option<&str>, u64, u64)> = ckpt
        .storages
        .iter()
        .filter(|s| s.root.is_some())
        .map(|s| {
            (
                s.key.as_str(),
                s.numel,
                s.root.as_deref(),
                s.range.start,
                s.range.end,
            )
        })
        .collect();
    let start = root.range.start;
    assert_eq!(
        views[..2],
        [
            (
                "95000000000001",
                6,
                Some("94000000000000"),
                start,
                start + 24
            ),
            (
                "95000000000002",
                6,
                Some("94000000000000"),
                start + 24,
                start + 48
            ),
        ]
    );
    let b = ckpt.tensors.iter().find(|t| t.name == "b").unwrap();
    assert_eq!(b.storage_range, start + 24..start + 48);
    // Overlapping views: the root's key and both tensors.
    let bytes = std::fs::read(dir().join("legacy_view_aliases.pt")).unwrap();
    assert_eq!(
        torch::convert_to_safetensors(&bytes, None).unwrap_err(),
        TorchError::Aliased {
            key: s("94000000000000"),
            tensors: vec![s("x"), s("y")],
        }
    );
    // Each alone converts.
    let out = torch::convert_to_safetensors(&bytes, Some("y")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&out).unwrap();
    assert_eq!(st.tensor("y").unwrap().shape(), [4]);
}

/// A legacy checkpoint (five pickles, then each storage as an 8-byte count and its
/// elements) of two tensors: `w` on a FloatStorage `0` of 2^20 floats, `b` on a
/// ByteStorage `1` of 2^21 bytes: 6 MiB of storages behind 500 bytes of pickles.
fn legacy_with_big_storages() -> Vec<u8> {
    let parts: [&[u8]; 5] = [
        b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.",
        b"\x80\x02M\xe9\x03.",
        b"\x80\x02}X\x0d\x00\x00\x00little_endian\x88s.",
        b"\x80\x02}(X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuJ\x00\x00\x10\x00NtQK\x02K\x03\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtRX\x01\x00\x00\x00bctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nByteStorage\nX\x01\x00\x00\x001X\x03\x00\x00\x00cpuJ\x00\x00\x20\x00NtQK\x00K\x04\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtRu.",
        b"\x80\x02](X\x01\x00\x00\x000X\x01\x00\x00\x001e.",
    ];
    let mut file = parts.concat();
    file.extend_from_slice(&(1u64 << 20).to_le_bytes());
    file.extend((0..4u32 << 20).map(|i| (i % 251) as u8));
    file.extend_from_slice(&(1u64 << 21).to_le_bytes());
    file.extend((0..2u32 << 20).map(|i| (i % 241) as u8));
    file
}

/// Laziness of the legacy layout: its pickles and each storage's count are read, not
/// the storages, and the image opens as the whole file does; cut short, by path and
/// by bytes alike.
#[test]
fn a_legacy_checkpoint_is_listed_without_reading_its_storages() {
    let file = legacy_with_big_storages();
    let image = torch::load(file.as_slice()).unwrap();
    let read = image.bytes_read();
    // The first block of the pickles (64 KiB) and two 8-byte counts.
    assert!(
        read <= (64 << 10) + 16,
        "read {read} bytes of {}",
        file.len()
    );
    let whole = torch::open(&file).unwrap();
    let lazy = torch::open_image(&image).unwrap();
    assert_eq!(image.bytes_read(), read);
    assert_eq!(lazy.layout, torch::Layout::Legacy);
    assert_eq!(lazy.tensors, whole.tensors);
    assert_eq!(lazy.storages, whole.storages);
    let names: Vec<(&str, u64)> = lazy
        .storages
        .iter()
        .map(|s| (s.key.as_str(), s.range.end - s.range.start))
        .collect();
    assert_eq!(names, [("0", 4 << 20), ("1", 2 << 20)]);
    // Through a file: the same listing and the same conversion.
    let path = std::env::temp_dir().join(format!("pickleproof-legacy-{}.pt", std::process::id()));
    std::fs::write(&path, &file).unwrap();
    assert!(torch::load_file(&path).unwrap().bytes_read() <= read);
    assert_eq!(
        torch::list_tensors_file(&path).unwrap(),
        torch::list_tensors(&file).unwrap()
    );
    assert_file_converts_as_bytes(&path, &file);
    // Cut inside the first storage, inside the second's count, inside the key list:
    // the same exact error by path as by bytes.
    let pickles = file.len() - (6 << 20) - 16;
    let cuts = [
        (
            pickles + 8 + 100,
            TorchError::StorageSizeMismatch {
                tensor: "w".into(),
                key: "0".into(),
                expected: 4 << 20,
                actual: 100,
            },
        ),
        (
            pickles + 8 + (4 << 20) + 3,
            TorchError::MissingStorage {
                tensor: "b".into(),
                key: "1".into(),
            },
        ),
    ];
    // Inside the key list: the decoder's end of input, at the list's last byte read.
    let eof = match torch::open(&file[..pickles - 3]).unwrap_err() {
        TorchError::Pickle(e) if e.is_eof() => TorchError::Pickle(e),
        other => panic!("{other:?}"),
    };
    for (at, want) in cuts.into_iter().chain([(pickles - 3, eof)]) {
        let cut = &file[..at];
        assert_eq!(torch::open(cut).unwrap_err(), want, "cut at {at}");
        std::fs::write(&path, cut).unwrap();
        let image = torch::load_file(&path).unwrap();
        assert!(image.bytes_read() <= (64 << 10) + 16, "cut at {at}");
        assert_eq!(torch::open_image(&image).unwrap_err(), want, "cut at {at}");
        assert_eq!(
            torch::list_tensors_file(&path).unwrap_err(),
            want,
            "cut at {at}"
        );
    }
    std::fs::remove_file(&path).unwrap();
}

/// A source that counts the bytes asked of it, and can end early.
struct Counting<'a> {
    data: &'a [u8],
    asked: std::cell::Cell<u64>,
}

impl torch::ReadAt for &Counting<'_> {
    fn size(&self) -> std::io::Result<u64> {
        Ok(self.data.len() as u64)
    }

    fn fill_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.asked.set(self.asked.get() + buf.len() as u64);
        self.data.fill_at(offset, buf)
    }
}

/// Bytes of storage a tensor's view reaches: from its first element to one past its
/// last (strides are validated non-negative).
fn reach(t: &torch::Tensor) -> u64 {
    if t.numel() == 0 {
        return 0;
    }
    let last: u64 = t
        .shape
        .iter()
        .zip(&t.stride)
        .map(|(d, s)| (d - 1) * s)
        .sum();
    (last + 1) * t.dtype.size()
}

/// `Tensor::read_at` gives exactly what `Tensor::bytes` gives over the whole file, for
/// every tensor of every checkpoint that opens (strided, broadcast, big-endian and
/// legacy views included), reading only the bytes the tensor's view reaches, once;
/// from a `File` too. A source cut before a tensor's bytes is `Read`, naming it.
#[test]
fn read_at_reads_only_a_tensors_reach_and_gives_its_bytes() {
    let mut compared = 0;
    for path in every_checkpoint() {
        let file = std::fs::read(&path).unwrap();
        let Ok(checkpoint) = torch::open(&file) else {
            continue;
        };
        let image = torch::load_file(&path).unwrap();
        for t in &checkpoint.tensors {
            let source = Counting {
                data: &file,
                asked: std::cell::Cell::new(0),
            };
            let got = t.read_at(&source);
            let want = t.bytes(&file).map(|b| b.into_owned());
            assert_eq!(got, want, "{path:?} {}", t.name);
            assert_eq!(t.read_at(image.source()), want, "{path:?} {}", t.name);
            if want.is_ok() {
                assert_eq!(source.asked.get(), reach(t), "{path:?} {}", t.name);
                compared += 1;
            }
            if reach(t) > 0 {
                let end = t.storage_range.start + t.storage_offset * t.dtype.size() + reach(t);
                let cut = Counting {
                    data: &file[..end as usize - 1],
                    asked: std::cell::Cell::new(0),
                };
                if want.is_ok() {
                    assert_eq!(
                        t.read_at(&cut),
                        Err(TorchError::Read {
                            tensor: t.name.clone(),
                            kind: std::io::ErrorKind::UnexpectedEof,
                        }),
                        "{path:?} {}",
                        t.name
                    );
                }
            }
        }
    }
    assert!(compared >= 90, "only {compared} tensors compared");
}

#[test]
fn a_torch_tar_checkpoint_is_read() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("corpus/benign/pt_legacy_tar.pt");
    let bytes = std::fs::read(&path).unwrap();
    let checkpoint = torch::open(&bytes).unwrap();
    assert_eq!(checkpoint.layout, torch::Layout::LegacyTar);
    assert_eq!(checkpoint.layout.name(), "torch-legacy-tar");
    let rows: Vec<(&str, Vec<u64>, u64)> = checkpoint
        .tensors
        .iter()
        .map(|t| (t.name.as_str(), t.shape.clone(), t.storage_range.start))
        .collect();
    assert_eq!(
        rows,
        [
            ("0.weight", vec![2, 4], 3643),
            ("0.bias", vec![2], 3729),
            ("2.weight", vec![1, 2], 3791),
            ("2.bias", vec![1], 3853),
        ]
    );
    // Lazily, the same.
    let image = torch::load_file(&path).unwrap();
    let lazy = torch::open_image(&image).unwrap();
    assert_eq!(lazy.tensors, checkpoint.tensors);
    assert_eq!(lazy.storages, checkpoint.storages);
    // A rebuild call in a tar checkpoint's pickle is not how torch 0.3 wrote tensors
    // (its `legacy_load` would hand `_rebuild_tensor_v2` the string 'storage').
    let bytes = std::fs::read(root.join("corpus/containers/legacy_tar.pt")).unwrap();
    assert_eq!(
        torch::open(&bytes).unwrap_err(),
        TorchError::Malformed {
            tensor: s("w"),
            what: "a rebuild call in a tar checkpoint, whose tensors are persistent ids"
        }
    );
    // A tar archive without a `pickle` member is not a checkpoint.
    let mut renamed = bytes.clone();
    let at = (0..bytes.len() / 512)
        .map(|b| b * 512)
        .find(|&h| bytes[h..].starts_with(b"pickle\0"))
        .unwrap();
    renamed[at + 5] = b'd';
    let sum = std::str::from_utf8(&bytes[at + 148..at + 154]).unwrap();
    let sum = u32::from_str_radix(sum.trim(), 8).unwrap() - 1;
    renamed[at + 148..at + 154].copy_from_slice(format!("{sum:06o}").as_bytes());
    assert_eq!(
        torch::open(&renamed).unwrap_err(),
        TorchError::NotACheckpoint("neither a ZIP nor a legacy torch.save file")
    );
}
