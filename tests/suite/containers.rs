//! `container::open` on the files of `corpus/containers/` (written by its
//! `generate.py` with numpy, joblib, pandas and the standard compressors, and
//! PyTorch's layouts with stand-ins): each file's layers, pieces and anomalies are
//! what `manifest.json` says, every piece decodes to STOP (joblib pieces through
//! `JoblibSink`, consuming the whole piece), bombs stop at the output limit, and no
//! truncation of any file panics.

use pickleproof::container::joblib::JoblibSink;
use pickleproof::container::{open, ContainerLimits, Contents, PieceKind};
use pickleproof::{
    At, Decoder, ErrorKind, Event, Graph, Node, OnRefusal, Policy, Resource, Sink, Verdict,
};
use serde_json::Value;

use crate::support::corpus_dir;

fn manifest() -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(corpus_dir().join("containers/manifest.json")).unwrap();
    match serde_json::from_str(&text).unwrap() {
        Value::Object(map) => map,
        other => panic!("manifest: {other}"),
    }
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(corpus_dir().join("containers").join(name)).unwrap()
}

/// Every import and call, as `(offset, "import m.n")` / `(offset, "call m.n")`.
#[derive(Default)]
struct Sites(Vec<(u64, String)>);

impl Sink for Sites {
    fn site(&mut self, at: At, event: Event<'_>, _: Verdict, graph: &Graph<'_>) -> u64 {
        let what = match event {
            Event::Import { module, name, .. } => format!("import {module}.{name}"),
            Event::Call { callable, .. } => match graph.get(callable) {
                Some(Node::Global(g)) => format!("call {}.{}", g.module, g.name),
                _ => "call (computed)".to_owned(),
            },
            Event::PersistentId => "persid".to_owned(),
            Event::Extension(code) => format!("ext {code}"),
            Event::Buffer => "buffer".to_owned(),
        };
        self.0.push((at.offset, what));
        0
    }
}

/// Decodes one piece as the scanner will: inert, through `JoblibSink`. Returns the
/// bytes consumed and the sites.
fn decode_piece(data: &[u8]) -> Result<(u64, Vec<(u64, String)>), pickleproof::Error> {
    let decoder = Decoder::new().policy(Policy::inert());
    let mut sites = Sites::default();
    let consumed = {
        let mut sink = JoblibSink::new(&mut sites, &decoder, data);
        decoder
            .decode_with_sink(data, &mut sink, OnRefusal::Continue)?
            .consumed
    };
    Ok((consumed, sites.0))
}

fn names<T: Copy>(items: &[T], name: impl Fn(T) -> &'static str) -> Vec<&'static str> {
    items.iter().map(|&i| name(i)).collect()
}

fn small_output() -> ContainerLimits {
    ContainerLimits {
        max_output_bytes: 1 << 20,
        ..ContainerLimits::default()
    }
}

#[test]
fn every_file_meets_its_manifest() {
    let manifest = manifest();
    assert!(manifest.len() >= 40, "manifest: {} files", manifest.len());
    for (name, want) in &manifest {
        let data = read(name);
        let contents = open(&data, &small_output());
        let formats = names(&contents.formats, |f| f.name());
        let want_formats: Vec<&str> = want["formats"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(formats, want_formats, "{name}: formats");
        if let Some(bomb) = want.get("bomb") {
            assert!(bomb.as_u64().unwrap() > 1 << 20);
            let err = contents.error.as_ref().expect("a bomb is refused");
            assert_eq!(
                err.kind(),
                &ErrorKind::Limit {
                    resource: Resource::OutputBytes,
                    limit: 1 << 20,
                    requested: (1 << 20) + 1
                },
                "{name}"
            );
            assert!(contents.pieces.is_empty(), "{name}");
            continue;
        }
        assert_eq!(contents.error, None, "{name}: error");
        assert_eq!(
            contents.pieces.len() as u64,
            want["pieces"].as_u64().unwrap(),
            "{name}: pieces {:?}",
            contents
                .pieces
                .iter()
                .map(|p| &p.location)
                .collect::<Vec<_>>()
        );
        let anomalies = names(
            &contents
                .anomalies
                .iter()
                .map(|a| a.kind)
                .collect::<Vec<_>>(),
            |k| k.name(),
        );
        let want_anomalies: Vec<&str> = want
            .get("anomalies")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|v| v.as_str().unwrap()).collect())
            .unwrap_or_default();
        assert_eq!(anomalies, want_anomalies, "{name}: anomalies");
        if want.get("kind").and_then(Value::as_str) == Some("joblib") {
            assert_eq!(contents.pieces[0].kind, PieceKind::Joblib, "{name}");
        }
        for piece in &contents.pieces {
            if let Some(at) = piece.file_offset {
                assert_eq!(
                    &data[at as usize..at as usize + piece.data.len()],
                    &piece.data[..],
                    "{name}: a borrowed piece is the file's bytes"
                );
            }
            let (consumed, _) = decode_piece(&piece.data)
                .unwrap_or_else(|e| panic!("{name}: {}: {e}", piece.location));
            // A pickle glued in front is handed out from the start of the file (the
            // decoder stops at its STOP); every other piece is exactly its pickle.
            if piece.location.is_empty() && name.starts_with("glued") {
                assert_eq!(consumed, 29, "{name}");
            } else {
                assert_eq!(
                    consumed,
                    piece.data.len() as u64,
                    "{name}: {}",
                    piece.location
                );
            }
        }
    }
}

#[test]
fn a_joblib_file_steps_over_its_arrays_exactly() {
    let data = read("arrays.joblib");
    let (consumed, sites) = decode_piece(&data).unwrap();
    assert_eq!(consumed, data.len() as u64);
    let what: Vec<&str> = sites.iter().map(|(_, w)| w.as_str()).collect();
    // Six arrays, each a NumpyArrayWrapper (NEWOBJ) with its dtype call (imports
    // memoized after the first); the object array's nested pickle (the 9th to 13th
    // sites) rebuilds it with numpy's reconstructor.
    let wrapper = "call joblib.numpy_pickle.NumpyArrayWrapper";
    assert_eq!(
        what,
        [
            "import joblib.numpy_pickle.NumpyArrayWrapper",
            wrapper,
            "import numpy.ndarray",
            "import numpy.dtype",
            "call numpy.dtype",
            wrapper,
            "call numpy.dtype",
            wrapper,
            "call numpy.dtype",
            "import numpy._core.multiarray._reconstruct",
            "import numpy.ndarray",
            "call numpy._core.multiarray._reconstruct",
            "import numpy.dtype",
            "call numpy.dtype",
            wrapper,
            wrapper,
            "call numpy.dtype",
            wrapper,
            "call numpy.dtype",
        ]
    );
    // The nested pickle's sites carry offsets in the outer stream, past the
    // wrapper's BUILD and in order.
    let offsets: Vec<u64> = sites.iter().map(|(o, _)| *o).collect();
    assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{offsets:?}");
    assert!(offsets[11] < data.len() as u64);
    // The same arrays at protocols 0 and 2, and compressed (the same pickle inside).
    for name in ["arrays_p0.joblib", "arrays_p2.joblib"] {
        let data = read(name);
        let (consumed, sites) = decode_piece(&data).unwrap();
        assert_eq!(consumed, data.len() as u64, "{name}");
        assert!(sites.len() > 10, "{name}");
    }
}

#[test]
fn a_joblib_object_array_reports_its_nested_sites_at_outer_offsets() {
    let data = read("object_array_evil.joblib");
    let (consumed, sites) = decode_piece(&data).unwrap();
    assert_eq!(consumed, data.len() as u64);
    let evil = b"cos\nsystem\n";
    let at = data.windows(evil.len()).position(|w| w == evil).unwrap() as u64;
    let nested: Vec<(u64, &str)> = sites
        .iter()
        .filter(|(_, w)| w.contains("os.system"))
        .map(|(o, w)| (*o, w.as_str()))
        .collect();
    // GLOBAL at `at`; REDUCE after the 4-byte argument, TUPLE1.
    assert_eq!(
        nested,
        [
            (at, "import os.system"),
            (at + 11 + 9 + 1, "call os.system")
        ]
    );
    // A plain decode (no JoblibSink) reads the nested pickle as if it were the
    // outer one's continuation and stops at its STOP, short of the file's end.
    let plain = Decoder::new()
        .policy(Policy::inert())
        .decode(&data)
        .unwrap();
    assert!(plain.consumed < data.len() as u64);
}

#[test]
fn a_torch_zip_yields_exactly_its_data_pkl() {
    for (file, want) in [
        (
            corpus_dir().join("containers/state_dict.pt"),
            "model/data.pkl",
        ),
        (
            corpus_dir().join("archives/tiny_state_dict.pt"),
            "tiny_state_dict/data.pkl",
        ),
    ] {
        let data = std::fs::read(&file).unwrap();
        let contents = open(&data, &ContainerLimits::default());
        let pieces: Vec<&str> = contents
            .pieces
            .iter()
            .map(|p| p.location.as_str())
            .collect();
        assert_eq!(pieces, [want], "{}", file.display());
        assert_eq!(contents.anomalies, [], "{}", file.display());
    }
}

#[test]
fn a_pickle_glued_in_front_of_a_zip_is_scanned_with_it() {
    let data = read("glued.pt");
    let contents = open(&data, &ContainerLimits::default());
    assert_eq!(contents.pieces[0].file_offset, Some(0));
    let (_, sites) = decode_piece(&contents.pieces[0].data).unwrap();
    assert_eq!(
        sites,
        [
            (0, "import os.system".to_owned()),
            (27, "call os.system".to_owned())
        ]
    );
    let appended = read("appended.pt");
    let contents = open(&appended, &ContainerLimits::default());
    let last = contents.pieces.last().unwrap();
    assert_eq!(last.location, "(after the archive)");
    assert_eq!(last.file_offset, Some(619));
    assert_eq!(contents.anomalies[0].offset, 619);
}

#[test]
fn without_room_for_layers_or_pieces_the_limits_say_so() {
    let data = read("arrays.joblib.gz");
    let one_layer = ContainerLimits {
        max_nesting: 1,
        ..ContainerLimits::default()
    };
    let err = open(&data, &one_layer).error.unwrap();
    assert_eq!(
        err.kind(),
        &ErrorKind::Limit {
            resource: Resource::ContainerLayers,
            limit: 1,
            requested: 2
        }
    );
    let data = read("legacy.pt");
    let four = ContainerLimits {
        max_pieces: 4,
        ..ContainerLimits::default()
    };
    let contents = open(&data, &four);
    assert_eq!(contents.pieces.len(), 4);
    assert_eq!(
        contents.error.unwrap().kind(),
        &ErrorKind::Limit {
            resource: Resource::Pieces,
            limit: 4,
            requested: 5
        }
    );
}

/// Something is reported for a truncated file: an error, an anomaly, or a piece
/// that does not decode.
fn reports_a_problem(contents: &Contents<'_>) -> bool {
    contents.error.is_some()
        || !contents.anomalies.is_empty()
        || contents.pieces.iter().any(|p| match decode_piece(&p.data) {
            Ok((consumed, _)) => consumed != p.data.len() as u64,
            Err(_) => true,
        })
        || contents.pieces.is_empty()
}

#[test]
fn every_truncation_of_every_file_is_reported_not_a_panic() {
    for name in manifest().keys() {
        if name.starts_with("bomb") {
            continue;
        }
        let data = read(name);
        let whole = open(&data, &small_output());
        let found = |c: &Contents<'_>| -> Vec<(String, Vec<u8>)> {
            c.pieces
                .iter()
                .map(|p| (p.location.clone(), p.data.to_vec()))
                .collect()
        };
        // Every cut of small files; of larger ones, a spread of cuts and the last 64.
        let step = (data.len() / 500).max(1);
        let cuts = (0..data.len())
            .step_by(step)
            .chain(data.len().saturating_sub(64)..data.len());
        for cut in cuts {
            // A cut that leaves a complete file of its own (the ZIP without what was
            // appended, the pickle without what it was glued to) is no truncation.
            let prefix = &data[..cut];
            let whole_pickle = Decoder::new()
                .policy(Policy::inert())
                .decode(prefix)
                .is_ok_and(|d| d.consumed == cut as u64);
            if whole_pickle || (name == "appended.pt" && prefix == read("state_dict.pt")) {
                continue;
            }
            let contents = open(prefix, &small_output());
            // A cut in the padding after a tar's end-of-archive block loses nothing.
            if contents.error.is_none()
                && found(&contents) == found(&whole)
                && contents.anomalies == whole.anomalies
            {
                continue;
            }
            assert!(
                reports_a_problem(&contents),
                "{name} cut at {cut}: {:?}",
                contents.formats
            );
        }
    }
}

/// corpus/regressions/container-gzip-member-error-offset-as-file-offset.bin: a gzip of
/// a ZIP whose members use compression methods 12 and 14 (and one runs past the end).
/// Its errors count their offsets in the decompressed ZIP, so they name that layer, and the scan gives them
/// no file offset (it gave 901, past the end of the 369-byte file).
#[test]
fn an_error_in_a_decompressed_layer_names_that_layer() {
    let path =
        corpus_dir().join("regressions/container-gzip-member-error-offset-as-file-offset.bin");
    let data = std::fs::read(path).unwrap();
    let contents = open(&data, &ContainerLimits::default());
    let error = contents.error.as_ref().expect("an unsupported method");
    assert!(matches!(error.kind(), ErrorKind::Unsupported(_)), "{error}");
    assert_eq!(contents.error_location, "gzip");
    let also: Vec<_> = contents
        .anomalies
        .iter()
        .filter(|a| a.detail.starts_with("also: "))
        .collect();
    // Method 14, and an entry whose data would run past the end.
    assert_eq!(also.len(), 2, "{:?}", contents.anomalies);
    assert!(also.iter().all(|a| a.location == "gzip"), "{also:?}");
    assert!(
        also.iter().any(|a| a.offset > data.len() as u64),
        "{also:?}"
    );
    let report = pickleproof::scan::file::scan_file(&data, &Default::default());
    for issue in report.issues() {
        if let Some(at) = issue.file_offset {
            assert!(at <= data.len() as u64, "{issue:?}");
        }
    }
    assert_eq!(report.layer_errors[0].location, "gzip");
}
