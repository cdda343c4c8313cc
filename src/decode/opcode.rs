//! The opcode table: one row per opcode of protocols 0–5.
//!
//! Everything else (the [`Opcode`] enum, names, argument shapes, the protocol that
//! introduced each opcode) comes from the single `opcodes!` table below, as
//! `wasmparser` derives its operators from one macro. Byte values and names are
//! those of CPython's `Lib/pickletools.py`.

/// How an opcode's argument is laid out in the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// No argument.
    None,
    /// One unsigned byte.
    U8,
    /// Two bytes, little-endian unsigned.
    U16,
    /// Four bytes, little-endian signed.
    I32,
    /// Four bytes, little-endian unsigned.
    U32,
    /// Eight bytes, little-endian unsigned.
    U64,
    /// Eight bytes, big-endian IEEE 754 double.
    F64,
    /// A byte count (1 byte), then that many bytes.
    BytesU8,
    /// A byte count (4 bytes, unsigned), then that many bytes.
    BytesU32,
    /// A byte count (4 bytes, signed), then that many bytes.
    BytesI32,
    /// A byte count (8 bytes, unsigned), then that many bytes.
    BytesU64,
    /// One line ending in `\n`.
    Line,
    /// Two lines, each ending in `\n` (module, then name).
    TwoLines,
}

macro_rules! opcodes {
    ($( $variant:ident = $byte:literal, $name:literal, $arg:ident, $proto:literal; )*) => {
        /// A pickle opcode.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[allow(missing_docs)]
        #[repr(u8)]
        pub enum Opcode {
            $( $variant = $byte, )*
        }

        impl Opcode {
            /// Every opcode, in table order.
            pub const ALL: &'static [Opcode] = &[ $( Opcode::$variant, )* ];

            /// The opcode for a byte, or `None` for a byte that is not an opcode.
            #[inline]
            pub fn from_byte(byte: u8) -> Option<Opcode> {
                match byte {
                    $( $byte => Some(Opcode::$variant), )*
                    _ => None,
                }
            }

            /// The name `pickletools` uses (e.g. `SHORT_BINUNICODE`).
            pub fn name(self) -> &'static str {
                match self {
                    $( Opcode::$variant => $name, )*
                }
            }

            /// The layout of the argument that follows the opcode byte.
            pub fn arg_kind(self) -> ArgKind {
                match self {
                    $( Opcode::$variant => ArgKind::$arg, )*
                }
            }

            /// The protocol that introduced this opcode.
            pub fn protocol(self) -> u8 {
                match self {
                    $( Opcode::$variant => $proto, )*
                }
            }

            /// The opcode byte.
            #[inline]
            pub fn byte(self) -> u8 {
                self as u8
            }
        }
    };
}

opcodes! {
    Mark = b'(', "MARK", None, 0;
    Stop = b'.', "STOP", None, 0;
    Pop = b'0', "POP", None, 0;
    PopMark = b'1', "POP_MARK", None, 1;
    Dup = b'2', "DUP", None, 0;
    Float = b'F', "FLOAT", Line, 0;
    Int = b'I', "INT", Line, 0;
    BinInt = b'J', "BININT", I32, 1;
    BinInt1 = b'K', "BININT1", U8, 1;
    Long = b'L', "LONG", Line, 0;
    BinInt2 = b'M', "BININT2", U16, 1;
    None = b'N', "NONE", None, 0;
    PersId = b'P', "PERSID", Line, 0;
    BinPersId = b'Q', "BINPERSID", None, 1;
    Reduce = b'R', "REDUCE", None, 0;
    String = b'S', "STRING", Line, 0;
    BinString = b'T', "BINSTRING", BytesI32, 1;
    ShortBinString = b'U', "SHORT_BINSTRING", BytesU8, 1;
    Unicode = b'V', "UNICODE", Line, 0;
    BinUnicode = b'X', "BINUNICODE", BytesU32, 1;
    Append = b'a', "APPEND", None, 0;
    Build = b'b', "BUILD", None, 0;
    Global = b'c', "GLOBAL", TwoLines, 0;
    Dict = b'd', "DICT", None, 0;
    EmptyDict = b'}', "EMPTY_DICT", None, 1;
    Appends = b'e', "APPENDS", None, 1;
    Get = b'g', "GET", Line, 0;
    BinGet = b'h', "BINGET", U8, 1;
    Inst = b'i', "INST", TwoLines, 0;
    LongBinGet = b'j', "LONG_BINGET", U32, 1;
    List = b'l', "LIST", None, 0;
    EmptyList = b']', "EMPTY_LIST", None, 1;
    Obj = b'o', "OBJ", None, 1;
    Put = b'p', "PUT", Line, 0;
    BinPut = b'q', "BINPUT", U8, 1;
    LongBinPut = b'r', "LONG_BINPUT", U32, 1;
    SetItem = b's', "SETITEM", None, 0;
    Tuple = b't', "TUPLE", None, 0;
    EmptyTuple = b')', "EMPTY_TUPLE", None, 1;
    SetItems = b'u', "SETITEMS", None, 1;
    BinFloat = b'G', "BINFLOAT", F64, 1;
    Proto = 0x80, "PROTO", U8, 2;
    NewObj = 0x81, "NEWOBJ", None, 2;
    Ext1 = 0x82, "EXT1", U8, 2;
    Ext2 = 0x83, "EXT2", U16, 2;
    Ext4 = 0x84, "EXT4", I32, 2;
    Tuple1 = 0x85, "TUPLE1", None, 2;
    Tuple2 = 0x86, "TUPLE2", None, 2;
    Tuple3 = 0x87, "TUPLE3", None, 2;
    NewTrue = 0x88, "NEWTRUE", None, 2;
    NewFalse = 0x89, "NEWFALSE", None, 2;
    Long1 = 0x8a, "LONG1", BytesU8, 2;
    Long4 = 0x8b, "LONG4", BytesI32, 2;
    BinBytes = b'B', "BINBYTES", BytesU32, 3;
    ShortBinBytes = b'C', "SHORT_BINBYTES", BytesU8, 3;
    ShortBinUnicode = 0x8c, "SHORT_BINUNICODE", BytesU8, 4;
    BinUnicode8 = 0x8d, "BINUNICODE8", BytesU64, 4;
    BinBytes8 = 0x8e, "BINBYTES8", BytesU64, 4;
    EmptySet = 0x8f, "EMPTY_SET", None, 4;
    AddItems = 0x90, "ADDITEMS", None, 4;
    FrozenSet = 0x91, "FROZENSET", None, 4;
    NewObjEx = 0x92, "NEWOBJ_EX", None, 4;
    StackGlobal = 0x93, "STACK_GLOBAL", None, 4;
    Memoize = 0x94, "MEMOIZE", None, 4;
    Frame = 0x95, "FRAME", U64, 4;
    ByteArray8 = 0x96, "BYTEARRAY8", BytesU64, 5;
    NextBuffer = 0x97, "NEXT_BUFFER", None, 5;
    ReadOnlyBuffer = 0x98, "READONLY_BUFFER", None, 5;
}

/// The highest protocol this crate (and CPython 3.8+) knows.
pub const HIGHEST_PROTOCOL: u8 = 5;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_all_68_opcodes_with_distinct_bytes() {
        assert_eq!(Opcode::ALL.len(), 68);
        for op in Opcode::ALL {
            assert_eq!(Opcode::from_byte(op.byte()), Some(*op));
        }
        let mut bytes: Vec<u8> = Opcode::ALL.iter().map(|o| o.byte()).collect();
        bytes.sort_unstable();
        bytes.dedup();
        assert_eq!(bytes.len(), 68);
    }

    #[test]
    fn bytes_that_are_not_opcodes() {
        for b in [0u8, b'!', 0xff, 0x99, b'A'] {
            assert_eq!(Opcode::from_byte(b), None);
        }
    }
}
