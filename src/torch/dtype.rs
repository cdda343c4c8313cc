//! Torch element types: how a checkpoint names them and how many bytes each takes.
//!
//! A checkpoint names a dtype in two ways: a legacy storage class in a storage's
//! persistent id (`torch.FloatStorage`, `torch.QInt8Storage`...: `torch/storage.py`'s
//! `_get_dtype_from_pickle_storage_type`), or, for the dtypes that have no storage
//! class (`torch.storage._new_dtypes()`: unsigned 16/32/64-bit ints and the float8
//! variants), a dtype global passed to `torch._utils._rebuild_tensor_v3`
//! (`torch.uint16`...). Both tables are here, and nothing else decides what a name means.

/// A torch element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DType {
    /// `torch.float64`.
    Float64,
    /// `torch.float32`.
    Float32,
    /// `torch.float16`.
    Float16,
    /// `torch.bfloat16`.
    BFloat16,
    /// `torch.float8_e4m3fn`.
    Float8E4M3Fn,
    /// `torch.float8_e5m2`.
    Float8E5M2,
    /// `torch.float8_e4m3fnuz`.
    Float8E4M3Fnuz,
    /// `torch.float8_e5m2fnuz`.
    Float8E5M2Fnuz,
    /// `torch.complex32` (two float16).
    Complex32,
    /// `torch.complex64` (two float32).
    Complex64,
    /// `torch.complex128` (two float64).
    Complex128,
    /// `torch.int64`.
    Int64,
    /// `torch.int32`.
    Int32,
    /// `torch.int16`.
    Int16,
    /// `torch.int8`.
    Int8,
    /// `torch.uint8`.
    UInt8,
    /// `torch.uint16`.
    UInt16,
    /// `torch.uint32`.
    UInt32,
    /// `torch.uint64`.
    UInt64,
    /// `torch.bool` (one byte, 0 or 1).
    Bool,
    /// `torch.qint8` (quantized; scale and zero point live in the graph).
    QInt8,
    /// `torch.quint8`.
    QUInt8,
    /// `torch.qint32`.
    QInt32,
    /// `torch.quint4x2` (two 4-bit values per byte).
    QUInt4x2,
    /// `torch.quint2x4` (four 2-bit values per byte).
    QUInt2x4,
}

/// Every dtype, in declaration order (for tests and tables).
pub const ALL: [DType; 25] = [
    DType::Float64,
    DType::Float32,
    DType::Float16,
    DType::BFloat16,
    DType::Float8E4M3Fn,
    DType::Float8E5M2,
    DType::Float8E4M3Fnuz,
    DType::Float8E5M2Fnuz,
    DType::Complex32,
    DType::Complex64,
    DType::Complex128,
    DType::Int64,
    DType::Int32,
    DType::Int16,
    DType::Int8,
    DType::UInt8,
    DType::UInt16,
    DType::UInt32,
    DType::UInt64,
    DType::Bool,
    DType::QInt8,
    DType::QUInt8,
    DType::QInt32,
    DType::QUInt4x2,
    DType::QUInt2x4,
];

impl DType {
    /// torch's name without the `torch.` prefix (`float32`, `float8_e4m3fn`...).
    pub fn name(self) -> &'static str {
        match self {
            DType::Float64 => "float64",
            DType::Float32 => "float32",
            DType::Float16 => "float16",
            DType::BFloat16 => "bfloat16",
            DType::Float8E4M3Fn => "float8_e4m3fn",
            DType::Float8E5M2 => "float8_e5m2",
            DType::Float8E4M3Fnuz => "float8_e4m3fnuz",
            DType::Float8E5M2Fnuz => "float8_e5m2fnuz",
            DType::Complex32 => "complex32",
            DType::Complex64 => "complex64",
            DType::Complex128 => "complex128",
            DType::Int64 => "int64",
            DType::Int32 => "int32",
            DType::Int16 => "int16",
            DType::Int8 => "int8",
            DType::UInt8 => "uint8",
            DType::UInt16 => "uint16",
            DType::UInt32 => "uint32",
            DType::UInt64 => "uint64",
            DType::Bool => "bool",
            DType::QInt8 => "qint8",
            DType::QUInt8 => "quint8",
            DType::QInt32 => "qint32",
            DType::QUInt4x2 => "quint4x2",
            DType::QUInt2x4 => "quint2x4",
        }
    }

    /// Bytes per element (torch's `element_size()`; the packed sub-byte quantized
    /// types are stored one byte per element of their storage).
    pub fn size(self) -> u64 {
        match self {
            DType::Complex128 => 16,
            DType::Float64 | DType::Int64 | DType::UInt64 | DType::Complex64 => 8,
            DType::Float32 | DType::Int32 | DType::UInt32 | DType::QInt32 | DType::Complex32 => 4,
            DType::Float16 | DType::BFloat16 | DType::Int16 | DType::UInt16 => 2,
            DType::Float8E4M3Fn
            | DType::Float8E5M2
            | DType::Float8E4M3Fnuz
            | DType::Float8E5M2Fnuz
            | DType::Int8
            | DType::UInt8
            | DType::Bool
            | DType::QInt8
            | DType::QUInt8
            | DType::QUInt4x2
            | DType::QUInt2x4 => 1,
        }
    }

    /// The width of one byte-order unit: what a big-endian storage swaps. A complex
    /// number is two floats, each swapped on its own.
    pub fn swap_unit(self) -> u64 {
        match self {
            DType::Complex32 => 2,
            DType::Complex64 => 4,
            DType::Complex128 => 8,
            other => other.size(),
        }
    }

    /// The dtype a torch dtype global names (`torch.float32` -> `float32`), also
    /// accepting the aliases torch defines (`float`, `half`, `long`...).
    pub fn from_name(name: &str) -> Option<DType> {
        Some(match name {
            "float64" | "double" => DType::Float64,
            "float32" | "float" => DType::Float32,
            "float16" | "half" => DType::Float16,
            "bfloat16" => DType::BFloat16,
            "float8_e4m3fn" => DType::Float8E4M3Fn,
            "float8_e5m2" => DType::Float8E5M2,
            "float8_e4m3fnuz" => DType::Float8E4M3Fnuz,
            "float8_e5m2fnuz" => DType::Float8E5M2Fnuz,
            "complex32" | "chalf" => DType::Complex32,
            "complex64" | "cfloat" => DType::Complex64,
            "complex128" | "cdouble" => DType::Complex128,
            "int64" | "long" => DType::Int64,
            "int32" | "int" => DType::Int32,
            "int16" | "short" => DType::Int16,
            "int8" => DType::Int8,
            "uint8" => DType::UInt8,
            "uint16" => DType::UInt16,
            "uint32" => DType::UInt32,
            "uint64" => DType::UInt64,
            "bool" => DType::Bool,
            "qint8" => DType::QInt8,
            "quint8" => DType::QUInt8,
            "qint32" => DType::QInt32,
            "quint4x2" => DType::QUInt4x2,
            "quint2x4" => DType::QUInt2x4,
            _ => return None,
        })
    }

    /// The dtype of a legacy storage class (`FloatStorage` -> float32), as
    /// `torch/storage.py` maps them; `UntypedStorage` is bytes (uint8), its tensors'
    /// dtype coming from `_rebuild_tensor_v3`'s argument.
    pub fn from_storage_class(name: &str) -> Option<DType> {
        Some(match name {
            "DoubleStorage" => DType::Float64,
            "FloatStorage" => DType::Float32,
            "HalfStorage" => DType::Float16,
            "BFloat16Storage" => DType::BFloat16,
            "ComplexFloatStorage" => DType::Complex64,
            "ComplexDoubleStorage" => DType::Complex128,
            "LongStorage" => DType::Int64,
            "IntStorage" => DType::Int32,
            "ShortStorage" => DType::Int16,
            "CharStorage" => DType::Int8,
            "ByteStorage" | "UntypedStorage" => DType::UInt8,
            "BoolStorage" => DType::Bool,
            "QInt8Storage" => DType::QInt8,
            "QUInt8Storage" => DType::QUInt8,
            "QInt32Storage" => DType::QInt32,
            "QUInt4x2Storage" => DType::QUInt4x2,
            "QUInt2x4Storage" => DType::QUInt2x4,
            _ => return None,
        })
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sizes_are_torchs() {
        for d in ALL {
            assert_eq!(DType::from_name(d.name()), Some(d));
        }
        let sizes: Vec<u64> = ALL.iter().map(|d| d.size()).collect();
        assert_eq!(
            sizes,
            [8, 4, 2, 2, 1, 1, 1, 1, 4, 8, 16, 8, 4, 2, 1, 1, 2, 4, 8, 1, 1, 1, 4, 1, 1]
        );
        assert_eq!(
            DType::from_storage_class("QInt32Storage"),
            Some(DType::QInt32)
        );
        assert_eq!(
            DType::from_storage_class("UntypedStorage"),
            Some(DType::UInt8)
        );
        assert_eq!(DType::from_storage_class("Float8Storage"), None);
        assert_eq!(DType::Complex128.swap_unit(), 8);
    }
}
