#!/bin/bash -eu
# ClusterFuzzLite / OSS-Fuzz build: every fuzz target of fuzz/ into $OUT, with a seed
# corpus zipped from corpus/ (byte targets) and the pickle dictionary.
#
# Environment (set by the base-builder-rust image; set them by hand to try it locally):
#   SRC        the folder that holds the checkout (this script looks for pickleproof in
#              $SRC/pickleproof, then $SRC/main, then $SRC itself)
#   OUT        where binaries, corpora and dictionaries go
#   SANITIZER  address, memory, undefined, coverage or none
# Local check:  OUT=/tmp/cfl-out SRC=/work SANITIZER=none bash .clusterfuzzlite/build.sh
for dir in "$SRC/pickleproof" "$SRC/main" "$SRC"; do
    if [ -f "$dir/fuzz/Cargo.toml" ]; then ROOT=$dir; break; fi
done
cd "${ROOT:?no fuzz/Cargo.toml under \$SRC}"
mkdir -p "$OUT"

TARGETS="decode stream ops roundtrip roundtrip_bytes limits views zip"
BYTE_TARGETS="decode stream roundtrip_bytes limits views"

SAN_ARGS="-O"
if [ "${SANITIZER:-address}" = "none" ]; then
    SAN_ARGS="-O -s none"
elif [ "${SANITIZER:-address}" = "coverage" ]; then
    # OSS-Fuzz's coverage builds pass their own RUSTFLAGS; cargo fuzz must not add a sanitizer.
    SAN_ARGS="-O -s none"
fi
# $SANITIZER other than none/coverage: cargo fuzz's default (address) or the one named.
case "${SANITIZER:-address}" in
    address|memory|thread|leak) SAN_ARGS="-O -s $SANITIZER" ;;
esac

# shellcheck disable=SC2086
cargo +nightly fuzz build $SAN_ARGS --debug-assertions

TRIPLE=$(rustc +nightly -vV | sed -n 's/^host: //p')
BUILT=fuzz/target/$TRIPLE/release
for t in $TARGETS; do
    cp "$BUILT/$t" "$OUT/$t"
done

# Seed corpora: every pickle of corpus/ for the byte targets (configuration bytes come
# from the end of the input, so a plain pickle is a valid seed for each of them).
SEEDS=$(mktemp -d)
find corpus -name '*.pkl' -size -1024k -exec cp {} "$SEEDS/" \;
for t in $BYTE_TARGETS; do
    rm -f "$OUT/${t}_seed_corpus.zip"
    (cd "$SEEDS" && zip -q -j "$OUT/${t}_seed_corpus.zip" ./*.pkl)
    cp fuzz/pickle.dict "$OUT/$t.dict"
    printf '[libfuzzer]\ndict = %s.dict\nmax_len = 65536\nrss_limit_mb = 2048\ntimeout = 10\n' \
        "$t" >"$OUT/$t.options"
done
for t in ops roundtrip; do
    printf '[libfuzzer]\nrss_limit_mb = 2048\ntimeout = 10\n' >"$OUT/$t.options"
done
# The archive target starts from the committed archives.
rm -f "$OUT/zip_seed_corpus.zip"
(cd corpus/archives && zip -q -j "$OUT/zip_seed_corpus.zip" ./*.pt)
printf '[libfuzzer]\nmax_len = 65536\nrss_limit_mb = 2048\ntimeout = 10\n' >"$OUT/zip.options"
rm -rf "$SEEDS"
