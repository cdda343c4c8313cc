//! Every rule of `/work/shared/spec/cpython-semantics.md`, and the budgets.
//!
//! Each test compares the whole decoded value (in the canonical form of
//! [`crate::opcodes::canon`]) or the exact error: kind with its fields, offset, opcode.
//! Where a rule is about what CPython accepts, the bytes were run through CPython 3.11's
//! C unpickler (`pickle.loads`) first and the test follows it; where pickleproof
//! disagrees, the test is written to CPython's behaviour and `#[ignore]`d with
//! "decoder bug: ..." so that the disagreement stays visible.

use std::io::{BufReader, Cursor, Read};

use pickleproof::{
    Decoder, ErrorKind, Limits, Node, Opcode, Policy, Resource, StringEncoding, Usage,
};
use serde_json::{json, Value};

use crate::opcodes::{
    assert_error, assert_value, ba, big, by, canon, error_of, fl, gl, inert, malformed, mismatch,
    op, strict,
};

fn forbidden(module: &str, name: &str) -> ErrorKind {
    ErrorKind::Forbidden {
        module: module.into(),
        name: name.into(),
    }
}

fn limit(resource: Resource, limit: u64, requested: u64) -> ErrorKind {
    ErrorKind::Limit {
        resource,
        limit,
        requested,
    }
}

/// Unbounded limits except `resource`, which is set to `value`.
fn only(resource: Resource, value: u64) -> Decoder {
    let mut limits = Limits::unbounded();
    limits.set(resource, value);
    Decoder::new().limits(limits)
}

fn latin1() -> Decoder {
    Decoder::new().string_encoding(StringEncoding::Latin1)
}

fn as_bytes() -> Decoder {
    Decoder::new().string_encoding(StringEncoding::Bytes)
}

const NAN: &[u8] = b"G\x7f\xf8\x00\x00\x00\x00\x00\x00";

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

// ===== stream shape ====================================================================

#[test]
fn stop_leaves_trailing_bytes_unread() {
    let d = strict().decode(b"K\x01.garbage\xff\x00").unwrap();
    assert_eq!(canon(&d.graph, d.root), json!(1));
    assert_eq!(d.consumed, 3);
    let d = strict().decode(b"N.N.").unwrap();
    assert_eq!(d.consumed, 2);
}

#[test]
fn items_and_mark_below_the_result_are_ignored_at_stop() {
    assert_value(&strict(), b"(K\x01.", json!(1));
    assert_value(&strict(), b"K\x01(K\x02K\x03.", json!(3));
    assert_value(&strict(), b"((N.", Value::Null);
}

#[test]
fn mark_on_top_at_stop_is_unexpected_mark() {
    assert_error(
        &strict(),
        b"K\x01(.",
        ErrorKind::UnexpectedMark,
        3,
        op(Opcode::Stop),
    );
    assert_error(
        &strict(),
        b"(.",
        ErrorKind::UnexpectedMark,
        1,
        op(Opcode::Stop),
    );
}

#[test]
fn empty_stack_at_stop_is_underflow() {
    assert_error(
        &strict(),
        b".",
        ErrorKind::StackUnderflow,
        0,
        op(Opcode::Stop),
    );
    assert_error(
        &strict(),
        b"N0.",
        ErrorKind::StackUnderflow,
        2,
        op(Opcode::Stop),
    );
}

#[test]
fn empty_input_is_eof_at_zero() {
    assert_error(&strict(), b"", ErrorKind::Eof, 0, None);
}

#[test]
fn input_ending_before_stop_is_eof_where_it_ends() {
    assert_error(&strict(), b"K\x01", ErrorKind::Eof, 2, None);
    assert_error(&strict(), b"(K\x01l", ErrorKind::Eof, 4, None);
    // Inside an argument: reported at the opcode that was reading it.
    assert_error(
        &strict(),
        b"K\x01X\x05\x00\x00\x00ab",
        ErrorKind::Eof,
        2,
        op(Opcode::BinUnicode),
    );
}

#[test]
fn every_proper_prefix_of_a_pickle_is_eof() {
    let data = b"\x80\x04\x95\x17\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01\x8c\x01a\x94G?\xf8\x00\x00\x00\x00\x00\x00\x8a\x01\xffe.";
    assert_value(&strict(), data, json!([1, "a", fl(1.5), -1]));
    for n in 0..data.len() {
        let e = error_of(&strict(), &data[..n]);
        assert_eq!(e.kind(), &ErrorKind::Eof, "prefix of {n} bytes");
    }
}

#[test]
fn proto_above_5_is_rejected() {
    assert_error(
        &strict(),
        b"\x80\x06N.",
        ErrorKind::UnsupportedProtocol(6),
        0,
        op(Opcode::Proto),
    );
    assert_error(
        &strict(),
        b"N0\x80\xffN.",
        ErrorKind::UnsupportedProtocol(255),
        2,
        op(Opcode::Proto),
    );
}

#[test]
fn later_protocol_opcodes_need_no_proto_header() {
    let d = strict().decode(b"\x8c\x01a\x8f\x88\x86.").unwrap();
    assert_eq!(
        canon(&d.graph, d.root),
        json!({ "tuple": [{ "set": [] }, true] })
    );
    assert_eq!(d.protocol, 0);
}

#[test]
fn second_proto_mid_stream_is_accepted() {
    let d = strict().decode(b"\x80\x02K\x01\x80\x04\x85.").unwrap();
    assert_eq!(canon(&d.graph, d.root), json!({ "tuple": [1] }));
    assert_eq!(d.protocol, 4);
    // `protocol` is the highest declared, not the last.
    let d = strict().decode(b"\x80\x04\x80\x02N.").unwrap();
    assert_eq!(d.protocol, 4);
}

#[test]
fn unknown_opcode_bytes_are_errors() {
    for b in [0x00u8, b'!', 0xff, 0x99, b'A', b'\n'] {
        assert_error(
            &strict(),
            &[b, b'.'],
            ErrorKind::UnknownOpcode(b),
            0,
            Some(b),
        );
        assert_error(
            &strict(),
            &[b'K', 1, b, b'.'],
            ErrorKind::UnknownOpcode(b),
            2,
            Some(b),
        );
    }
}

#[test]
fn frame_longer_than_the_input_is_eof() {
    assert_error(
        &strict(),
        b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00K\x01.",
        ErrorKind::Eof,
        2,
        op(Opcode::Frame),
    );
}

#[test]
fn frame_length_that_overflows_is_an_error() {
    let data = b"\x95\xff\xff\xff\xff\xff\xff\xff\xffN.";
    assert_error(
        &strict(),
        data,
        limit(Resource::InputBytes, 1 << 30, u64::MAX),
        0,
        op(Opcode::Frame),
    );
    let unbounded = Decoder::new().limits(Limits::unbounded());
    assert_error(&unbounded, data, ErrorKind::Eof, 0, op(Opcode::Frame));
    assert_error(
        &unbounded,
        b"\x95\x00\x00\x00\x00\x00\x00\x00\x80N.",
        ErrorKind::Eof,
        0,
        op(Opcode::Frame),
    );
}

#[test]
fn argument_may_run_past_the_end_of_its_frame() {
    // The frame holds 2 bytes (`X\x03`); the rest of BINUNICODE's argument follows it.
    assert_value(
        &strict(),
        b"\x95\x02\x00\x00\x00\x00\x00\x00\x00X\x03\x00\x00\x00abc.",
        json!("abc"),
    );
}

#[test]
fn frame_inside_a_frame_is_accepted() {
    assert_value(
        &strict(),
        b"\x95\x0b\x00\x00\x00\x00\x00\x00\x00\x95\x02\x00\x00\x00\x00\x00\x00\x00N.",
        Value::Null,
    );
}

// ===== stack and marks =================================================================

#[test]
fn pop_with_mark_on_top_pops_the_mark() {
    assert_value(&strict(), b"K\x01(0.", json!(1));
    // The MARK is really gone: TUPLE finds none.
    assert_error(
        &strict(),
        b"K\x01(0t.",
        ErrorKind::MarkMissing,
        4,
        op(Opcode::Tuple),
    );
    // Only the innermost MARK goes.
    assert_value(&strict(), b"(K\x01(0t.", json!({ "tuple": [1] }));
}

#[test]
fn pop_mark_without_mark_is_mark_missing() {
    assert_error(
        &strict(),
        b"1.",
        ErrorKind::MarkMissing,
        0,
        op(Opcode::PopMark),
    );
    assert_error(
        &strict(),
        b"K\x011.",
        ErrorKind::MarkMissing,
        2,
        op(Opcode::PopMark),
    );
}

#[test]
fn dup_on_empty_stack_is_underflow() {
    assert_error(
        &strict(),
        b"2.",
        ErrorKind::StackUnderflow,
        0,
        op(Opcode::Dup),
    );
}

#[test]
fn counted_tuples_do_not_reach_across_a_mark() {
    assert_error(
        &strict(),
        b"K\x01(\x85.",
        ErrorKind::UnexpectedMark,
        3,
        op(Opcode::Tuple1),
    );
    assert_error(
        &strict(),
        b"K\x01(K\x02\x86.",
        ErrorKind::UnexpectedMark,
        5,
        op(Opcode::Tuple2),
    );
    assert_error(
        &strict(),
        b"K\x01K\x02(K\x03K\x04\x87.",
        ErrorKind::UnexpectedMark,
        9,
        op(Opcode::Tuple3),
    );
    assert_value(&strict(), b"(K\x01K\x02\x86.", json!({ "tuple": [1, 2] }));
}

#[test]
fn dict_and_setitems_with_odd_item_counts() {
    assert_error(
        &strict(),
        b"(K\x01K\x02K\x03d.",
        malformed("odd number of items for DICT"),
        7,
        op(Opcode::Dict),
    );
    assert_error(
        &strict(),
        b"}(K\x01K\x02K\x03u.",
        malformed("odd number of items for SETITEMS"),
        8,
        op(Opcode::SetItems),
    );
}

#[test]
fn emptied_mark_ops_on_non_containers_are_no_ops() {
    // CPython returns before looking at the target when there is nothing to add.
    assert_value(&strict(), b"N(e.", Value::Null);
    assert_value(&strict(), b"N(u.", Value::Null);
    assert_value(&strict(), b"N(\x90.", Value::Null);
}

// ===== memo ============================================================================

#[test]
fn put_stores_the_top_of_the_stack() {
    assert_value(
        &strict(),
        b"K\x01K\x02q\x00\x86h\x00\x86.",
        json!({ "tuple": [{ "tuple": [1, 2] }, 2] }),
    );
    assert_value(&strict(), b"K\x01K\x02p0\n0g0\n.", json!(2));
    assert_value(
        &strict(),
        b"K\x01K\x02r\x00\x00\x00\x000j\x00\x00\x00\x00.",
        json!(2),
    );
}

#[test]
fn get_of_a_missing_index_is_memo_missing() {
    assert_error(
        &strict(),
        b"g0\n.",
        ErrorKind::MemoMissing(0),
        0,
        op(Opcode::Get),
    );
    assert_error(
        &strict(),
        b"Nq\x01h\x00.",
        ErrorKind::MemoMissing(0),
        3,
        op(Opcode::BinGet),
    );
}

#[test]
fn get_shares_the_node() {
    let d = strict().decode(b"]q\x00h\x00\x86.").unwrap();
    let Some(Node::Tuple(items)) = d.graph.get(d.root) else {
        panic!("not a tuple")
    };
    assert_eq!(items.len(), 2);
    assert_eq!(items.first(), items.get(1));
}

#[test]
fn negative_text_memo_index_is_an_error() {
    assert_error(
        &strict(),
        b"K\x01p-1\n.",
        malformed("negative PUT argument"),
        2,
        op(Opcode::Put),
    );
    // CPython reports "Memo value not found at index -1"; MemoMissing cannot hold -1.
    assert_error(
        &strict(),
        b"K\x01p0\ng-1\n.",
        malformed("negative GET index"),
        5,
        op(Opcode::Get),
    );
}

#[test]
fn text_memo_index_parses_like_int() {
    assert_value(&strict(), b"K\x05p+3\n0g+3\n.", json!(5));
    assert_value(&strict(), b"K\x05p007\n0g7\n.", json!(5));
    assert_value(&strict(), b"K\x05p 1_0 \n0g10\n.", json!(5));
    assert_error(
        &strict(),
        b"K\x05p0x1\n.",
        malformed("invalid memo index"),
        2,
        op(Opcode::Put),
    );
}

#[test]
fn put_on_empty_stack_is_underflow_before_the_index_is_parsed() {
    // CPython: UnpicklingError "unpickling stack underflow" for both.
    assert_error(
        &strict(),
        b"pabc\n.",
        ErrorKind::StackUnderflow,
        0,
        op(Opcode::Put),
    );
    assert_error(
        &strict(),
        b"p-1\n.",
        ErrorKind::StackUnderflow,
        0,
        op(Opcode::Put),
    );
}

#[test]
fn memoize_index_is_the_number_of_entries() {
    // After BINPUT 5 the memo holds one entry, so MEMOIZE stores under 1, not 6.
    assert_value(
        &strict(),
        b"K\x0aq\x05K\x0b\x94\x86h\x01\x86.",
        json!({ "tuple": [{ "tuple": [10, 11] }, 11] }),
    );
    assert_error(
        &strict(),
        b"K\x0aq\x05K\x0b\x94h\x06.",
        ErrorKind::MemoMissing(6),
        7,
        op(Opcode::BinGet),
    );
    // Overwriting an index does not add an entry.
    assert_value(&strict(), b"K\x01q\x00K\x02q\x00K\x03\x94h\x01.", json!(3));
    // MEMOIZE may overwrite an entry a PUT made.
    assert_value(&strict(), b"K\x01q\x01K\x02\x94h\x01.", json!(2));
}

#[test]
fn memoize_needs_a_value() {
    assert_error(
        &strict(),
        b"\x94.",
        ErrorKind::StackUnderflow,
        0,
        op(Opcode::Memoize),
    );
    assert_error(
        &strict(),
        b"K\x01(\x94.",
        ErrorKind::UnexpectedMark,
        3,
        op(Opcode::Memoize),
    );
}

#[test]
fn huge_memo_index_costs_one_entry() {
    // CPython allocates a dense memo of 2^33 slots here (MemoryError); we must not.
    let limits = Limits {
        max_memory_bytes: 1 << 16,
        ..Limits::default()
    };
    let d = Decoder::new()
        .limits(limits)
        .decode(b"K\x05r\xff\xff\xff\xff0j\xff\xff\xff\xff.")
        .unwrap();
    assert_eq!(canon(&d.graph, d.root), json!(5));
    assert_eq!(d.usage.memo_entries, 1);
    assert!(d.usage.memory_bytes <= 1 << 16);
}

// ===== INT =============================================================================

#[test]
fn int_lines_that_are_bools() {
    assert_value(&strict(), b"I01\n.", json!(true));
    assert_value(&strict(), b"I00\n.", json!(false));
    assert_value(&strict(), b"I+1\n.", json!(true));
    assert_value(&strict(), b"I 0\n.", json!(false));
    assert_value(&strict(), b"I 1\n.", json!(true));
    assert_value(&strict(), b"I-0\n.", json!(false));
    // Not 3 bytes with the newline: plain ints.
    assert_value(&strict(), b"I0\n.", json!(0));
    assert_value(&strict(), b"I1\n.", json!(1));
    assert_value(&strict(), b"I001\n.", json!(1));
}

#[test]
fn int_lines_parse_like_strtol_base_0() {
    assert_value(&strict(), b"I010\n.", json!(8));
    assert_value(&strict(), b"I0x1f\n.", json!(31));
    assert_value(&strict(), b"I0X1F\n.", json!(31));
    assert_value(&strict(), b"I-0x10\n.", json!(-16));
    assert_value(&strict(), b"I  42\n.", json!(42));
    assert_value(&strict(), b"I-9223372036854775808\n.", json!(i64::MIN));
    // strtol stops at the NUL, as a C string ends there.
    assert_value(&strict(), b"I12\x00junk\n.", json!(12));
    assert_value(&strict(), b"I0\x00\n.", json!(false));
}

#[test]
fn int_line_starting_with_nul_is_zero() {
    // CPython 3.11: 0, False (a 3-byte line), 0.
    assert_value(&strict(), b"I\x00\n.", json!(0));
    assert_value(&strict(), b"I\x001\n.", json!(false));
    assert_value(&strict(), b"I\x00abc\n.", json!(0));
}

#[test]
fn int_lines_fall_back_to_python_int() {
    assert_value(&strict(), b"I1_000\n.", json!(1000));
    assert_value(&strict(), b"I42 \n.", json!(42));
    assert_value(&strict(), b"I0o17\n.", json!(15));
    assert_value(&strict(), b"I0b101\n.", json!(5));
    assert_value(
        &strict(),
        b"I99999999999999999999\n.",
        big("99999999999999999999"),
    );
    assert_value(
        &strict(),
        b"I-1_0000_0000_0000_0000_0000\n.",
        big("-100000000000000000000"),
    );
    assert_value(
        &strict(),
        b"I0x1_0000_0000_0000_0000\n.",
        big("18446744073709551616"),
    );
}

#[test]
fn int_lines_that_are_errors() {
    let bad = malformed("could not convert string to int");
    for data in [
        &b"Iabc\n."[..],
        b"I1.5\n.",
        b"I1__0\n.",
        b"I0777777777777777777777777\n.",
        b"I12L\n.",
    ] {
        assert_error(&strict(), data, bad.clone(), 0, op(Opcode::Int));
    }
}

#[test]
fn empty_number_lines_are_malformed() {
    // CPython: "pickle data was truncated" (bad_readline) for each.
    for (data, opcode) in [
        (&b"I\n."[..], Opcode::Int),
        (b"L\n.", Opcode::Long),
        (b"F\n.", Opcode::Float),
        (b"g\n.", Opcode::Get),
    ] {
        assert_error(
            &strict(),
            data,
            malformed("empty argument line"),
            0,
            op(opcode),
        );
    }
}

// ===== LONG ============================================================================

#[test]
fn long_lines() {
    assert_value(&strict(), b"L123L\n.", json!(123));
    assert_value(&strict(), b"L123\n.", json!(123));
    assert_value(&strict(), b"L0L\n.", json!(0));
    assert_value(&strict(), b"L00\n.", json!(0));
    assert_value(&strict(), b"L-5L\n.", json!(-5));
    assert_value(&strict(), b"L0x1fL\n.", json!(31));
    assert_value(&strict(), b"L1_000L\n.", json!(1000));
    assert_value(&strict(), b"L 7 L\n.", json!(7));
    assert_value(
        &strict(),
        b"L12345678901234567890123L\n.",
        big("12345678901234567890123"),
    );
}

#[test]
fn long_lines_that_are_errors() {
    let bad = malformed("invalid literal for LONG");
    for data in [
        &b"L012\n."[..],
        b"L012L\n.",
        b"LL\n.",
        b"L1LL\n.",
        b"L1.0\n.",
        b"L1_\n.",
    ] {
        assert_error(&strict(), data, bad.clone(), 0, op(Opcode::Long));
    }
}

// ===== FLOAT ===========================================================================

#[test]
fn float_words_and_forms() {
    assert_value(&strict(), b"Finf\n.", fl(f64::INFINITY));
    assert_value(&strict(), b"F-inf\n.", fl(f64::NEG_INFINITY));
    assert_value(&strict(), b"FInfinity\n.", fl(f64::INFINITY));
    assert_value(&strict(), b"F+1.5\n.", fl(1.5));
    assert_value(&strict(), b"F1e-400\n.", fl(0.0));
    assert_value(&strict(), b"F5.\n.", fl(5.0));
    assert_value(&strict(), b"F1.0\x00junk\n.", fl(1.0));
    let d = strict().decode(b"Fnan\n.").unwrap();
    assert!(matches!(d.graph.get(d.root), Some(Node::Float(f)) if f.is_nan()));
    let d = strict().decode(b"F-NaN\n.").unwrap();
    assert!(
        matches!(d.graph.get(d.root), Some(Node::Float(f)) if f.is_nan() && f.is_sign_negative())
    );
}

#[test]
fn float_lines_that_are_errors() {
    let bad = malformed("could not convert string to float");
    for data in [
        &b"F1e999\n."[..],
        b"F-1e999\n.",
        b"F 1.0\n.",
        b"F1_0\n.",
        b"F1.0x\n.",
        b"F1e\n.",
        b"F0x10\n.",
        b"F1.0 \n.",
    ] {
        assert_error(&strict(), data, bad.clone(), 0, op(Opcode::Float));
    }
}

// ===== STRING and friends ==============================================================

#[test]
fn string_quotes() {
    assert_value(&strict(), b"S''\n.", json!(""));
    assert_value(&strict(), b"S\"a'b\"\n.", json!("a'b"));
    assert_value(&strict(), b"S'a\"b'\n.", json!("a\"b"));
    let bad = malformed("the STRING opcode argument must be quoted");
    for data in [
        &b"S'abc\"\n."[..],
        b"S'\n.",
        b"S\n.",
        b"Sabc\n.",
        b"S'abc\n.",
        b"S'a' \n.",
    ] {
        assert_error(&strict(), data, bad.clone(), 0, op(Opcode::String));
    }
}

#[test]
fn string_escapes() {
    assert_value(
        &strict(),
        b"S'\\t\\n\\r\\\\\\'\\\"\\a\\b\\f\\v\\x41\\101\\0'\n.",
        json!("\t\n\r\\'\"\u{7}\u{8}\u{c}\u{b}AA\u{0}"),
    );
    // An unknown escape keeps its backslash.
    assert_value(&strict(), b"S'\\q'\n.", json!("\\q"));
    assert_error(
        &strict(),
        b"S'\\x4'\n.",
        malformed("invalid \\x escape"),
        0,
        op(Opcode::String),
    );
    assert_error(
        &strict(),
        b"S'a\\'\n.",
        malformed("trailing \\ in string"),
        0,
        op(Opcode::String),
    );
    // An octal escape above \377 wraps to one byte, as in CPython.
    assert_value(&as_bytes(), b"S'\\777'\n.", by(b"\xff"));
}

#[test]
fn python2_str_encoding_choices() {
    let non_ascii = malformed("non-ASCII byte in a Python 2 str (encoding is ascii)");
    for data in [
        &b"S'\xe9'\n."[..],
        b"U\x01\xe9.",
        b"T\x01\x00\x00\x00\xe9.",
        b"S'\\xe9'\n.",
    ] {
        let at = op(Opcode::from_byte(data[0]).unwrap());
        assert_error(&strict(), data, non_ascii.clone(), 0, at);
        assert_value(&latin1(), data, json!("\u{e9}"));
        assert_value(&as_bytes(), data, by(b"\xe9"));
    }
    // ASCII stays str under latin1 and becomes bytes under bytes.
    assert_value(&latin1(), b"U\x02ab.", json!("ab"));
    assert_value(&as_bytes(), b"U\x02ab.", by(b"ab"));
    // Only Python 2 strings are affected.
    assert_value(&as_bytes(), b"X\x02\x00\x00\x00ab.", json!("ab"));
}

#[test]
fn binstring_length_is_unsigned_in_the_c_unpickler() {
    // CPython 3.11: UnpicklingError "pickle data was truncated".
    let unbounded = Decoder::new().limits(Limits::unbounded());
    assert_error(
        &unbounded,
        b"T\xff\xff\xff\xff.",
        ErrorKind::Eof,
        0,
        op(Opcode::BinString),
    );
}

#[test]
fn unicode_is_raw_unicode_escape() {
    assert_value(
        &strict(),
        b"V\\u00e9\\U0001F600\n.",
        json!("\u{e9}\u{1f600}"),
    );
    assert_value(&strict(), b"V\xe9\xff\n.", json!("\u{e9}\u{ff}"));
    // No other escapes: `\x41` and `\n` stay as written.
    assert_value(&strict(), b"V\\x41\\n\n.", json!("\\x41\\n"));
    // An even run of backslashes does not escape.
    assert_value(&strict(), b"V\\\\u0041\n.", json!("\\\\u0041"));
    assert_value(&strict(), b"V\\\\\\u0041\n.", json!("\\\\A"));
    assert_value(&strict(), b"V\\ud800\n.", json!({ "str_wtf8": "eda080" }));
    assert_error(
        &strict(),
        b"V\\u00\n.",
        malformed("truncated \\uXXXX escape"),
        0,
        op(Opcode::Unicode),
    );
    assert_error(
        &strict(),
        b"V\\U00110000\n.",
        malformed("\\Uxxxxxxxx out of range"),
        0,
        op(Opcode::Unicode),
    );
}

#[test]
fn binunicode_is_utf8_with_surrogatepass() {
    assert_value(
        &strict(),
        b"X\x03\x00\x00\x00\xed\xa0\x80.",
        json!({ "str_wtf8": "eda080" }),
    );
    assert_value(
        &strict(),
        b"\x8c\x03\xed\xbf\xbf.",
        json!({ "str_wtf8": "edbfbf" }),
    );
    // An encoded surrogate pair stays two surrogates, as CPython decodes it.
    assert_value(
        &strict(),
        b"\x8d\x06\x00\x00\x00\x00\x00\x00\x00\xed\xa0\x80\xed\xb0\x80.",
        json!({ "str_wtf8": "eda080edb080" }),
    );
    let bad = malformed("invalid UTF-8 in string");
    for data in [
        &b"\x8c\x02\xc0\x80."[..],
        b"\x8c\x01\xff.",
        b"\x8c\x02\xe2\x82.",
        b"\x8c\x03\xe0\x80\x80.",
        b"\x8c\x04\xf4\x90\x80\x80.",
        b"\x8c\x01\x80.",
    ] {
        assert_error(&strict(), data, bad.clone(), 0, op(Opcode::ShortBinUnicode));
    }
}

// ===== containers ======================================================================

#[test]
fn append_targets() {
    assert_value(&strict(), b"]K\x01a.", json!([1]));
    let obj = |items: Value| json!({ "object": "newobj", "callable": gl("m", "C"), "args": { "tuple": [] }, "listitems": items });
    assert_value(&inert(), b"cm\nC\n)\x81K\x01a.", obj(json!([1])));
    assert_value(&inert(), b"cm\nC\n)\x81(K\x01K\x02e.", obj(json!([1, 2])));
    assert_error(
        &strict(),
        b")K\x01a.",
        mismatch("APPEND", "tuple"),
        3,
        op(Opcode::Append),
    );
    assert_error(
        &strict(),
        b"}K\x01a.",
        mismatch("APPEND", "dict"),
        3,
        op(Opcode::Append),
    );
    assert_error(
        &strict(),
        b"NK\x01a.",
        mismatch("APPEND", "NoneType"),
        3,
        op(Opcode::Append),
    );
    assert_error(
        &strict(),
        b"\x8fK\x01a.",
        mismatch("APPEND", "set"),
        3,
        op(Opcode::Append),
    );
    assert_error(
        &strict(),
        b"C\x00K\x01a.",
        mismatch("APPEND", "bytes"),
        4,
        op(Opcode::Append),
    );
    assert_error(
        &strict(),
        b"N(K\x01e.",
        mismatch("APPEND", "NoneType"),
        4,
        op(Opcode::Appends),
    );
    assert_error(
        &strict(),
        b")(K\x01e.",
        mismatch("APPEND", "tuple"),
        4,
        op(Opcode::Appends),
    );
}

#[test]
fn append_onto_bytearray_extends_it() {
    // CPython 3.11: bytearray(b'\x05') and bytearray(b'\x05\x06').
    assert_value(
        &strict(),
        b"\x96\x00\x00\x00\x00\x00\x00\x00\x00K\x05a.",
        ba(b"\x05"),
    );
    assert_value(
        &strict(),
        b"\x96\x00\x00\x00\x00\x00\x00\x00\x00(K\x05K\x06e.",
        ba(b"\x05\x06"),
    );
}

#[test]
fn setitem_on_a_list_assigns_by_index() {
    assert_value(
        &strict(),
        b"](K\x01K\x02K\x03eK\x01K\x09s.",
        json!([1, 9, 3]),
    );
    assert_value(
        &strict(),
        b"](K\x01K\x02K\x03eJ\xff\xff\xff\xffK\x09s.",
        json!([1, 2, 9]),
    );
    assert_value(&strict(), b"](K\x01K\x02e\x88K\x09s.", json!([1, 9]));
    assert_value(
        &strict(),
        b"](K\x01K\x02e(K\x00K\x07K\x01K\x08u.",
        json!([7, 8]),
    );
    assert_error(
        &strict(),
        b"](K\x01eK\x01K\x09s.",
        malformed("list assignment index out of range"),
        9,
        op(Opcode::SetItem),
    );
    assert_error(
        &strict(),
        b"](K\x01eJ\xfe\xff\xff\xffK\x09s.",
        malformed("list assignment index out of range"),
        12,
        op(Opcode::SetItem),
    );
    assert_error(
        &strict(),
        b"](K\x01e\x8c\x01aK\x09s.",
        mismatch("SETITEM on a list", "str"),
        10,
        op(Opcode::SetItem),
    );
    assert_error(
        &strict(),
        b"](K\x01eG?\xf0\x00\x00\x00\x00\x00\x00K\x09s.",
        mismatch("SETITEM on a list", "float"),
        16,
        op(Opcode::SetItem),
    );
}

#[test]
fn setitem_targets() {
    assert_value(
        &inert(),
        b"cm\nC\n)\x81K\x01K\x02s(K\x01K\x03u.",
        json!({
            "object": "newobj",
            "callable": gl("m", "C"),
            "args": { "tuple": [] },
            "dictitems": [[1, 2], [1, 3]],
        }),
    );
    assert_error(
        &strict(),
        b")K\x01K\x02s.",
        mismatch("SETITEM", "tuple"),
        5,
        op(Opcode::SetItem),
    );
    assert_error(
        &strict(),
        b"K\x00K\x01K\x02s.",
        mismatch("SETITEM", "int"),
        6,
        op(Opcode::SetItem),
    );
    assert_error(
        &strict(),
        b"\x8fK\x01K\x02s.",
        mismatch("SETITEM", "set"),
        5,
        op(Opcode::SetItem),
    );
}

#[test]
fn setitem_on_bytearray_assigns_a_byte() {
    // CPython 3.11: bytearray(b'Ab').
    assert_value(
        &strict(),
        b"\x96\x02\x00\x00\x00\x00\x00\x00\x00abK\x00K\x41s.",
        ba(b"Ab"),
    );
}

#[test]
fn additems_targets() {
    assert_value(
        &strict(),
        b"\x8f(K\x01K\x02\x90(K\x02K\x03\x90.",
        json!({ "set": [1, 2, 3] }),
    );
    assert_value(
        &inert(),
        b"cm\nC\n)\x81(K\x01K\x01\x90.",
        json!({
            "object": "newobj",
            "callable": gl("m", "C"),
            "args": { "tuple": [] },
            "additems": [1, 1],
        }),
    );
    assert_error(
        &strict(),
        b"(\x91(K\x01\x90.",
        mismatch("ADDITEMS", "frozenset"),
        5,
        op(Opcode::AddItems),
    );
    assert_error(
        &strict(),
        b"](K\x01\x90.",
        mismatch("ADDITEMS", "list"),
        4,
        op(Opcode::AddItems),
    );
    assert_error(
        &strict(),
        b"N(K\x01\x90.",
        mismatch("ADDITEMS", "NoneType"),
        4,
        op(Opcode::AddItems),
    );
    assert_error(
        &strict(),
        b"\x8f(]\x90.",
        ErrorKind::Unhashable("list"),
        3,
        op(Opcode::AddItems),
    );
}

#[test]
fn build_on_an_object_records_each_state() {
    assert_value(
        &inert(),
        b"cm\nC\n)\x81}bNbK\x01b.",
        json!({
            "object": "newobj",
            "callable": gl("m", "C"),
            "args": { "tuple": [] },
            "state": [{ "dict": [] }, null, 1],
        }),
    );
}

#[test]
fn build_with_none_state_is_a_no_op_on_anything() {
    assert_value(&strict(), b"K\x01Nb.", json!(1));
    assert_value(&strict(), b"]Nb.", json!([]));
    assert_value(&strict(), b"X\x01\x00\x00\x00aNb.", json!("a"));
}

#[test]
fn build_with_other_state_on_a_builtin_is_an_error() {
    assert_error(
        &strict(),
        b"]}b.",
        mismatch("BUILD", "list"),
        2,
        op(Opcode::Build),
    );
    assert_error(
        &strict(),
        b"K\x01}b.",
        mismatch("BUILD", "int"),
        3,
        op(Opcode::Build),
    );
    assert_error(
        &strict(),
        b"K\x01}N\x86b.",
        mismatch("BUILD", "int"),
        5,
        op(Opcode::Build),
    );
    assert_error(
        &strict(),
        b"}K\x01b.",
        mismatch("BUILD", "dict"),
        3,
        op(Opcode::Build),
    );
}

#[test]
fn build_with_slot_state_on_a_builtin() {
    // CPython 3.11: 1, then UnpicklingError "slot state is not a dictionary".
    assert_value(&strict(), b"K\x01N}\x86b.", json!(1));
    assert_value(&strict(), b"]N}\x86b.", json!([]));
    assert_error(
        &strict(),
        b"K\x01NN\x86b.",
        mismatch("BUILD", "int"),
        5,
        op(Opcode::Build),
    );
}

#[test]
fn readonly_buffer_targets() {
    // On bytes: a no-op, the same node.
    let d = strict().decode(b"C\x02hiq\x00\x98h\x00\x86.").unwrap();
    let Some(Node::Tuple(items)) = d.graph.get(d.root) else {
        panic!("not a tuple")
    };
    assert_eq!(items.first(), items.get(1));
    assert_eq!(
        canon(&d.graph, d.root),
        json!({ "tuple": [by(b"hi"), by(b"hi")] })
    );
    // On a bytearray: a read-only view, shown as bytes; the bytearray itself stays.
    assert_value(
        &strict(),
        b"\x96\x02\x00\x00\x00\x00\x00\x00\x00hiq\x00\x98h\x00\x86.",
        json!({ "tuple": [by(b"hi"), ba(b"hi")] }),
    );
    assert_error(
        &strict(),
        b"K\x01\x98.",
        mismatch("READONLY_BUFFER", "int"),
        2,
        op(Opcode::ReadOnlyBuffer),
    );
    assert_error(
        &strict(),
        b"\x8c\x01a\x98.",
        mismatch("READONLY_BUFFER", "str"),
        3,
        op(Opcode::ReadOnlyBuffer),
    );
    assert_error(
        &strict(),
        b"]\x98.",
        mismatch("READONLY_BUFFER", "list"),
        1,
        op(Opcode::ReadOnlyBuffer),
    );
}

#[test]
fn reduce_needs_a_tuple_and_a_callable() {
    assert_error(
        &strict(),
        b"cbuiltins\nset\n]R.",
        mismatch("REDUCE arguments", "list"),
        15,
        op(Opcode::Reduce),
    );
    assert_error(
        &strict(),
        b"N)R.",
        mismatch("REDUCE", "NoneType"),
        2,
        op(Opcode::Reduce),
    );
    assert_error(
        &strict(),
        b"K\x01)R.",
        mismatch("REDUCE", "int"),
        3,
        op(Opcode::Reduce),
    );
    assert_error(
        &strict(),
        b"])R.",
        mismatch("REDUCE", "list"),
        2,
        op(Opcode::Reduce),
    );
    // A described call may be called again.
    assert_value(
        &inert(),
        b"cm\nf\n)R)R.",
        json!({
            "object": "reduce",
            "callable": { "object": "reduce", "callable": gl("m", "f"), "args": { "tuple": [] } },
            "args": { "tuple": [] },
        }),
    );
}

#[test]
fn reduce_checks_the_arguments_first() {
    assert_error(
        &strict(),
        b"NK\x01R.",
        mismatch("REDUCE arguments", "int"),
        3,
        op(Opcode::Reduce),
    );
}

#[test]
fn newobj_argument_checks_in_cpython_order() {
    // Class first, then args, then kwargs.
    assert_error(
        &inert(),
        b"K\x01NN\x92.",
        mismatch("NEWOBJ class", "int"),
        4,
        op(Opcode::NewObjEx),
    );
    assert_error(
        &inert(),
        b"cm\nC\nNN\x92.",
        mismatch("NEWOBJ arguments", "NoneType"),
        7,
        op(Opcode::NewObjEx),
    );
    assert_error(
        &inert(),
        b"cm\nC\n)N\x92.",
        mismatch("NEWOBJ_EX kwargs", "NoneType"),
        7,
        op(Opcode::NewObjEx),
    );
    assert_error(
        &inert(),
        b"NN\x81.",
        mismatch("NEWOBJ class", "NoneType"),
        2,
        op(Opcode::NewObj),
    );
    assert_error(
        &inert(),
        b"cm\nC\n]\x81.",
        mismatch("NEWOBJ arguments", "list"),
        6,
        op(Opcode::NewObj),
    );
    assert_error(
        &inert(),
        b")\x81.",
        ErrorKind::StackUnderflow,
        1,
        op(Opcode::NewObj),
    );
    assert_error(
        &inert(),
        b"cm\nC\n)(}\x92.",
        ErrorKind::UnexpectedMark,
        8,
        op(Opcode::NewObjEx),
    );
}

// ===== dict keys and set items =========================================================

const ONE_FLOAT: &[u8] = b"G?\xf0\x00\x00\x00\x00\x00\x00";

#[test]
fn equal_numbers_are_one_key_first_key_kept_last_value_wins() {
    let data = cat(&[b"}(K\x01\x8c\x01a", ONE_FLOAT, b"\x8c\x01b\x88\x8c\x01cu."]);
    assert_value(&strict(), &data, json!({ "dict": [[1, "c"]] }));
    let data = cat(&[b"}(\x88\x8c\x01aK\x01\x8c\x01b", ONE_FLOAT, b"\x8c\x01cu."]);
    assert_value(&strict(), &data, json!({ "dict": [[true, "c"]] }));
    let data = cat(&[b"(", ONE_FLOAT, b"\x8c\x01aK\x01\x8c\x01bK\x02\x8c\x01cd."]);
    assert_value(
        &strict(),
        &data,
        json!({ "dict": [[fl(1.0), "b"], [2, "c"]] }),
    );
    let data = cat(&[b"(K\x01\x88", ONE_FLOAT, b"\x91."]);
    assert_value(&strict(), &data, json!({ "frozenset": [1] }));
    // Position is kept: the updated key stays first.
    assert_value(
        &strict(),
        b"}(K\x01K\x0aK\x02K\x14\x88K\x1eu.",
        json!({ "dict": [[1, 30], [2, 20]] }),
    );
}

#[test]
fn negative_zero_equals_zero() {
    assert_value(
        &strict(),
        b"}(G\x80\x00\x00\x00\x00\x00\x00\x00K\x01K\x00K\x02\x89K\x03u.",
        json!({ "dict": [[fl(-0.0), 3]] }),
    );
}

#[test]
fn nan_keys_are_equal_only_to_themselves() {
    let two = cat(&[b"}(", NAN, b"K\x01", NAN, b"K\x02u."]);
    let v = value_len(&two);
    assert_eq!(v, 2, "two NaN nodes are two keys");
    let same = cat(&[b"}(", NAN, b"q\x00K\x01h\x00K\x02u."]);
    assert_value(&strict(), &same, json!({ "dict": [[fl(f64::NAN), 2]] }));
    // Tuple equality tries identity first, so the same NaN inside tuples is one key too.
    let tuples = cat(&[b"}(", NAN, b"q\x00\x85K\x01h\x00\x85K\x02u."]);
    assert_eq!(value_len(&tuples), 1);
    let tuples = cat(&[b"}(", NAN, b"\x85K\x01", NAN, b"\x85K\x02u."]);
    assert_eq!(value_len(&tuples), 2);
    let set = cat(&[b"(", NAN, b"q\x00h\x00", NAN, b"\x91."]);
    assert_eq!(value_len(&set), 2);
}

/// Number of entries of the dict/set/frozenset a stream builds.
fn value_len(data: &[u8]) -> usize {
    let d = strict().decode(data).unwrap();
    match d.graph.get(d.root) {
        Some(Node::Dict(e)) => e.len(),
        Some(Node::Set(i) | Node::FrozenSet(i)) => i.len(),
        other => panic!("not a dict or set: {other:?}"),
    }
}

#[test]
fn big_int_equals_float_only_when_exact() {
    let two_70 = b"\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x40";
    let two_70_plus_1 = b"\x8a\x09\x01\x00\x00\x00\x00\x00\x00\x00\x40";
    let f_two_70 = b"GD\x50\x00\x00\x00\x00\x00\x00";
    let data = cat(&[b"}(", two_70, b"\x8c\x01a", f_two_70, b"\x8c\x01bu."]);
    assert_value(
        &strict(),
        &data,
        json!({ "dict": [[big("1180591620717411303424"), "b"]] }),
    );
    let data = cat(&[b"}(", two_70_plus_1, b"\x8c\x01a", f_two_70, b"\x8c\x01bu."]);
    assert_value(
        &strict(),
        &data,
        json!({ "dict": [[big("1180591620717411303425"), "a"], [fl(1180591620717411303424.0), "b"]] }),
    );
    // 2**53 + 1 is not a float; 2.0**53 is not equal to it.
    let data = b"}(\x8a\x07\x01\x00\x00\x00\x00\x00\x20K\x01GC@\x00\x00\x00\x00\x00\x00K\x02u.";
    assert_eq!(value_len(data), 2);
    // 1.5 equals no int.
    let data = b"}(K\x01K\x01G?\xf8\x00\x00\x00\x00\x00\x00K\x02u.";
    assert_eq!(value_len(data), 2);
}

#[test]
fn unhashable_keys() {
    let at = op(Opcode::SetItem);
    assert_error(
        &strict(),
        b"}]K\x01s.",
        ErrorKind::Unhashable("list"),
        4,
        at,
    );
    assert_error(
        &strict(),
        b"}}K\x01s.",
        ErrorKind::Unhashable("dict"),
        4,
        at,
    );
    assert_error(
        &strict(),
        b"}\x8fK\x01s.",
        ErrorKind::Unhashable("set"),
        4,
        at,
    );
    assert_error(
        &strict(),
        b"}\x96\x00\x00\x00\x00\x00\x00\x00\x00K\x01s.",
        ErrorKind::Unhashable("bytearray"),
        12,
        at,
    );
    assert_error(
        &strict(),
        b"}K\x01]\x86K\x01s.",
        ErrorKind::Unhashable("list"),
        7,
        at,
    );
    assert_error(
        &strict(),
        b"}(]\x85\x85K\x01u.",
        ErrorKind::Unhashable("list"),
        7,
        op(Opcode::SetItems),
    );
    assert_error(
        &strict(),
        b"(]K\x01d.",
        ErrorKind::Unhashable("list"),
        4,
        op(Opcode::Dict),
    );
    assert_error(
        &strict(),
        b"(}\x91.",
        ErrorKind::Unhashable("dict"),
        2,
        op(Opcode::FrozenSet),
    );
    assert_error(
        &strict(),
        b"\x8f(K\x01\x8f\x90.",
        ErrorKind::Unhashable("set"),
        5,
        op(Opcode::AddItems),
    );
    // Hashable containers are fine as keys: tuples and frozensets of hashables.
    assert_value(
        &strict(),
        b"}(K\x01K\x02\x86N(K\x03\x91Nu.",
        json!({ "dict": [[{ "tuple": [1, 2] }, null], [{ "frozenset": [3] }, null]] }),
    );
}

#[test]
fn objects_hash_by_identity_globals_by_name() {
    let obj = b"cm\nC\n)\x81";
    let two = cat(&[b"}(", obj, b"K\x01", obj, b"K\x02u."]);
    let d = inert().decode(&two).unwrap();
    assert!(matches!(d.graph.get(d.root), Some(Node::Dict(e)) if e.len() == 2));
    let one = cat(&[b"}(", obj, b"q\x00K\x01h\x00K\x02u."]);
    let d = inert().decode(&one).unwrap();
    assert!(matches!(d.graph.get(d.root), Some(Node::Dict(e)) if e.len() == 1));
    assert_value(
        &strict(),
        b"}(cbuiltins\nset\nK\x01cbuiltins\nset\nK\x02u.",
        json!({ "dict": [[gl("builtins", "set"), 2]] }),
    );
    // str and bytes are different keys.
    assert_value(
        &strict(),
        b"}(\x8c\x01aK\x01C\x01aK\x02u.",
        json!({ "dict": [["a", 1], [by(b"a"), 2]] }),
    );
}

#[test]
fn many_keys_use_the_same_rules_as_few() {
    // Past the linear-scan size: 20 ints, then the same 20 as floats.
    let mut data = b"}(".to_vec();
    for i in 0..20u8 {
        data.extend_from_slice(&[b'K', i, b'K', i]);
    }
    for i in 0..20u8 {
        data.push(b'G');
        data.extend_from_slice(&f64::from(i).to_be_bytes());
        data.extend_from_slice(&[b'K', 100 + i]);
    }
    data.extend_from_slice(b"u.");
    let expected: Vec<Value> = (0..20).map(|i| json!([i, 100 + i])).collect();
    assert_value(&strict(), &data, json!({ "dict": expected }));
}

/// Str keys, small dicts (scanned by length and first bytes) and big ones (hashed):
/// equal strings written twice (separate nodes) are one key, and strings that share
/// their length and first 8 bytes but differ later are two.
#[test]
fn str_keys_collapse_by_content_in_small_and_big_dicts() {
    fn key(name: &str) -> Vec<u8> {
        let mut k = vec![0x8c, name.len() as u8];
        k.extend_from_slice(name.as_bytes());
        k
    }
    for n in [3usize, 16, 17, 40] {
        let names: Vec<String> = (0..n)
            .map(|i| match i % 3 {
                0 => format!("k{i}"),                       // short
                1 => format!("feature_same_prefix_{i:04}"), // same 8-byte prefix
                _ => format!("longer_key_number_{i}_x"),
            })
            .collect();
        // Each name twice, as separate str nodes, with values i then 100 + i.
        let mut data = b"}(".to_vec();
        for (i, name) in names.iter().enumerate() {
            data.extend(key(name));
            data.extend_from_slice(&[b'K', i as u8]);
        }
        for (i, name) in names.iter().enumerate() {
            data.extend(key(name));
            data.extend_from_slice(&[b'K', 100 + i as u8]);
        }
        data.extend_from_slice(b"u.");
        let expected: Vec<Value> = names
            .iter()
            .enumerate()
            .map(|(i, name)| json!([name, 100 + i]))
            .collect();
        assert_value(&strict(), &data, json!({ "dict": expected }));
    }
}

// ===== globals =========================================================================

#[test]
fn stack_global_needs_two_strs() {
    let bad = malformed("STACK_GLOBAL requires str");
    assert_error(
        &strict(),
        b"C\x08builtins\x8c\x03set\x93.",
        bad.clone(),
        15,
        op(Opcode::StackGlobal),
    );
    assert_error(
        &strict(),
        b"\x8c\x08builtinsC\x03set\x93.",
        bad.clone(),
        15,
        op(Opcode::StackGlobal),
    );
    assert_error(
        &strict(),
        b"N\x8c\x03set\x93.",
        bad,
        6,
        op(Opcode::StackGlobal),
    );
    assert_error(
        &strict(),
        b"\x8c\x03set\x93.",
        ErrorKind::StackUnderflow,
        5,
        op(Opcode::StackGlobal),
    );
}

#[test]
fn python2_names_are_mapped_below_protocol_3() {
    assert_value(&strict(), b"c__builtin__\nset\n.", gl("builtins", "set"));
    assert_value(
        &inert(),
        b"ccopy_reg\n_reconstructor\n.",
        gl("copyreg", "_reconstructor"),
    );
    assert_value(
        &inert(),
        b"cexceptions\nStandardError\n.",
        gl("builtins", "Exception"),
    );
    assert_value(
        &inert(),
        b"cUserDict\nUserDict\n.",
        gl("collections", "UserDict"),
    );
    assert_value(&inert(), b"c__builtin__\nunicode\n.", gl("builtins", "str"));
    assert_value(
        &inert(),
        b"\x80\x02c__builtin__\nxrange\n.",
        gl("builtins", "range"),
    );
    assert_value(
        &strict(),
        b"\x80\x02\x8c\x0b__builtin__\x8c\x03set\x93.",
        gl("builtins", "set"),
    );
    // The protocol in force is the last PROTO.
    assert_value(
        &strict(),
        b"\x80\x03\x80\x02c__builtin__\nset\n.",
        gl("builtins", "set"),
    );
}

#[test]
fn raw_mode_keeps_names_as_written() {
    let raw = Decoder::new().raw(true);
    assert_value(&raw, b"c__builtin__\nset\n.", gl("__builtin__", "set"));
    let raw_inert = Decoder::new().policy(Policy::inert()).raw(true);
    assert_value(
        &raw_inert,
        b"cexceptions\nStandardError\n.",
        gl("exceptions", "StandardError"),
    );
    // The policy still judges the mapped names.
    assert_error(
        &raw,
        b"c__builtin__\neval\n.",
        forbidden("builtins", "eval"),
        0,
        op(Opcode::Global),
    );
}

#[test]
fn protocol_3_and_above_names_are_not_mapped() {
    assert_error(
        &strict(),
        b"\x80\x03c__builtin__\nset\n.",
        forbidden("__builtin__", "set"),
        2,
        op(Opcode::Global),
    );
    assert_value(
        &inert(),
        b"\x80\x03c__builtin__\nset\n.",
        gl("__builtin__", "set"),
    );
    assert_value(
        &inert(),
        b"\x80\x02\x80\x03c__builtin__\nset\n.",
        gl("__builtin__", "set"),
    );
}

#[test]
fn strict_policy_refuses_at_the_global() {
    assert_error(
        &strict(),
        b"K\x01cos\nsystem\n.",
        forbidden("os", "system"),
        2,
        op(Opcode::Global),
    );
    assert_error(
        &strict(),
        b"K\x01\x8c\x02os\x8c\x06system\x93.",
        forbidden("os", "system"),
        14,
        op(Opcode::StackGlobal),
    );
    assert_error(
        &strict(),
        b"(K\x01ios\nsystem\n.",
        forbidden("os", "system"),
        3,
        op(Opcode::Inst),
    );
    assert_error(
        &strict(),
        b"c__builtin__\neval\n.",
        forbidden("builtins", "eval"),
        0,
        op(Opcode::Global),
    );
    // A dotted name must match whole.
    assert_error(
        &strict(),
        b"\x80\x04\x8c\x08builtins\x8c\x07set.add\x93.",
        forbidden("builtins", "set.add"),
        21,
        op(Opcode::StackGlobal),
    );
    assert_error(
        &strict(),
        b"cbuiltins.x\nset\n.",
        forbidden("builtins.x", "set"),
        0,
        op(Opcode::Global),
    );
    // deny_all refuses even the reconstructors.
    let deny = Decoder::new().policy(Policy::deny_all());
    assert_error(
        &deny,
        b"cbuiltins\nset\n.",
        forbidden("builtins", "set"),
        0,
        op(Opcode::Global),
    );
}

#[test]
fn global_lines_are_utf8() {
    assert_value(
        &inert(),
        b"cm\xc3\xa9\nn\xc3\xa9\n.",
        gl("m\u{e9}", "n\u{e9}"),
    );
    assert_error(
        &inert(),
        b"cm\xff\nn\n.",
        malformed("global module name is not UTF-8"),
        0,
        op(Opcode::Global),
    );
    assert_error(
        &inert(),
        b"cm\nn\xff\n.",
        malformed("global name is not UTF-8"),
        0,
        op(Opcode::Global),
    );
}

#[test]
fn global_with_an_empty_line_is_an_error() {
    // CPython 3.11: UnpicklingError "pickle data was truncated" (bad_readline);
    // pickleproof calls an empty argument line malformed, as for INT/LONG/FLOAT.
    assert_error(
        &inert(),
        b"c\nint\n.",
        malformed("empty argument line"),
        0,
        op(Opcode::Global),
    );
    assert_error(
        &inert(),
        b"cbuiltins\n\n.",
        malformed("empty argument line"),
        0,
        op(Opcode::Global),
    );
    assert_error(
        &inert(),
        b"(i\nint\n.",
        malformed("empty argument line"),
        1,
        op(Opcode::Inst),
    );
}

#[test]
fn inst_lines_are_ascii() {
    // CPython 3.11: UnicodeDecodeError 'ascii' codec can't decode byte 0xc3.
    assert_error(
        &inert(),
        b"(i\xc3\xa9\nx\n.",
        malformed("INST module and name must be ASCII"),
        1,
        op(Opcode::Inst),
    );
}

#[test]
fn inert_policy_describes_calls() {
    assert_value(
        &inert(),
        b"cos\nsystem\n(S'echo pwned'\ntR.",
        json!({
            "object": "reduce",
            "callable": gl("os", "system"),
            "args": { "tuple": ["echo pwned"] },
        }),
    );
    // A described call with everything a stream can do to it.
    assert_value(
        &inert(),
        b"\x80\x04\x8c\x01m\x8c\x01C\x93)}\x8c\x01kK\x01s\x92]b(K\x02e(K\x03K\x04u(K\x05\x90.",
        json!({
            "object": "newobj_ex",
            "callable": gl("m", "C"),
            "args": { "tuple": [] },
            "kwargs": { "dict": [["k", 1]] },
            "state": [[]],
            "listitems": [2],
            "dictitems": [[3, 4]],
            "additems": [5],
        }),
    );
}

#[test]
fn reconstructors_are_folded() {
    // What CPython's own pickler writes for sets, frozensets and bytes at protocols 0 and 2.
    assert_value(
        &strict(),
        b"\x80\x02c__builtin__\nset\nq\x00]q\x01(K\x01K\x02K\x01e\x85q\x02Rq\x03.",
        json!({ "set": [1, 2] }),
    );
    assert_value(
        &strict(),
        b"c__builtin__\nset\np0\n((lp1\nI1\naI2\natp2\nRp3\n.",
        json!({ "set": [1, 2] }),
    );
    assert_value(
        &strict(),
        b"\x80\x02c__builtin__\nfrozenset\nq\x00]q\x01K\x03a\x85q\x02Rq\x03.",
        json!({ "frozenset": [3] }),
    );
    assert_value(
        &strict(),
        b"\x80\x02c_codecs\nencode\nq\x00X\x02\x00\x00\x00\xc3\xa9q\x01X\x06\x00\x00\x00latin1q\x02\x86q\x03Rq\x04.",
        by(b"\xe9"),
    );
    assert_value(
        &strict(),
        b"c_codecs\nencode\np0\n(V\xe9\np1\nVlatin1\np2\ntp3\nRp4\n.",
        by(b"\xe9"),
    );
    assert_value(
        &strict(),
        b"\x80\x02c__builtin__\nbytes\nq\x00)Rq\x01.",
        by(b""),
    );
    assert_value(
        &strict(),
        b"\x80\x02c__builtin__\nbytearray\nq\x00c_codecs\nencode\nq\x01X\x03\x00\x00\x00abcq\x02X\x06\x00\x00\x00latin1q\x03\x86q\x04Rq\x05\x85q\x06Rq\x07.",
        ba(b"abc"),
    );
    // Unhashable items are still an error when folded.
    assert_error(
        &strict(),
        b"cbuiltins\nset\n(]l\x85R.",
        ErrorKind::Unhashable("list"),
        18,
        op(Opcode::Reduce),
    );
}

#[test]
fn raw_mode_does_not_fold() {
    assert_value(
        &Decoder::new().raw(true),
        b"\x80\x02c__builtin__\nbytes\nq\x00)Rq\x01.",
        json!({ "object": "reduce", "callable": gl("__builtin__", "bytes"), "args": { "tuple": [] } }),
    );
}

// ===== persistent ids, extensions, buffers =============================================

#[test]
fn persistent_ids_refused_by_strict_described_by_inert() {
    assert_error(
        &strict(),
        b"K\x01Pabc\n.",
        ErrorKind::PersistentIdRefused,
        2,
        op(Opcode::PersId),
    );
    assert_error(
        &strict(),
        b"K\x01K\x02Q.",
        ErrorKind::PersistentIdRefused,
        4,
        op(Opcode::BinPersId),
    );
    assert_value(&inert(), b"P\n.", json!({ "persid": "" }));
    assert_value(
        &inert(),
        b"\x8c\x07storageK\x01\x86Q.",
        json!({ "persid": { "tuple": ["storage", 1] } }),
    );
    let allowed = Decoder::new().policy(Policy::strict().allow_persistent_ids(true));
    assert_value(&allowed, b"Pabc\n.", json!({ "persid": "abc" }));
    assert_error(
        &allowed,
        b"P\xe9\n.",
        malformed("persistent IDs in protocol 0 must be ASCII strings"),
        0,
        op(Opcode::PersId),
    );
}

/// A call whose callable is not a global: refused by every policy but inert (an
/// allowlist of globals says nothing about what it would run), at the calling
/// opcode, with the kind of callable found; described by inert; accepted when a
/// policy opts in.
#[test]
fn computed_calls_refused_by_every_policy_but_inert() {
    let refused = |callee| ErrorKind::ComputedCallRefused { callee };
    // builtins.set(1, 2) is allowed but not folded (two arguments), so it stays an
    // object; calling that object is the computed call (REDUCE at 26).
    let call_of_call = b"\x80\x02c__builtin__\nset\nK\x01K\x02\x86R)R.";
    assert_error(
        &strict(),
        call_of_call,
        refused("object"),
        26,
        op(Opcode::Reduce),
    );
    let opted_in = Decoder::new().policy(Policy::strict().allow_computed_calls(true));
    let inner = json!({
        "object": "reduce",
        "callable": gl("builtins", "set"),
        "args": { "tuple": [1, 2] },
    });
    let outer = json!({ "object": "reduce", "callable": inner, "args": { "tuple": [] } });
    assert_value(&opted_in, call_of_call, outer.clone());
    assert_value(&inert(), call_of_call, outer);

    // PyTorch checkpoints are full of persistent ids, but calling one is refused, as
    // are NEWOBJ and OBJ of an allowed class's instance.
    let pytorch = Decoder::new().policy(Policy::pytorch());
    let call_persid = b"\x80\x02X\x01\x00\x00\x00pQ)R.";
    assert_error(
        &pytorch,
        call_persid,
        refused("persistent id"),
        10,
        op(Opcode::Reduce),
    );
    assert_value(
        &inert(),
        call_persid,
        json!({ "object": "reduce", "callable": { "persid": "p" }, "args": { "tuple": [] } }),
    );
    let newobj_of_instance = b"\x80\x02ccollections\nOrderedDict\n)R)\x81.";
    assert_error(
        &pytorch,
        newobj_of_instance,
        refused("object"),
        30,
        op(Opcode::NewObj),
    );
    let obj_of_instance = b"\x80\x02(ccollections\nOrderedDict\n)Ro.";
    assert_error(
        &pytorch,
        obj_of_instance,
        refused("object"),
        30,
        op(Opcode::Obj),
    );
    // An extension code in a callable's place (extensions allowed, calls not).
    let call_ext = b"\x80\x02\x82\x05)R.";
    let extensions = Decoder::new().policy(Policy::strict().allow_extensions(true));
    assert_error(
        &extensions,
        call_ext,
        refused("extension"),
        5,
        op(Opcode::Reduce),
    );
}

#[test]
fn extension_codes() {
    for data in [
        &b"\x82\x00."[..],
        b"\x83\x00\x00.",
        b"\x84\x00\x00\x00\x00.",
    ] {
        let at = op(Opcode::from_byte(data[0]).unwrap());
        assert_error(&strict(), data, malformed("EXT specifies code <= 0"), 0, at);
        assert_error(&inert(), data, malformed("EXT specifies code <= 0"), 0, at);
    }
    assert_error(
        &strict(),
        b"N\x82\xff.",
        ErrorKind::ExtensionRefused(255),
        1,
        op(Opcode::Ext1),
    );
    assert_value(
        &inert(),
        b"\x82\xff\x83\xff\xff\x84\xff\xff\xff\x7f\x87.",
        json!({ "tuple": [{ "ext": 255 }, { "ext": 65535 }, { "ext": 2147483647 }] }),
    );
}

#[test]
fn ext_codes_are_one_object_per_code() {
    // CPython resolves a code once per load and caches it (`copyreg._extension_cache`):
    // every EXT of a code pushes the same object, so they are one dict key, one set item.
    // Found by the `cpython` fuzz target (corpus/regressions/cpython-ext-code-one-object.pkl).
    assert_value(
        &inert(),
        b"}(\x82\x05K\x01\x83\x05\x00K\x02\x82\x06K\x03u.",
        json!({ "dict": [[{ "ext": 5 }, 2], [{ "ext": 6 }, 3]] }),
    );
    assert_value(
        &inert(),
        b"(\x82\x05\x84\x05\x00\x00\x00\x82\x06\x91.",
        json!({ "frozenset": [{ "ext": 5 }, { "ext": 6 }] }),
    );
}

#[test]
fn a_read_only_view_of_a_bytearray_is_unhashable() {
    // CPython 3.11: READONLY_BUFFER on a bytearray pushes a read-only memoryview of
    // it, which hashes its exporter: "unhashable type: 'bytearray'" as a dict key, a
    // set item or inside a tuple key. The graph holds the view as bytes. Found by the
    // `cpython` fuzz target (corpus/regressions/cpython-readonly-view-unhashable.pkl).
    let empty = b"\x96\x00\x00\x00\x00\x00\x00\x00\x00\x98";
    let unhashable = ErrorKind::Unhashable("bytearray");
    let as_key = cat(&[b"}(", empty, b"K\x01u."]);
    assert_error(
        &inert(),
        &as_key,
        unhashable.clone(),
        14,
        op(Opcode::SetItems),
    );
    let in_tuple = cat(&[b"(", empty, b"\x85\x91."]);
    assert_error(&inert(), &in_tuple, unhashable, 12, op(Opcode::FrozenSet));
    // The view itself is a value like bytes, and bytes(view) is hashable again.
    assert_value(&inert(), &cat(&[empty, b"."]), json!({ "bytes": "" }));
    let copied = cat(&[b"}(c__builtin__\nbytes\n", empty, b"\x85RK\x01u."]);
    assert_value(&inert(), &copied, json!({ "dict": [[{ "bytes": "" }, 1]] }));
}

#[test]
fn text_numbers_end_at_an_embedded_nul() {
    // CPython 3.11 parses LONG, PUT and GET arguments with C string functions
    // (`PyLong_FromString`), so a NUL ends them, as it already ends INT and FLOAT.
    // LONG first drops a trailing `L` of the whole line. Found by the `cpython` fuzz
    // target (corpus/regressions/cpython-text-index-stops-at-nul.pkl).
    assert_value(&inert(), b"L12\x00xL\n.", json!(12));
    assert_value(&inert(), b"L 5 \x00\n.", json!(5));
    assert_error(
        &inert(),
        b"L\x00L\n.",
        malformed("invalid literal for LONG"),
        0,
        op(Opcode::Long),
    );
    assert_error(
        &inert(),
        b"L12L\x00\n.",
        malformed("invalid literal for LONG"),
        0,
        op(Opcode::Long),
    );
    assert_value(&inert(), b"N]p0\x00zz\n0g0\x00q\n.", json!([]));
    assert_value(&inert(), b"N]p 7 \x00x\ng7\n.", json!([]));
    assert_error(
        &inert(),
        b"Np\x00\n.",
        malformed("invalid memo index"),
        1,
        op(Opcode::Put),
    );
}

#[test]
fn ext4_code_with_top_bit_is_not_positive() {
    // CPython 3.11: UnpicklingError "EXT specifies code <= 0".
    assert_error(
        &inert(),
        b"\x84\xff\xff\xff\xff.",
        malformed("EXT specifies code <= 0"),
        0,
        op(Opcode::Ext4),
    );
    assert_error(
        &strict(),
        b"\x84\x00\x00\x00\x80.",
        malformed("EXT specifies code <= 0"),
        0,
        op(Opcode::Ext4),
    );
}

#[test]
fn next_buffer_without_buffers() {
    assert_error(
        &strict(),
        b"N\x97.",
        ErrorKind::BufferMissing,
        1,
        op(Opcode::NextBuffer),
    );
    assert_value(
        &inert(),
        b"\x97\x97\x98\x86.",
        json!({ "tuple": [{ "buffer": 0, "readonly": false }, { "buffer": 1, "readonly": true }] }),
    );
    let placeholders = Decoder::new().policy(Policy::strict().allow_buffer_placeholders(true));
    assert_value(
        &placeholders,
        b"\x97.",
        json!({ "buffer": 0, "readonly": false }),
    );
}

#[test]
fn next_buffer_with_buffers() {
    let two = strict().buffers(vec![b"ab".to_vec(), b"cd".to_vec()]);
    assert_value(
        &two,
        b"\x97\x97\x98\x86.",
        json!({ "tuple": [ba(b"ab"), by(b"cd")] }),
    );
    // Too few: the second NEXT_BUFFER fails, also when placeholders are allowed.
    let one = strict().buffers(vec![b"ab".to_vec()]);
    assert_error(
        &one,
        b"\x97\x97\x86.",
        ErrorKind::BufferMissing,
        1,
        op(Opcode::NextBuffer),
    );
    let one_inert = inert().buffers(vec![b"ab".to_vec()]);
    assert_error(
        &one_inert,
        b"\x97\x97\x86.",
        ErrorKind::BufferMissing,
        1,
        op(Opcode::NextBuffer),
    );
    let none = strict().buffers(Vec::new());
    assert_error(
        &none,
        b"\x97.",
        ErrorKind::BufferMissing,
        0,
        op(Opcode::NextBuffer),
    );
}

// ===== several pickles, streams ========================================================

/// A reader that fails once it has given `good` bytes.
struct FailsAfter {
    data: Vec<u8>,
    pos: usize,
    good: usize,
}

impl Read for FailsAfter {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.good {
            return Err(std::io::Error::other("disk on fire"));
        }
        let end = self.good.min(self.data.len()).min(self.pos + buf.len());
        let n = end - self.pos;
        buf[..n].copy_from_slice(&self.data[self.pos..end]);
        self.pos = end;
        Ok(n)
    }
}

#[test]
fn iter_reader_reports_a_read_error_at_the_start_of_the_next_pickle() {
    // Offsets count from the start of each pickle: a read error while looking for the
    // third pickle is at its offset 0 (it was reported at the second one's end).
    // Found by the stream target (corpus/regressions/stream-read-error-second-pickle.pkl).
    let data = b"K\x01.(I0\n.K\x02.".to_vec();
    let reader = FailsAfter {
        data,
        pos: 0,
        good: 8,
    };
    let decoder = inert();
    let items: Vec<_> = decoder
        .iter_reader(BufReader::with_capacity(4, reader))
        .collect();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0].as_ref().map(|d| d.consumed).ok(), Some(3));
    assert_eq!(items[1].as_ref().map(|d| d.consumed).ok(), Some(5));
    let e = items[2].as_ref().unwrap_err();
    assert_eq!(
        (e.kind(), e.offset(), e.opcode()),
        (&ErrorKind::Io(std::io::ErrorKind::Other), 0, None)
    );
}

#[test]
fn iter_slice_over_concatenated_pickles() {
    let data = b"\x80\x04K\x01.\x80\x02]K\x02a.";
    let decoder = strict();
    let mut values = Vec::new();
    for d in decoder.iter_slice(data) {
        let d = d.unwrap();
        values.push((canon(&d.graph, d.root), d.consumed, d.protocol));
    }
    assert_eq!(values, vec![(json!(1), 5, 4), (json!([2]), 7, 2)]);
}

#[test]
fn iter_slice_stops_after_an_error_with_offsets_from_the_pickle_start() {
    let data = b"K\x01.K\x02\x00.K\x03.";
    let decoder = strict();
    let mut it = decoder.iter_slice(data);
    let first = it.next().unwrap().unwrap();
    assert_eq!(canon(&first.graph, first.root), json!(1));
    let e = it.next().unwrap().unwrap_err();
    assert_eq!(
        (e.kind().clone(), e.offset(), e.opcode()),
        (ErrorKind::UnknownOpcode(0), 2, Some(0))
    );
    assert!(it.next().is_none());
}

#[test]
fn decode_reader_consumes_exactly_up_to_stop() {
    let data = b"\x80\x02]q\x00(K\x01X\x03\x00\x00\x00twoq\x01e.REST\x00";
    for capacity in [1, 3, 64] {
        let mut reader = BufReader::with_capacity(capacity, Cursor::new(&data[..]));
        let d = strict().decode_reader(&mut reader).unwrap();
        assert_eq!(canon(&d.graph, d.root), json!([1, "two"]));
        assert_eq!(d.consumed, 20);
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"REST\x00", "capacity {capacity}");
    }
}

#[test]
fn decode_reader_agrees_with_decode() {
    for data in [
        &b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01K\x02\x86."[..],
        b"(K\x01X\x05\x00\x00\x00ab",
        b"I12\n",
        b"K\x01\x98.",
        b"\x95\xff\x00\x00\x00\x00\x00\x00\x00N.",
        b"\x95\x02\x00\x00\x00\x00\x00\x00\x00X\x03\x00\x00\x00abc.",
        b"\x95\x04\x00\x00\x00\x00\x00\x00\x00N.xx",
    ] {
        let slice = strict()
            .decode(data)
            .map(|d| (canon(&d.graph, d.root), d.consumed));
        let stream = strict()
            .decode_reader(BufReader::with_capacity(2, data))
            .map(|d| (canon(&d.graph, d.root), d.consumed));
        assert_eq!(
            slice.map_err(|e| (e.kind().clone(), e.offset(), e.opcode())),
            stream.map_err(|e| (e.kind().clone(), e.offset(), e.opcode())),
            "{data:?}"
        );
    }
}

// ===== budgets =========================================================================

#[test]
fn steps_one_per_opcode() {
    let data = b"N0N0N.";
    let d = Decoder::new()
        .limits(Limits::unbounded())
        .decode(data)
        .unwrap();
    assert_eq!(d.usage.steps, 6);
    assert_value(&only(Resource::Steps, 6), data, Value::Null);
    assert_error(
        &only(Resource::Steps, 5),
        data,
        limit(Resource::Steps, 5, 6),
        5,
        op(Opcode::Stop),
    );
    assert_error(
        &only(Resource::Steps, 2),
        data,
        limit(Resource::Steps, 2, 3),
        2,
        op(Opcode::None),
    );
    assert_error(
        &only(Resource::Steps, 0),
        data,
        limit(Resource::Steps, 0, 1),
        0,
        op(Opcode::None),
    );
}

#[test]
fn steps_charge_payload_bytes() {
    // One step per 64 payload bytes, on top of the opcode's own step.
    let mut data = b"B\x80\x00\x00\x00".to_vec();
    data.extend_from_slice(&[b'x'; 128]);
    data.push(b'.');
    let d = Decoder::new()
        .limits(Limits::unbounded())
        .decode(&data)
        .unwrap();
    assert_eq!(d.usage.steps, 4);
    assert_error(
        &only(Resource::Steps, 3),
        &data,
        limit(Resource::Steps, 3, 4),
        133,
        op(Opcode::Stop),
    );
    assert_error(
        &only(Resource::Steps, 2),
        &data,
        limit(Resource::Steps, 2, 3),
        0,
        op(Opcode::BinBytes),
    );
}

#[test]
fn memory_claim_is_checked_before_reading() {
    let mut data = b"B\xe8\x03\x00\x00".to_vec();
    data.extend_from_slice(&[b'x'; 1000]);
    data.push(b'.');
    assert_error(
        &only(Resource::Memory, 500),
        &data,
        limit(Resource::Memory, 500, 1000),
        0,
        op(Opcode::BinBytes),
    );
    // A claim larger than the input is a memory error before it is an end of input.
    assert_error(
        &only(Resource::Memory, 1000),
        b"B\x40\x42\x0f\x00abc",
        limit(Resource::Memory, 1000, 1_000_000),
        0,
        op(Opcode::BinBytes),
    );
}

#[test]
fn depth_through_an_append_chain() {
    let data = b"]]]aa.";
    let d = Decoder::new()
        .limits(Limits::unbounded())
        .decode(data)
        .unwrap();
    assert_eq!(d.usage.depth, 3);
    assert_eq!(canon(&d.graph, d.root), json!([[[]]]));
    assert_value(&only(Resource::Depth, 3), data, json!([[[]]]));
    assert_error(
        &only(Resource::Depth, 2),
        data,
        limit(Resource::Depth, 2, 3),
        4,
        op(Opcode::Append),
    );
}

#[test]
fn depth_through_marks() {
    let data = b"(((t\x85\x85.";
    assert_error(
        &only(Resource::Depth, 2),
        data,
        limit(Resource::Depth, 2, 3),
        2,
        op(Opcode::Mark),
    );
    let d = Decoder::new()
        .limits(Limits::unbounded())
        .decode(data)
        .unwrap();
    assert_eq!(d.usage.depth, 3);
}

#[test]
fn depth_through_tuples() {
    let data = b"K\x01\x85\x85\x85.";
    assert_error(
        &only(Resource::Depth, 2),
        data,
        limit(Resource::Depth, 2, 3),
        4,
        op(Opcode::Tuple1),
    );
    assert_value(
        &only(Resource::Depth, 3),
        data,
        json!({ "tuple": [{ "tuple": [{ "tuple": [1] }] }] }),
    );
}

#[test]
fn depth_is_a_property_of_the_value() {
    let depth = |data: &[u8]| {
        Decoder::new()
            .limits(Limits::unbounded())
            .decode(data)
            .unwrap()
            .usage
            .depth
    };
    // ((), ()) two ways; [] and [1].
    assert_eq!(depth(b"(t(t\x86."), 2);
    assert_eq!(depth(b"))\x86."), 2);
    assert_eq!(depth(b"]."), 1);
    assert_eq!(depth(b"}."), 1);
    assert_eq!(depth(b"\x8f."), 1);
    assert_eq!(depth(b"]K\x01a."), 1);
    assert_eq!(depth(b"K\x01\x85."), 1);
}

/// Past a thousand values on the stack, empty containers are made when first used
/// (a nesting bomb's million unused EMPTY_LISTs then cost a stack slot each). The
/// value built is the same either way: every container its own object, in order,
/// sharing exactly what the stream shares.
#[test]
fn deep_stacks_of_empty_containers_build_the_same_values() {
    let n = 3000;
    // MARK, n x (EMPTY_LIST, EMPTY_DICT, EMPTY_SET, EMPTY_TUPLE), LIST.
    let mut data = vec![0x80, 4, b'('];
    for _ in 0..n {
        data.extend_from_slice(b"]}\x8f)");
    }
    data.extend_from_slice(b"l.");
    let d = Decoder::new().decode(&data).unwrap();
    let Some(Node::List(items)) = d.graph.get(d.root) else {
        panic!("not a list");
    };
    assert_eq!(items.len(), 4 * n);
    let kinds: Vec<&str> = items
        .iter()
        .map(|id| d.graph.get(*id).unwrap().type_name())
        .collect();
    for (i, kind) in kinds.iter().enumerate() {
        assert_eq!(*kind, ["list", "dict", "set", "tuple"][i % 4], "item {i}");
    }
    // Each list, dict and set is its own object.
    let mut mutable: Vec<_> = items
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 4 != 3)
        .map(|(_, id)| *id)
        .collect();
    mutable.sort();
    mutable.dedup();
    assert_eq!(mutable.len(), 3 * n);

    // Deep in the stack, DUP and memo share one list; APPEND onto it shows in both.
    let mut data = vec![0x80, 4];
    data.extend(std::iter::repeat(b']').take(2000));
    data.extend_from_slice(b"\x94h\x00K\x07a\x86.");
    let d = Decoder::new().decode(&data).unwrap();
    assert_eq!(
        canon(&d.graph, d.root),
        json!({ "tuple": [[7], [7]] }),
        "memo GET of a deep empty list"
    );
    let Some(Node::Tuple(pair)) = d.graph.get(d.root) else {
        panic!("not a tuple");
    };
    assert_eq!(pair[0], pair[1], "the memoized list is one object");
    let mut data = vec![0x80, 4];
    data.extend(std::iter::repeat(b']').take(2000));
    data.extend_from_slice(b"2K\x07a\x86.");
    let d = Decoder::new().decode(&data).unwrap();
    let Some(Node::Tuple(pair)) = d.graph.get(d.root) else {
        panic!("not a tuple");
    };
    assert_eq!(pair[0], pair[1], "DUP of a deep empty list is one object");
}

/// A million empty lists that are pushed and popped again never become nodes: the
/// decode holds a stack, not a graph of a million lists (the nesting bomb's cost).
#[test]
fn unused_empty_containers_cost_only_their_stack_slot() {
    let n = 1_000_000;
    let mut data = vec![0x80, 4, b'N'];
    data.extend(std::iter::repeat(b']').take(n));
    data.extend(std::iter::repeat(b'0').take(n));
    data.push(b'.');
    let d = Decoder::new().decode(&data).unwrap();
    assert_eq!(canon(&d.graph, d.root), json!(null));
    // The stack (4 bytes a slot, doubling) and the first 1024 lists (eager, 32 bytes
    // each, one 32 KiB arena chunk): well under the 32 MB a node per list would take.
    assert!(
        d.usage.memory_bytes < 6_000_000,
        "memory {}",
        d.usage.memory_bytes
    );
    assert_eq!(d.usage.depth, 1);
}

/// A run of EMPTY_LISTs past the eager threshold is taken in one loop on a slice; a
/// budget that runs out inside the run fails at the very opcode the dispatch loop
/// would stop at, with the same `requested`, and a stream (which takes every opcode
/// through the dispatch loop) gives the same error and the same `Usage`.
#[test]
fn a_budget_that_runs_out_inside_a_run_of_empty_lists_fails_at_that_opcode() {
    let n: u64 = 5000;
    let mut data = vec![0x80, 4];
    data.extend(std::iter::repeat(b']').take(n as usize));
    data.extend(std::iter::repeat(b'0').take(n as usize));
    data.push(b'N');
    data.push(b'.');
    let stream =
        |decoder: &Decoder| decoder.decode_reader(BufReader::with_capacity(7, Cursor::new(&data)));

    // Steps: PROTO is step 1 and the k-th EMPTY_LIST (at offset 1 + k) is step k + 1.
    for max_steps in [1500, 3000, 4321] {
        let decoder = only(Resource::Steps, max_steps);
        let offset = max_steps + 1; // the EMPTY_LIST that asks for step max_steps + 1
        assert_error(
            &decoder,
            &data,
            limit(Resource::Steps, max_steps, max_steps + 1),
            offset,
            Some(b']'),
        );
        let e = stream(&decoder).unwrap_err();
        assert_eq!(
            (e.kind().clone(), e.offset(), e.opcode()),
            (
                limit(Resource::Steps, max_steps, max_steps + 1),
                offset,
                Some(b']')
            ),
            "stream, max_steps {max_steps}"
        );
    }

    // Memory: the stack's growth fails at the EMPTY_LIST that needs it; the slice
    // (fast loop) and the stream (dispatch loop) agree on where and how much, for
    // every limit from the start of the run to the peak.
    let full = Decoder::new()
        .limits(Limits::unbounded())
        .decode(&data)
        .unwrap();
    let mut inside_the_run = 0;
    for max_memory in (0..=full.usage.memory_bytes).step_by(997) {
        let decoder = only(Resource::Memory, max_memory);
        let slice = error_of(&decoder, &data);
        let e = stream(&decoder).unwrap_err();
        assert_eq!(
            (e.kind().clone(), e.offset(), e.opcode()),
            (slice.kind().clone(), slice.offset(), slice.opcode()),
            "max_memory {max_memory}"
        );
        assert!(
            matches!(
                slice.kind(),
                ErrorKind::Limit {
                    resource: Resource::Memory,
                    ..
                }
            ),
            "{slice:?}"
        );
        if slice.opcode() == Some(b']') && slice.offset() > 1 + 1024 {
            inside_the_run += 1;
        }
    }
    assert!(
        inside_the_run > 0,
        "no limit failed inside the deferred run"
    );

    // Unbounded: both paths report the same usage.
    let streamed = stream(&Decoder::new().limits(Limits::unbounded())).unwrap();
    assert_eq!(full.usage, streamed.usage);
    assert_eq!(full.usage.steps, 2 * n + 3);
}

#[test]
fn memo_entries() {
    assert_error(
        &only(Resource::MemoEntries, 1),
        b"Nq\x00q\x01.",
        limit(Resource::MemoEntries, 1, 2),
        3,
        op(Opcode::BinPut),
    );
    // Overwriting an entry does not count.
    assert_value(
        &only(Resource::MemoEntries, 1),
        b"Nq\x00q\x00.",
        Value::Null,
    );
    assert_error(
        &only(Resource::MemoEntries, 1),
        b"Nq\x00q\x00\x94.",
        limit(Resource::MemoEntries, 1, 2),
        5,
        op(Opcode::Memoize),
    )
}

#[test]
fn container_len() {
    let c = |n| only(Resource::ContainerLen, n);
    assert_error(
        &c(2),
        b"(K\x01K\x02K\x03l.",
        limit(Resource::ContainerLen, 2, 3),
        7,
        op(Opcode::List),
    );
    assert_error(
        &c(2),
        b"](K\x01K\x02eK\x03a.",
        limit(Resource::ContainerLen, 2, 3),
        9,
        op(Opcode::Append),
    );
    assert_error(
        &c(2),
        b"K\x01K\x02K\x03\x87.",
        limit(Resource::ContainerLen, 2, 3),
        6,
        op(Opcode::Tuple3),
    );
    // Repeated keys are one entry.
    assert_value(
        &c(1),
        b"}(K\x01K\x02K\x01K\x03u.",
        json!({ "dict": [[1, 3]] }),
    );
    assert_error(
        &c(1),
        b"}(K\x01K\x02K\x02K\x03u.",
        limit(Resource::ContainerLen, 1, 2),
        10,
        op(Opcode::SetItems),
    );
}

#[test]
fn int_digits() {
    let c = |n| only(Resource::IntDigits, n);
    assert_error(
        &c(4),
        b"L12345L\n.",
        limit(Resource::IntDigits, 4, 5),
        0,
        op(Opcode::Long),
    );
    assert_value(&c(5), b"L12345L\n.", json!(12345));
    assert_error(
        &c(19),
        b"I12345678901234567890\n.",
        limit(Resource::IntDigits, 19, 20),
        0,
        op(Opcode::Int),
    );
    assert_error(
        &c(4),
        b"Np12345\n.",
        limit(Resource::IntDigits, 4, 5),
        1,
        op(Opcode::Put),
    );
    // Underscores, signs and prefixes are not digits.
    assert_value(&c(4), b"L-0x1_2_3_4L\n.", json!(-0x1234));
}

#[test]
fn int_bytes() {
    let c = |n| only(Resource::IntBytes, n);
    assert_error(
        &c(2),
        b"\x8a\x03\x01\x02\x03.",
        limit(Resource::IntBytes, 2, 3),
        0,
        op(Opcode::Long1),
    );
    assert_value(&c(3), b"\x8a\x03\x01\x02\x03.", json!(0x030201));
    assert_error(
        &c(2),
        b"N\x8b\x03\x00\x00\x00\x01\x02\x03.",
        limit(Resource::IntBytes, 2, 3),
        1,
        op(Opcode::Long4),
    );
}

#[test]
fn input_bytes() {
    let c = |n| only(Resource::InputBytes, n);
    assert_value(&c(2), b"N.", Value::Null);
    assert_error(&c(1), b"N.", limit(Resource::InputBytes, 1, 2), 1, None);
    // A length claim past the limit fails before anything is read.
    assert_error(
        &c(100),
        b"X\xff\xff\xff\x7f",
        limit(Resource::InputBytes, 100, 5 + 0x7fff_ffff),
        0,
        op(Opcode::BinUnicode),
    );
    // A line that would run past the limit.
    assert_error(
        &c(10),
        b"S'abcdefghijkl'\n.",
        limit(Resource::InputBytes, 10, 11),
        0,
        op(Opcode::String),
    );
}

/// Streams that exercise every resource.
fn budget_samples() -> Vec<Vec<u8>> {
    vec![
        // Memo, big ints, nesting, containers, text ints and a frame.
        b"\x80\x04\x95\x36\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01]\x94(\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01L123456789012345678901234L\nh\x01eh\x00\x8c\x03abce}(K\x01K\x02u."
            .to_vec(),
        // Protocol 0, with text memo indices.
        b"(lp0\nI1\naI99999999999999999999\na(lp1\ng0\nag1\na.".to_vec(),
        // Sets, frozensets and dicts past the linear-scan size.
        {
            let mut d = b"\x8f(".to_vec();
            for i in 0..40u8 {
                d.extend_from_slice(&[b'K', i]);
            }
            d.extend_from_slice(b"\x90.");
            d
        },
    ]
}

#[test]
fn limits_from_usage_decode_and_each_field_minus_one_fails() {
    for data in budget_samples() {
        let d = Decoder::new()
            .limits(Limits::unbounded())
            .decode(&data)
            .unwrap();
        let usage: Usage = d.usage;
        let expected = canon(&d.graph, d.root);
        assert_value(
            &Decoder::new().limits(Limits::from_usage(&usage)),
            &data,
            expected,
        );
        for resource in Limits::RESOURCES {
            let used = usage.get(resource);
            if used == 0 || resource == Resource::Memory {
                continue;
            }
            let mut limits = Limits::from_usage(&usage);
            limits.set(resource, used - 1);
            let e = match Decoder::new().limits(limits).decode(&data) {
                Ok(_) => panic!("{resource} - 1 ({}) still decodes {data:?}", used - 1),
                Err(e) => e,
            };
            match e.kind() {
                ErrorKind::Limit {
                    resource: r,
                    limit: l,
                    requested,
                } => {
                    assert_eq!((*r, *l), (resource, used - 1), "{data:?}");
                    assert_eq!(*requested, used, "{resource} of {data:?}");
                }
                other => panic!("{resource} - 1 on {data:?}: {other:?}"),
            }
        }
    }
}

/// The smallest memory limit under which `data` decodes (a binary search).
fn least_memory(data: &[u8]) -> u64 {
    let (mut lo, mut hi) = (0u64, 1u64 << 32);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if only(Resource::Memory, mid).decode(data).is_ok() {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

#[test]
fn memory_from_usage_decodes() {
    for data in budget_samples() {
        let d = Decoder::new()
            .limits(Limits::unbounded())
            .decode(&data)
            .unwrap();
        let expected = canon(&d.graph, d.root);
        assert_value(
            &Decoder::new().limits(Limits::from_usage(&d.usage)),
            &data,
            expected,
        );
        assert_value(
            &only(Resource::Memory, d.usage.memory_bytes),
            &data,
            canon(&d.graph, d.root),
        );
    }
}

#[test]
fn memory_usage_minus_one_fails() {
    for data in budget_samples() {
        let d = Decoder::new()
            .limits(Limits::unbounded())
            .decode(&data)
            .unwrap();
        let used = d.usage.memory_bytes;
        assert_eq!(least_memory(&data), used, "{data:?}");
        let mut limits = Limits::from_usage(&d.usage);
        limits.max_memory_bytes = used - 1;
        let e = error_of(&Decoder::new().limits(limits), &data);
        assert_eq!(e.resource(), Some(Resource::Memory));
    }
}

/// A str or bytes payload is not a container: its length is bounded by the input and
/// memory budgets, not by `max_container_len`.
#[test]
fn payload_length_is_not_a_container_length() {
    let data = b"X\x05\x00\x00\x00hello.";
    let d = Decoder::new()
        .limits(Limits::unbounded())
        .decode(data)
        .unwrap();
    assert_eq!(d.usage.container_len, 0);
    let mut limits = Limits::from_usage(&d.usage);
    limits.max_container_len = 0;
    assert_value(&Decoder::new().limits(limits), data, Value::from("hello"));
}

#[test]
fn frame_running_past_stop_decodes_under_its_usage() {
    // CPython accepts this: the frame holds `N.` and two bytes after STOP.
    let data = b"\x95\x04\x00\x00\x00\x00\x00\x00\x00N.xx";
    let d = Decoder::new()
        .limits(Limits::unbounded())
        .decode(data)
        .unwrap();
    assert_eq!(d.consumed, 11);
    assert_value(
        &Decoder::new().limits(Limits::from_usage(&d.usage)),
        data,
        Value::Null,
    );
}
