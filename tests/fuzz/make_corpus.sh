#!/usr/bin/env bash
# Seeds the fuzz corpora from the known-answer vectors (proto/vectors/codec/*.hex), so the
# fuzzers start from every valid message type instead of from nothing.
# Usage: tests/fuzz/make_corpus.sh [SOURCE_DIR]
set -eu
src="${1:-$(cd "$(dirname "$0")/../.." && pwd)}"
out="$src/tests/fuzz/corpus"
mkdir -p "$out/fuzz_codec_msg" "$out/fuzz_codec_sync" "$out/fuzz_codec_groups" "$out/fuzz_members" \
    "$out/fuzz_lease"
for hex in "$src"/proto/vectors/codec/*.hex; do
    name=$(basename "$hex" .hex)
    case "$name" in
    sync*) dir=fuzz_codec_sync ;;
    group*) dir=fuzz_codec_groups ;;
    lease*) dir=fuzz_lease ;;
    *) dir=fuzz_codec_msg ;;
    esac
    tr -d ' \n' < "$hex" | xxd -r -p > "$out/$dir/$name"
done
# members: a few op sequences (op, id, status|incarnation<<2, weight|port<<3).
printf '\x00\x01\x04\x01\x00\x02\x05\x02\x01\x01\x09\x03\x03\x02\x00\x00' > "$out/fuzz_members/seq1"
printf '\x02\x04\x0b\x81\x00\x04\x0c\x01\x03\x04\x00\x00\x00\x04\x10\x07' > "$out/fuzz_members/seq2"
echo "corpora in $out"
