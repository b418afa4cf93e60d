#!/usr/bin/env bash
# Times lsvk's long-short layer (lsvk-bench, on the default Vulkan device) and the official PyTorch
# module on this machine's CPU, one after the other, at the same shapes, and prints the ratio.
#
#   bash scripts/compare_torch.sh [N_LIST]          (default 4096,16384; preset base)
#
# Needs: build/bin/lsvk-bench (bash scripts/lsvk.sh demo builds it); Debian's python3-torch and
# libopenblas0-pthread (without it torch runs on the reference BLAS, about 6x slower); the official
# code (NVIDIA/transformer-ls) unpacked in $TLS_REF (default /tmp/tls-ref); the timing script
# torch_ref.py in $TORCH_REF (default ../shared/bench/torch_ref.py).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${1:-4096,16384}
TLS_REF=${TLS_REF:-/tmp/tls-ref}
TORCH_REF=${TORCH_REF:-../shared/bench/torch_ref.py}
THREADS=${THREADS:-2}
REPEAT=${REPEAT:-3}
for f in build/bin/lsvk-bench "$TORCH_REF" "$TLS_REF/lra/attention_transformer_ls.py"; do
  [ -e "$f" ] || { echo "compare_torch: missing $f (see the comment at the top)" >&2; exit 2; }
done

echo "== lsvk (preset base, --repeat $REPEAT)"
lsvk_csv=$(build/bin/lsvk-bench --preset base --n "$N" --method ls --repeat "$REPEAT" --no-check --csv 2>/dev/null)
echo "$lsvk_csv"
echo "== official PyTorch AttentionLS, $THREADS threads"
torch_out=$(/usr/bin/python3 "$TORCH_REF" --ref "$TLS_REF" --threads "$THREADS" --n "$N" \
            --repeats "$REPEAT" --full-max-n 0)
echo "$torch_out"
echo "== ratio (torch ms / lsvk ms; > 1: lsvk is faster)"
IFS=, read -ra ns <<<"$N"
for n in "${ns[@]}"; do
  l=$(awk -F, -v n="$n" '$1=="ls" && $2==n {print $3}' <<<"$lsvk_csv")
  t=$(sed -n "s/^ls-reference N=$n ms=\([0-9.]*\).*/\1/p" <<<"$torch_out")
  if [ -n "$l" ] && [ -n "$t" ]; then
    awk -v n="$n" -v l="$l" -v t="$t" 'BEGIN {printf "n=%-6s lsvk %10.1f ms   torch %10.1f ms   ratio %.2f\n", n, l, t, t / l}'
  else
    echo "n=$n: a figure is missing (lsvk '$l', torch '$t')"
  fi
done
