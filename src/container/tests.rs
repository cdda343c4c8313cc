//! `open` on ZIP archives built byte by byte: one test per anomaly, each with its
//! kind, location and offset, and the pieces every copy yields.

use super::zip::tests::Builder;
use super::*;

fn kinds(contents: &Contents<'_>) -> Vec<(AnomalyKind, u64)> {
    contents
        .anomalies
        .iter()
        .map(|a| (a.kind, a.offset))
        .collect()
}

fn pieces<'c>(contents: &'c Contents<'_>) -> Vec<(&'c str, Option<u64>, &'c [u8])> {
    contents
        .pieces
        .iter()
        .map(|p| (p.location.as_str(), p.file_offset, &p.data[..]))
        .collect()
}

/// Local header (30) + name + data: where entry `i`'s header starts, for equal-sized
/// entries.
fn header_at(i: u64, name_len: u64, data_len: u64) -> u64 {
    i * (30 + name_len + data_len)
}

#[test]
fn a_bad_crc_is_reported_and_the_entry_scanned() {
    let zip = Builder::new()
        .odd("a/data.pkl", "a/data.pkl", b"N.", 0, Some(0x1234_5678))
        .build();
    let c = open(&zip, &ContainerLimits::default());
    assert_eq!(kinds(&c), [(AnomalyKind::BadCrc, 0)]);
    assert_eq!(c.anomalies[0].location, "a/data.pkl");
    assert_eq!(pieces(&c), [("a/data.pkl", Some(40), &b"N."[..])]);
}

#[test]
fn an_encrypted_entry_is_reported_and_scanned_as_if_in_clear() {
    // The flag over data in clear (CVE-2025-1945): the pickle is still handed out.
    let zip = Builder::new()
        .odd("a/data.pkl", "a/data.pkl", b"N.", 1, None)
        .build();
    let c = open(&zip, &ContainerLimits::default());
    assert_eq!(kinds(&c), [(AnomalyKind::Encrypted, 0)]);
    assert_eq!(pieces(&c), [("a/data.pkl", Some(40), &b"N."[..])]);
}

#[test]
fn unexpected_flag_bits_are_reported() {
    // Bit 5 (compressed patched data); bit 3 and 11 are expected.
    let zip = Builder::new()
        .odd("a.pkl", "a.pkl", b"N.", 1 << 5, None)
        .odd("b.pkl", "b.pkl", b"N.", (1 << 3) | (1 << 11), None)
        .build();
    let c = open(&zip, &ContainerLimits::default());
    assert_eq!(kinds(&c), [(AnomalyKind::UnusualFlags, 0)]);
    assert_eq!(c.pieces.len(), 2);
}

/// One stored entry `a.pkl` = `N.` with flag bit 3 and `descriptor` written after its
/// data (the directory offset in the end record moved past it).
fn with_descriptor(descriptor: &[u8]) -> Vec<u8> {
    let mut zip = Builder::new()
        .odd("a.pkl", "a.pkl", b"N.", 1 << 3, None)
        .build();
    let data_end = 30 + 5 + 2;
    zip.splice(data_end..data_end, descriptor.iter().copied());
    let at = zip.len() - 6;
    let dir = (data_end + descriptor.len()) as u32;
    zip.splice(at..at + 4, dir.to_le_bytes());
    zip
}

#[test]
fn a_data_descriptor_is_part_of_its_record_only_when_it_repeats_the_directory() {
    let crc = zip::crc32(b"N.").to_le_bytes();
    let sizes4 = [2, 0, 0, 0, 2, 0, 0, 0];
    let sizes8 = [2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0];
    let signed = [&b"PK\x07\x08"[..], &crc, &sizes4].concat();
    let unsigned = [&crc[..], &sizes4].concat();
    let wide = [&b"PK\x07\x08"[..], &crc, &sizes8].concat();
    for descriptor in [signed, unsigned, wide] {
        let zip = with_descriptor(&descriptor);
        let c = open(&zip, &ContainerLimits::default());
        assert_eq!(kinds(&c), [], "{descriptor:?}");
        assert_eq!(pieces(&c), [("a.pkl", Some(35), &b"N."[..])]);
    }
    // Sixteen bytes that do not repeat the CRC are no descriptor: bytes no record
    // claims, right after the data.
    let zip = with_descriptor(&[0x55; 16]);
    let c = open(&zip, &ContainerLimits::default());
    assert_eq!(kinds(&c), [(AnomalyKind::ExtraBytes, 37)]);
}

#[test]
fn a_local_name_that_differs_is_reported_and_the_directory_name_used() {
    let zip = Builder::new()
        .odd("a/data.pkl", "a/other.bin", b"N.", 0, None)
        .build();
    let c = open(&zip, &ContainerLimits::default());
    assert_eq!(kinds(&c), [(AnomalyKind::NameMismatch, 0)]);
    assert!(c.anomalies[0].detail.contains("\"a/other.bin\""));
    // Same length names: the data sits where it would.
    assert_eq!(pieces(&c), [("a/data.pkl", Some(41), &b"N."[..])]);
}

#[test]
fn duplicate_names_scan_every_copy_and_say_which_pytorch_loads() {
    // a/data.pkl twice (the second with a payload) and a/version: miniz's sort and
    // search land on the second copy (#2), as zipfile's "last one wins" does.
    let evil = b"cos\nsystem\n(S'x'\ntR.";
    let zip = Builder::new()
        .entry("a/data.pkl", b"N.")
        .entry("a/version", b"3\n")
        .entry("a/data.pkl", evil)
        .build();
    let c = open(&zip, &ContainerLimits::default());
    // Headers at 0 (30 + 10 + 2 bytes), 42 (30 + 9 + 2), 83.
    let third = 83;
    assert_eq!(kinds(&c), [(AnomalyKind::DuplicateName, 0)]);
    assert!(
        c.anomalies[0]
            .detail
            .contains("PyTorch (miniz, case-insensitive) loads #2"),
        "{}",
        c.anomalies[0].detail
    );
    assert_eq!(
        pieces(&c),
        [
            ("a/data.pkl (copy at offset 0)", Some(40), &b"N."[..]),
            ("a/data.pkl", Some(third + 40), &evil[..]),
        ]
    );
    assert_eq!(c.formats, [Format::TorchZip]);
}

#[test]
fn names_alike_but_for_case_are_duplicates_for_pytorch() {
    let zip = Builder::new()
        .entry("a/DATA.PKL", b"N.")
        .entry("a/data.pkl", b"N.")
        .build();
    let c = open(&zip, &ContainerLimits::default());
    assert_eq!(kinds(&c).len(), 1);
    assert_eq!(c.anomalies[0].kind, AnomalyKind::DuplicateName);
    assert_eq!(c.pieces.len(), 2);
}

#[test]
fn overlapping_entries_are_reported() {
    // Two directory records pointing at the same local header.
    let mut zip = Builder::new()
        .entry("a.pkl", b"N.")
        .entry("b.pkl", b"N.")
        .build();
    // Point the second record's local-header offset (at dir + 46 + 5 + 42) at 0.
    let dir = 2 * (30 + 5 + 2);
    let second_record = dir + 46 + 5;
    zip[second_record + 42..second_record + 46].copy_from_slice(&0u32.to_le_bytes());
    let c = open(&zip, &ContainerLimits::default());
    let found = kinds(&c);
    assert!(found.contains(&(AnomalyKind::Overlap, 0)), "{found:?}");
    assert!(found.contains(&(AnomalyKind::NameMismatch, 0)), "{found:?}");
    // The bytes of the entry no record points at any more are unclaimed.
    assert!(found.contains(&(AnomalyKind::ExtraBytes, 37)), "{found:?}");
}

#[test]
fn bytes_before_and_after_the_archive_are_reported_and_sniffed() {
    let mut b = Builder::new().entry("x/data.pkl", b"N.");
    b.prefix = b"cos\nsystem\n(S'x'\ntR.".to_vec();
    b.suffix = b"\x80\x02cos\nsystem\n.".to_vec();
    let zip = b.build();
    let c = open(&zip, &ContainerLimits::default());
    let end = (zip.len() - b.suffix.len()) as u64;
    assert_eq!(
        kinds(&c),
        [(AnomalyKind::ExtraBytes, 0), (AnomalyKind::ExtraBytes, end)]
    );
    let found: Vec<(&str, Option<u64>, usize)> = c
        .pieces
        .iter()
        .map(|p| (p.location.as_str(), p.file_offset, p.data.len()))
        .collect();
    assert_eq!(
        found,
        [
            ("", Some(0), zip.len()),
            ("x/data.pkl", Some(b.prefix.len() as u64 + 40), 2),
            ("(after the archive)", Some(end), b.suffix.len()),
        ]
    );
}

#[test]
fn members_are_sniffed_by_content_not_name() {
    // A protocol 2 pickle, a protocol 0 pickle that reaches STOP, one that imports
    // before failing, raw float storage, a text file: the first three are pieces.
    let zip = Builder::new()
        .entry("m/weights", b"\x80\x02K\x01.")
        .entry("m/config", b"(lp0\nI1\na.")
        .entry("m/hook", b"cos\nsystem\n")
        .entry("m/data/0", &1.5f32.to_le_bytes().repeat(8))
        .entry("m/version", b"3\n")
        .build();
    let c = open(&zip, &ContainerLimits::default());
    let names: Vec<&str> = c.pieces.iter().map(|p| p.location.as_str()).collect();
    assert_eq!(names, ["m/weights", "m/config", "m/hook"]);
    assert_eq!(c.formats, [Format::Zip]);
}

#[test]
fn a_torchscript_archive_runs_code() {
    let zip = Builder::new()
        .entry("m/data.pkl", b"\x80\x02}.")
        .entry("m/code/__torch__.py", b"def forward(self): pass\n")
        .entry("m/constants.pkl", b"\x80\x02).")
        .build();
    let c = open(&zip, &ContainerLimits::default());
    assert_eq!(c.formats, [Format::TorchScript]);
    let code_at = header_at(1, 10, 4);
    assert_eq!(kinds(&c), [(AnomalyKind::RunsCode, code_at)]);
}

#[test]
fn nesting_is_bounded() {
    // A ZIP in a ZIP in a ZIP...: each level one more layer.
    let mut data = b"\x80\x02N.".to_vec();
    for _ in 0..10 {
        data = Builder::new().entry("inner.zip", &data).build();
    }
    let c = open(&data, &ContainerLimits::default());
    assert_eq!(
        c.error.map(|e| e.kind().clone()),
        Some(ErrorKind::Limit {
            resource: Resource::ContainerLayers,
            limit: 8,
            requested: 9
        })
    );
}

#[test]
fn pieces_are_charged_to_the_output_budget() {
    let zip = Builder::new()
        .entry("a.pkl", b"\x80\x02N.")
        .entry("b.pkl", b"\x80\x02N.")
        .build();
    let limits = ContainerLimits {
        max_output_bytes: 7,
        ..ContainerLimits::default()
    };
    let c = open(&zip, &limits);
    assert_eq!(c.pieces.len(), 1);
    assert_eq!(
        c.error.map(|e| e.kind().clone()),
        Some(ErrorKind::Limit {
            resource: Resource::OutputBytes,
            limit: 7,
            requested: 8
        })
    );
}

#[cfg(feature = "compression")]
fn deflate(data: &[u8]) -> super::zip::tests::Deflated {
    use std::io::Write;
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    super::zip::tests::Deflated {
        name: Vec::new(),
        compressed: e.finish().unwrap(),
        size: data.len() as u32,
        crc: super::zip::crc32(data),
    }
}

#[cfg(feature = "compression")]
#[test]
fn a_deflated_member_is_read_and_a_deflate_bomb_refused() {
    let mut b = Builder::new();
    b.deflated.push(super::zip::tests::Deflated {
        name: b"m/data.pkl".to_vec(),
        ..deflate(b"\x80\x02]q\x00K\x01a.")
    });
    let zip = b.build();
    let c = open(&zip, &ContainerLimits::default());
    assert_eq!(c.error, None);
    assert_eq!(
        pieces(&c),
        [("m/data.pkl", None, &b"\x80\x02]q\x00K\x01a."[..])]
    );
    // 64 MiB of 'N' (a pickle opcode, so the member looks like a pickle and is read
    // whole) deflated to 64 KiB: refused one byte past the output limit.
    let mut b = Builder::new();
    b.deflated.push(super::zip::tests::Deflated {
        name: b"m/data.pkl".to_vec(),
        ..deflate(&vec![b'N'; 64 << 20])
    });
    let zip = b.build();
    let limits = ContainerLimits {
        max_output_bytes: 4 << 20,
        ..ContainerLimits::default()
    };
    let c = open(&zip, &limits);
    assert!(c.pieces.is_empty());
    assert_eq!(
        c.error.map(|e| (e.kind().clone(), e.offset())),
        Some((
            ErrorKind::Limit {
                resource: Resource::OutputBytes,
                limit: 4 << 20,
                requested: (4 << 20) + 1
            },
            40
        ))
    );
}

#[test]
fn trial_decodes_of_members_share_one_budget() {
    // 201 members of 100,001 NONEs: each trial runs its 100,000 steps and fails (no
    // STOP, no import); after 200 the budget is spent, which an anomaly says, and
    // later members are judged by name and header only.
    let nones = vec![b'N'; 100_001];
    let mut b = Builder::new();
    for i in 0..201 {
        b = b.entry(&format!("m/{i}"), &nones);
    }
    b = b.entry("m/late", b"(lp0\nI1\na.");
    let zip = b.build();
    let c = open(&zip, &ContainerLimits::default());
    assert!(c.pieces.is_empty());
    let spent: Vec<&str> = c
        .anomalies
        .iter()
        .filter(|a| a.kind == AnomalyKind::Other)
        .map(|a| a.location.as_str())
        .collect();
    assert_eq!(spent, ["m/199"]);
}
