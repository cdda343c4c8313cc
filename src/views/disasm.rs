//! A disassembler like `pickletools.dis`. (placeholder; being written)
