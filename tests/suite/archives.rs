//! ZIP archives (`corpus/archives/`, written by its `generate.py` the way `torch.save`
//! lays them out): the reader finds the pickles, decodes and scans them, and refuses
//! what it does not read (compressed entries) with a clear error.

use pickleproof::container::zip::{ZipArchive, ZipLimits};
use pickleproof::{Decoder, ErrorKind, Node, Policy};
use serde_json::Value;

use crate::support::corpus_dir;

fn manifest() -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(corpus_dir().join("archives/manifest.json")).unwrap();
    match serde_json::from_str(&text).unwrap() {
        Value::Object(map) => map,
        other => panic!("manifest: {other}"),
    }
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(corpus_dir().join("archives").join(name)).unwrap()
}

#[test]
fn every_archive_lists_its_pickles_and_meets_its_expectation() {
    let manifest = manifest();
    assert_eq!(manifest.len(), 3);
    for (name, want) in &manifest {
        let bytes = read(name);
        let archive = ZipArchive::open(&bytes, ZipLimits::default()).unwrap();
        assert_eq!(
            archive.entries().len() as u64,
            want["entries"].as_u64().unwrap(),
            "{name}: entries"
        );
        let pickles = archive.pickles();
        let names: Vec<&str> = pickles.iter().map(|e| e.name.as_str()).collect();
        let want_names: Vec<&str> = want["pickles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(names, want_names, "{name}: pickles");
        let entry = &pickles[0];
        let decoder = Decoder::new().policy(Policy::pytorch());
        match &want["pytorch_policy"] {
            Value::String(s) if s == "ok" => {
                let data = archive.read(entry).unwrap();
                let decoded = decoder.decode(&data).unwrap();
                // An OrderedDict of three tensors, each a _rebuild_tensor_v2 call on a
                // persistent storage id.
                let Some(Node::Object(state)) = decoded.graph.get(decoded.root) else {
                    panic!("{name}: root is not an object");
                };
                assert_eq!(state.dictitems.len(), 3, "{name}: tensors");
                assert!(decoder.scan(&data).is_clean(), "{name}: scan");
            }
            Value::String(s) if s == "compressed" => {
                // Deflate: read with the `compression` feature, refused without it.
                let read = archive.read(entry);
                #[cfg(feature = "compression")]
                {
                    let data = read.unwrap();
                    assert!(decoder.scan(&data).is_clean(), "{name}: scan");
                }
                #[cfg(not(feature = "compression"))]
                {
                    let err = read.unwrap_err();
                    assert_eq!(
                        err.kind(),
                        &ErrorKind::Unsupported(
                            "deflated ZIP members need the `compression` feature"
                        ),
                        "{name}"
                    );
                }
            }
            Value::Object(refusal) => {
                let data = archive.read(entry).unwrap();
                let offset = refusal["refused_offset"].as_u64().unwrap();
                let err = decoder.decode(&data).unwrap_err();
                assert_eq!(
                    (err.kind().clone(), err.offset()),
                    (
                        ErrorKind::Forbidden {
                            module: refusal["module"].as_str().unwrap().into(),
                            name: refusal["name"].as_str().unwrap().into(),
                        },
                        offset
                    ),
                    "{name}"
                );
                let report = decoder.scan(&data);
                let first = report.refused().next().unwrap();
                assert_eq!(first.offset, offset, "{name}: scan");
            }
            other => panic!("{name}: unknown expectation {other}"),
        }
    }
}

#[test]
fn a_directory_over_its_limits_is_refused_before_it_is_read() {
    let file = read("tiny_state_dict.pt");
    let limits = ZipLimits {
        max_entries: 5,
        ..ZipLimits::default()
    };
    let err = ZipArchive::open(&file, limits).err().unwrap();
    assert_eq!(
        err.kind(),
        &ErrorKind::Limit {
            resource: pickleproof::Resource::InputBytes,
            limit: 5,
            requested: 6
        }
    );
}

#[test]
fn archive_bytes_that_are_not_zip_are_malformed() {
    let err = ZipArchive::open(b"N.", ZipLimits::default()).err().unwrap();
    assert_eq!(
        err.kind(),
        &ErrorKind::Malformed("no ZIP end-of-directory record")
    );
}
