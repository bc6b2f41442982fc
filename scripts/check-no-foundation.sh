#!/usr/bin/env bash
# Fails if a source file imports full Foundation outside the `#else` branch of a FoundationEssentials
# import: statically linked, Foundation grows the gpt2 binary from 16 MB to 60 MB (too big to carry to a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
offenders=$(find Sources Plugins -name '*.swift' -print0 | xargs -0 awk '
    /^(@preconcurrency )?import Foundation$/ && previous != "#else" { print FILENAME ":" FNR }
    { previous = $0 }')
if [ -n "$offenders" ]; then
    echo "error: full Foundation imported (use FoundationEssentials):" >&2
    echo "$offenders" >&2
    exit 1
fi
