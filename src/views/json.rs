//! The lossless JSON form (`pickle-canon/1`). (placeholder; being written)
