#!/usr/bin/env bash
# lsvk's one-stop script: installs what is missing, builds, and runs the demo or the tests.
#
#   bash scripts/lsvk.sh demo [ARGS...]   build (preset default) and run the main sample
#   bash scripts/lsvk.sh test [STAGE...]  every test stage, or the named ones:
#                                         ci asan fuzz install
#   bash scripts/lsvk.sh deps [demo|test] only install the packages that are missing
#
# Debian 12 / Ubuntu: missing packages are installed with apt-get (through sudo when not root).
# Elsewhere the list of what is needed is printed and the build goes ahead with what is there.
# Environment: LSVK_JOBS (parallel build and test jobs; default: the number of CPUs),
# LSVK_CTEST_ARGS (extra ctest arguments for every stage, e.g. "-R linear"),
# LSVK_NO_INSTALL=1 (never run apt-get), LSVK_DEVICE and the others the README lists.
set -euo pipefail

# The main sample: `demo` builds this target and runs build/bin/$DEMO with the arguments given,
# or DEMO_ARGS: the char-level Transformer-LS model writes Shakespeare-shaped text, a token at a
# time.
DEMO=lsvk-lm
DEMO_ARGS=(generate --model models/charlm/charlm.safetensors --prompt $'ROMEO:\n' --tokens 400)

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
JOBS=${LSVK_JOBS:-$(nproc 2>/dev/null || echo 2)}
LOGDIR=$ROOT/build-logs

# Debian/Ubuntu package names. libc6-dev is listed because gcc only recommends it.
BUILD_PACKAGES=(cmake ninja-build gcc libc6-dev pkg-config libvulkan-dev vulkan-validationlayers
    glslc glslang-tools spirv-tools libvulkan-volk-dev mesa-vulkan-drivers libcjson-dev)
# The fuzz stage also needs clang with its libFuzzer runtime: libclang-rt-N-dev matching clang N
# (Debian 12: libclang-rt-14-dev); on releases where clang's own packages carry it, clang alone.
TEST_PACKAGES=(clang)

if [[ -t 1 ]]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD='' PLAIN=''; fi
log() { printf '\n%s== %s%s\n' "$BOLD" "$*" "$PLAIN"; }
die() { printf 'lsvk.sh: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------- packages

is_installed() {
    [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null) == ii* ]]
}

SUDO=()
need_root() {
    [[ ${LSVK_NO_INSTALL:-0} != 1 ]] || die "missing packages: $* (LSVK_NO_INSTALL=1: not installing)"
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null ||
            die "missing packages: $* -- run as root, or install sudo, or install them yourself"
        SUDO=(sudo)
    fi
}
as_root() { "${SUDO[@]+"${SUDO[@]}"}" env DEBIAN_FRONTEND=noninteractive "$@" </dev/null; }

APT_UPDATED=0
apt_update() {
    if [[ $APT_UPDATED -eq 0 ]]; then
        as_root apt-get update -q
        APT_UPDATED=1
    fi
}
apt_install() {
    need_root "$@"
    log "installing: $*"
    apt_update
    as_root apt-get install -y -q --no-install-recommends "$@"
}

fuzzer_works() {
    command -v clang >/dev/null || return 1
    local dir rc=0
    dir=$(mktemp -d)
    printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\n%s\n' \
        'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }' \
        >"$dir/f.c"
    clang -fsanitize=fuzzer,address "$dir/f.c" -o "$dir/f" >/dev/null 2>&1 || rc=1
    rm -rf "$dir"
    return $rc
}

print_requirements() {
    cat <<'EOF'
lsvk needs (names differ between distributions):
  CMake >= 3.25, Ninja, a C11 compiler (gcc or clang), pkg-config
  Vulkan headers and loader (Debian: libvulkan-dev), the Khronos validation layer
  (vulkan-validationlayers), volk's volk.c + volk.h (libvulkan-volk-dev)
  glslc from shaderc (glslc), spirv-val from SPIRV-Tools (spirv-tools), glslang (glslang-tools)
  cJSON with its libcjson.pc (libcjson-dev)
  a Vulkan driver: any GPU's, or Mesa's lavapipe CPU device (mesa-vulkan-drivers)
  for `test` only: clang with the libFuzzer runtime (Debian: clang + libclang-rt-N-dev)
EOF
}

# $1: demo or test
ensure_packages() {
    local want=("${BUILD_PACKAGES[@]}")
    [[ $1 == test ]] && want+=("${TEST_PACKAGES[@]}")
    if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
        log "not a Debian/Ubuntu system: cannot check packages"
        print_requirements
        return 0
    fi
    local missing=() p
    for p in "${want[@]}"; do
        is_installed "$p" || missing+=("$p")
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
        apt_install "${missing[@]}"
    else
        echo "packages: all present"
    fi
    if [[ $1 == test ]] && ! fuzzer_works; then
        # clang N's libFuzzer runtime: libclang-rt-N-dev where that package exists.
        local v rt=""
        v=$(clang --version 2>/dev/null | sed -n '1s/.*clang version \([0-9]\+\).*/\1/p')
        [[ -z $v ]] || rt=libclang-rt-$v-dev
        if [[ -n $rt ]] && ! is_installed "$rt"; then
            need_root "$rt"
            apt_update
            if apt-cache show "$rt" >/dev/null 2>&1; then
                apt_install "$rt"
            fi
        fi
        # Not fatal: the other stages still run, and the fuzz stage fails visibly.
        fuzzer_works || log "WARNING: clang -fsanitize=fuzzer does not link:" \
            "install clang's libFuzzer runtime (${rt:-libclang-rt-N-dev}); the fuzz stage will fail"
    fi
    local cmv
    cmv=$(cmake --version | sed -n 's/^cmake version \([0-9]\+\.[0-9]\+\).*/\1/p')
    if [[ $(printf '%s\n3.25\n' "$cmv" | sort -V | sed -n 1p) != 3.25 ]]; then
        die "CMake $cmv is too old: lsvk needs 3.25 or newer (e.g. pip install cmake, or Kitware's apt repository)"
    fi
}

# ---------------------------------------------------------------------------- demo

cmd_demo() {
    ensure_packages demo
    log "configure + build (preset default): $DEMO"
    cmake --preset default
    cmake --build --preset default -j "$JOBS" --target "$DEMO"
    [[ $# -gt 0 ]] || set -- "${DEMO_ARGS[@]}"
    log "build/bin/$DEMO $*"
    exec "$ROOT/build/bin/$DEMO" "$@"
}

# ---------------------------------------------------------------------------- test

STAGES=()          # "name|result|detail|seconds"
PASSED=0
FAILED=0
FAILURES=0

# Adds ctest's own summary line ("95% tests passed, 1 tests failed out of 20") to the totals.
count_tests() {
    local line total failed
    line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$1" | tail -n1 || true)
    if [[ -z $line ]]; then
        echo "0 0"
        return
    fi
    failed=$(sed -E 's/.* ([0-9]+) tests? failed out of.*/\1/' <<<"$line")
    total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
    echo "$((total - failed)) $failed"
}

# run_ctest STAGE ARGS...: runs ctest, logs it, adds its counts; returns ctest's status.
STAGE_COUNTS=""
run_ctest() {
    local stage=$1; shift
    local logf=$LOGDIR/$stage-ctest.log rc=0 p f extra=()
    read -ra extra <<<"${LSVK_CTEST_ARGS:-}"
    { ctest "$@" "${extra[@]}" 2>&1 | tee "$logf"; } || rc=$?
    read -r p f < <(count_tests "$logf")
    PASSED=$((PASSED + p))
    FAILED=$((FAILED + f))
    STAGE_COUNTS="$p passed, $f failed"
    return $rc
}

# record STAGE RESULT DETAIL START
record() {
    STAGES+=("$1|$2|$3|$(($(date +%s) - $4))")
    [[ $2 == ok ]] || FAILURES=$((FAILURES + 1))
}

# stage_build PRESET: configure + build, logged.
stage_build() {
    local preset=$1 logf=$LOGDIR/$1-build.log
    log "$preset: configure + build"
    { cmake --preset "$preset" && cmake --build --preset "$preset" -j "$JOBS"; } 2>&1 | tee "$logf"
}

CI_BUILT=0

stage_ci() {
    local t0; t0=$(date +%s)
    if ! stage_build ci; then record ci FAILED "configure/build" "$t0"; return; fi
    CI_BUILT=1
    log "ci: ctest (every test but install; device tests at each width, validation on)"
    STAGE_COUNTS=""
    if run_ctest ci --preset ci -j "$JOBS" --output-on-failure -LE '^install$'; then
        record ci ok "$STAGE_COUNTS" "$t0"
    else
        record ci FAILED "${STAGE_COUNTS:-ctest}" "$t0"
    fi
}

stage_asan() {
    local t0; t0=$(date +%s)
    if ! stage_build asan; then record asan FAILED "configure/build" "$t0"; return; fi
    log "asan: ctest (ASan + UBSan + LeakSanitizer)"
    STAGE_COUNTS=""
    if run_ctest asan --preset asan -j "$JOBS" --output-on-failure; then
        record asan ok "$STAGE_COUNTS" "$t0"
    else
        record asan FAILED "${STAGE_COUNTS:-ctest}" "$t0"
    fi
}

stage_fuzz() {
    local t0; t0=$(date +%s)
    if ! stage_build fuzz; then record fuzz FAILED "configure/build" "$t0"; return; fi
    log "fuzz: ctest -L fuzz (each target for a fixed time)"
    STAGE_COUNTS=""
    if run_ctest fuzz --preset fuzz -j "$JOBS" --output-on-failure; then
        record fuzz ok "$STAGE_COUNTS" "$t0"
    else
        record fuzz FAILED "${STAGE_COUNTS:-ctest}" "$t0"
    fi
}

stage_install() {
    local t0; t0=$(date +%s)
    if [[ $CI_BUILT -eq 0 ]]; then
        if ! stage_build ci; then record install FAILED "configure/build" "$t0"; return; fi
        CI_BUILT=1
    fi
    log "install: cmake --install + consumers via find_package and pkg-config"
    STAGE_COUNTS=""
    if run_ctest install --preset ci -j "$JOBS" --output-on-failure -L '^install$'; then
        record install ok "$STAGE_COUNTS" "$t0"
    else
        record install FAILED "${STAGE_COUNTS:-ctest}" "$t0"
    fi
}

cmd_test() {
    local stages=("$@") s
    [[ ${#stages[@]} -gt 0 ]] || stages=(ci asan fuzz install)
    for s in "${stages[@]}"; do
        [[ $s =~ ^(ci|asan|fuzz|install)$ ]] || die "unknown stage '$s' (stages: ci asan fuzz install)"
    done
    ensure_packages test
    mkdir -p "$LOGDIR"
    export CTEST_OUTPUT_ON_FAILURE=1
    local t0; t0=$(date +%s)
    for s in "${stages[@]}"; do
        "stage_$s"
    done

    log "summary (logs in ${LOGDIR#"$ROOT"/}/, $(($(date +%s) - t0)) s in all)"
    local e name result detail secs
    for e in "${STAGES[@]}"; do
        IFS='|' read -r name result detail secs <<<"$e"
        printf '  %-8s %-6s %5s s  %s\n' "$name" "$result" "$secs" "$detail"
    done
    if [[ $FAILURES -gt 0 ]]; then
        echo "FAILED: $FAILURES of ${#STAGES[@]} stages"
    else
        echo "all ${#STAGES[@]} stages passed"
    fi
    echo "tests: $PASSED passed, $FAILED failed"
    [[ $FAILURES -eq 0 ]]
}

# ---------------------------------------------------------------------------- main

usage() {
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"
}

case ${1:-} in
    demo) shift; cmd_demo "$@" ;;
    test) shift; cmd_test "$@" ;;
    deps) shift; ensure_packages "${1:-test}" ;;
    -h|--help|help) usage ;;
    *) usage >&2; exit 2 ;;
esac
