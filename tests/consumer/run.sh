#!/usr/bin/env bash
# Installs an lsvk build tree into a scratch prefix and builds and runs a consumer against it,
# both ways an application would: find_package(lsvk) in CMake, and pkg-config with a plain cc.
#   bash tests/consumer/run.sh BUILD_DIR [WORK_DIR]
# WORK_DIR (default BUILD_DIR/consumer-test) is emptied first. Exit 0 when every consumer ran,
# 77 when there is no Vulkan device (so the consumers could only be built), 1 otherwise.
set -euo pipefail

if [[ $# -lt 1 || ! -f $1/CMakeCache.txt ]]; then
    echo "usage: $0 BUILD_DIR [WORK_DIR]   (BUILD_DIR: a configured and built lsvk tree)" >&2
    exit 1
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "$1" && pwd)
work=${2:-$build/consumer-test}
rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)
prefix=$work/prefix
unset DESTDIR
export LSVK_VALIDATION=0   # the consumers also ask for it off; validation is the test suite's job

step() { printf '\n== %s\n' "$*"; }

step "install $build -> $prefix"
cmake --install "$build" --prefix "$prefix"

# GNUInstallDirs picks lib, lib64 or lib/<multiarch> (the last for a /usr prefix): look in each.
libdir=
for d in "$prefix"/lib "$prefix"/lib64 "$prefix"/lib/*-linux-gnu*; do
    if [[ -f $d/pkgconfig/lsvk.pc ]]; then libdir=$d; break; fi
done
if [[ -z $libdir ]]; then
    echo "run.sh: no lsvk.pc under $prefix/lib*" >&2
    exit 1
fi
for f in "$prefix/include/lsvk/lsvk.h" "$libdir/liblsvk.a" "$libdir/liblsvk.so" \
         "$libdir/cmake/lsvk/lsvkConfig.cmake" "$libdir/cmake/lsvk/lsvkConfigVersion.cmake"; do
    [[ -e $f ]] || { echo "run.sh: not installed: $f" >&2; exit 1; }
done

generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi
step "find_package(lsvk): configure + build tests/consumer"
cmake -S "$here" -B "$work/cmake-build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$prefix" -DLSVK_EXPECTED_PREFIX="$prefix"
cmake --build "$work/cmake-build"

step "pkg-config: cc \$(pkg-config --cflags --libs lsvk)"
export PKG_CONFIG_PATH=$libdir/pkgconfig
pkg-config --exists --print-errors lsvk
echo "lsvk.pc: version $(pkg-config --modversion lsvk)"
echo "  cflags: $(pkg-config --cflags lsvk)"
echo "  libs:   $(pkg-config --libs lsvk)"
echo "  static: $(pkg-config --static --libs lsvk)"
cc=${CC:-cc}
# shellcheck disable=SC2046  # pkg-config's output is meant to be word-split
"$cc" -std=c11 -Wall -Wextra -Werror "$here/main.c" -o "$work/consumer_pc_shared" \
    $(pkg-config --cflags --libs lsvk)
# The static library by name, then its private dependencies from Libs.private/Requires.private.
# shellcheck disable=SC2046
"$cc" -std=c11 -Wall -Wextra -Werror "$here/main.c" -o "$work/consumer_pc_static" \
    $(pkg-config --cflags lsvk) \
    $(pkg-config --static --libs lsvk | sed 's/-llsvk\b/-l:liblsvk.a/')

skipped=0
run() {
    local name=$1; shift
    step "run $name"
    local rc=0
    "$@" || rc=$?
    if [[ $rc -eq 77 ]]; then
        skipped=1
    elif [[ $rc -ne 0 ]]; then
        echo "run.sh: $name exited with $rc" >&2
        exit 1
    fi
}
# Each binary must use the library just installed, not one from the build tree or the system.
check_uses_prefix() {
    command -v ldd >/dev/null || return 0
    local deps; deps=$(ldd "$1")   # (not piped into grep -q: with pipefail, SIGPIPE fails it)
    if [[ $deps != *"liblsvk.so"*" => $libdir/"* ]]; then
        echo "run.sh: $1 does not load liblsvk.so from $libdir:" >&2
        echo "$deps" >&2
        exit 1
    fi
}
check_static() {
    command -v ldd >/dev/null || return 0
    local deps; deps=$(ldd "$1")
    if [[ $deps == *liblsvk.so* ]]; then
        echo "run.sh: $1 should not need liblsvk.so:" >&2
        echo "$deps" >&2
        exit 1
    fi
}
check_uses_prefix "$work/cmake-build/consumer_shared"
check_static "$work/cmake-build/consumer_static"
check_static "$work/consumer_pc_static"
run "find_package, lsvk::lsvk" "$work/cmake-build/consumer_shared"
run "find_package, lsvk::lsvk_static" "$work/cmake-build/consumer_static"
LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} check_uses_prefix "$work/consumer_pc_shared"
run "pkg-config, shared" env LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    "$work/consumer_pc_shared"
run "pkg-config, static" "$work/consumer_pc_static"

if [[ $skipped -eq 1 ]]; then
    echo "install + consumers: built, not run (no Vulkan device)"
    exit 77
fi
echo
echo "install + consumers: ok"
