#!/bin/bash -eu
# OSS-Fuzz build script: the same build as ClusterFuzzLite's (.clusterfuzzlite/build.sh
# in the repository), kept in one place.
exec bash "$SRC/pickleproof/.clusterfuzzlite/build.sh"
