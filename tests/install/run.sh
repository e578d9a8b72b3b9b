#!/usr/bin/env bash
# ctest's "install" test: installs this build into a temporary prefix, then uses it as a
# user would: builds and tests examples/my-case with find_package(duet) and
# duet_add_case, and builds a one-file runner (pc_runner.c) with pkg-config alone.
#
# CMakeLists.txt sets: DUET_SOURCE_DIR, DUET_BUILD_DIR, DUET_CMAKE, DUET_CTEST,
# DUET_CMAKE_GENERATOR, DUET_CC, DUET_LIBDIR (lib, as installed) and DUET_SANITIZE_FLAGS
# (empty unless sanitizing: sanitized libraries need them at link time).
# Exits 77, which ctest reports as skipped, with the reason when a tool is missing.
set -euo pipefail

skip() { echo "skipped: $*"; exit 77; }
fail() { echo "install test: $*" >&2; exit 1; }

command -v "$DUET_CMAKE" >/dev/null || skip "cmake not found ($DUET_CMAKE)"
command -v pkg-config >/dev/null || skip "pkg-config not found"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/duet-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
example=$tmp/my-case
log=$tmp/log
# Runs a command quietly, showing its output only when it fails.
quiet() { "$@" >"$log" 2>&1 || { cat "$log" >&2; fail "failed: $*"; }; }

unset DESTDIR # the install goes to $prefix itself
quiet "$DUET_CMAKE" --install "$DUET_BUILD_DIR" --prefix "$prefix"

# The exported targets carry usage requirements only, none of duet's own build flags.
if grep -E -- '-Werror|-fmacro-prefix-map' "$prefix/$DUET_LIBDIR/cmake/duet/"*.cmake; then
    fail "the CMake package exports duet's own compile flags"
fi

# The example as its README builds it, with the compiler (and sanitizers) of this build.
quiet "$DUET_CMAKE" -S "$DUET_SOURCE_DIR/examples/my-case" -B "$example" \
    -G "$DUET_CMAKE_GENERATOR" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$DUET_CC" \
    -DCMAKE_C_FLAGS="$DUET_SANITIZE_FLAGS" -DCMAKE_EXE_LINKER_FLAGS="$DUET_SANITIZE_FLAGS"
grep -qx "duet_DIR:PATH=$prefix/$DUET_LIBDIR/cmake/duet" "$example/CMakeCache.txt" ||
    fail "find_package(duet) found another installation: $(grep duet_DIR "$example/CMakeCache.txt")"
quiet "$DUET_CMAKE" --build "$example"
(cd "$example" && quiet "$DUET_CTEST" -j 2 --output-on-failure)
# One test per case, each passed, and no others.
for c in mean-sign mean-sign-fixed; do
    grep -Eq "Test +#[0-9]+: $c \.* +Passed" "$log" || { cat "$log" >&2; fail "ctest: $c did not pass"; }
done
grep -q "100% tests passed, 0 tests failed out of 2$" "$log" || { cat "$log" >&2; fail "ctest: not 2 tests"; }
list=$("$example/mean-sign" list)
for c in mean-sign mean-sign-fixed; do
    grep -Eq "^  $c " <<<"$list" || fail "mean-sign list does not show $c: $list"
done

# pkg-config alone. duet's libraries are static, so --static: it adds the libraries of
# Requires.private (libcjson).
export PKG_CONFIG_PATH=$prefix/$DUET_LIBDIR/pkgconfig
flags=$(pkg-config --cflags --libs --static duet) || fail "pkg-config cannot read duet.pc"
# shellcheck disable=SC2086 # the flags are words
quiet "$DUET_CC" -std=c11 -Wall -Wextra -Werror $DUET_SANITIZE_FLAGS \
    "$DUET_SOURCE_DIR/tests/install/pc_runner.c" -o "$tmp/pc_runner" $flags
quiet "$tmp/pc_runner" run twice

echo "install test: examples/my-case (2 CTest tests) and a pkg-config runner built against $prefix"
