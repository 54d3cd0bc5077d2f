#!/usr/bin/env bash
# Builds the libFuzzer harnesses into tools/fuzz/.build/: each compiles its harness into the
# module it tests (so it reaches internal types), with coverage and AddressSanitizer.
#   tools/fuzz/build.sh            # all harnesses
#   tools/fuzz/build.sh multipart  # one
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="$ROOT/tools/fuzz/.build"
mkdir -p "$OUT/modules/CImageShims"
cd "$ROOT"
SWIFT=(swiftc -sanitize=fuzzer,address -parse-as-library -O -g -use-ld=lld)
CLANG=(clang -O1 -g -fsanitize=fuzzer-no-link,address)

build() {
    local name=$1
    case "$name" in
    request-parser | multipart)
        local harness=RequestParserFuzz.swift
        [ "$name" = multipart ] && harness=MultipartFuzz.swift
        "${SWIFT[@]}" -module-name HTTPServer $(find Sources/HTTPServer -name '*.swift' | sort) \
            "tools/fuzz/$harness" -o "$OUT/fuzz-$name" ;;
    image-decoder)
        printf 'module CImageShims {\n  header "%s"\n  export *\n}\n' "$ROOT/Sources/CImageShims/include/image_shims.h" \
            > "$OUT/modules/CImageShims/module.modulemap"
        for shim in jpeg png; do
            "${CLANG[@]}" -c "Sources/CImageShims/${shim}_shim.c" -I Sources/CImageShims/include -o "$OUT/${shim}_shim.o"
        done
        "${SWIFT[@]}" -module-name Imaging Sources/Imaging/*.swift tools/fuzz/ImageDecoderFuzz.swift \
            -I Sources/CPNG -I "$OUT/modules/CImageShims" "$OUT/jpeg_shim.o" "$OUT/png_shim.o" -lpng -ljpeg -o "$OUT/fuzz-$name" ;;
    callback-url)
        "${SWIFT[@]}" -module-name ServiceCore -package-name segserve Sources/ServiceCore/Callbacks/CallbackURL.swift Sources/ServiceCore/Callbacks/NetworkAddress.swift \
            tools/fuzz/CallbackURLFuzz.swift -o "$OUT/fuzz-$name" ;;
    safetensors)
        "${SWIFT[@]}" -module-name NNRuntime Sources/NNRuntime/SafeTensors/SafeTensorsFile.swift \
            Sources/NNRuntime/Tensor/Tensor.swift Sources/NNRuntime/Support/NNError.swift \
            tools/fuzz/SafeTensorsFuzz.swift -o "$OUT/fuzz-$name" ;;
    pickle)
        "${SWIFT[@]}" -module-name Conversion -package-name segserve Sources/Conversion/Pickle/*.swift \
            Sources/Conversion/Checkpoint/CheckpointError.swift Sources/Conversion/Output/PythonJSON.swift \
            tools/fuzz/PickleFuzz.swift -o "$OUT/fuzz-$name" ;;
    checkpoint)
        printf 'module CSystemZlib [system] {\n  header "%s"\n  link "z"\n  export *\n}\n' "$ROOT/Sources/CSystemZlib/shim.h" \
            > "$OUT/modules/CSystemZlib.modulemap"
        "${SWIFT[@]}" -module-name Conversion -package-name segserve Sources/Conversion/Pickle/*.swift \
            Sources/Conversion/Checkpoint/*.swift Sources/Conversion/Output/PythonJSON.swift tools/fuzz/CheckpointFuzz.swift \
            -Xcc -fmodule-map-file="$OUT/modules/CSystemZlib.modulemap" -lz -o "$OUT/fuzz-$name" ;;
    *) echo "unknown harness $name" >&2; exit 2 ;;
    esac
}

names=("$@")
[ ${#names[@]} -gt 0 ] || names=(request-parser multipart image-decoder safetensors callback-url pickle checkpoint)
for name in "${names[@]}"; do build "$name"; done
