#!/usr/bin/env bash
# Keeps a copy of runs/ (git-ignored: checkpoints, caches, logs) where a machine shut down mid-session does not
# take it. On 2026-12-01 a cut-off session lost runs/ with the issue-15 long run at epoch 102 of 280 (about 11 CPU
# hours): the checkout that came back held the work tree's tracked and untracked files, not its ignored ones.
# On 2026-12-02 the mirror itself (then ../keep, a separate work tree beside this one) was gone too, with runs/ and
# the long run at epoch 243 of 280: the checkout that came back held only this work tree. So the mirror now lives
# inside it: MIRROR (default runs-keep/) is untracked and deliberately not git-ignored, since a recovery brings
# back untracked files and not ignored ones. Never commit it (`git add -A` without a path would: add by path).
# It holds only the runs named by PATTERNS (the long runs and the after-long markers), to stay small enough to come
# back. A run folder whose log is shorter than its mirror's (a run restarted from nothing before a restore) is not
# copied over its mirror, so a fresh start never overwrites the run it should have resumed. A run whose results JSON
# is committed (benchmarks/results/NAME.json) has finished: its mirror keeps best.pt (start weights for transfer) and
# its logs but drops last.pt (optimizer state, two thirds of the size), so the full-length rows do not grow the
# mirror past what a recovery brings back.
#   bash benchmarks/mirror_runs.sh restore          # before the queues start: copies back what runs/ lacks
#   nohup bash benchmarks/mirror_runs.sh loop &     # every INTERVAL seconds (default 600): copies what changed
# Each file is copied to a temporary name and renamed, so a cut mid-copy leaves the previous copy whole.
set -u
cd "$(dirname "$0")/.."
MIRROR=${MIRROR:-runs-keep}
INTERVAL=${INTERVAL:-600}
PATTERNS=${PATTERNS:-"fer2013-cpu-long-* after_long *-e60"}  # the long run, the after-long step markers, the full-length rows

init_keep() {
  mkdir -p "$MIRROR"
  printf 'Mirror of some ferkit runs/ folders (benchmarks/mirror_runs.sh): untracked on purpose, never commit it.\n' > "$MIRROR/README"
}

copy_newer() {  # copy_newer FROM TO [SKIP]: every file under FROM that TO lacks or holds an older copy of (last.pt
  # first: a cut between two copies then leaves an older last.pt beside a newer best.pt, which a resume handles);
  # files named SKIP are left out
  local from=$1 to=$2 skip=${3:-} src dst
  [ -d "$from" ] || return 0
  while IFS= read -r -d '' src; do
    [ -n "$skip" ] && [ "$(basename "$src")" = "$skip" ] && continue
    dst="$to/${src#"$from"/}"
    [ -f "$dst" ] && [ ! "$src" -nt "$dst" ] && continue
    mkdir -p "$(dirname "$dst")"
    cp -p "$src" "$dst.mirror-tmp" && mv -f "$dst.mirror-tmp" "$dst"
  done < <(find "$from" -type f -name last.pt -print0; find "$from" -type f ! -name last.pt ! -name "*.mirror-tmp" ! -name "*.tmp" -print0)
}

lines() { [ -f "$1" ] && wc -l < "$1" || echo 0; }

finished() { git ls-files --error-unmatch "benchmarks/results/$1.json" >/dev/null 2>&1; }  # its results JSON committed

mirror_runs() {  # the run folders that PATTERNS names (a glob each, under runs/)
  local pattern dir
  for pattern in $PATTERNS; do
    for dir in runs/$pattern; do
      [ -d "$dir" ] || continue
      if [ "$(lines "$dir/metrics.jsonl")" -lt "$(lines "$MIRROR/${dir#runs/}/metrics.jsonl")" ]; then
        echo "$dir: fewer epochs than its mirror (restarted before a restore?): not mirrored; run mirror_runs.sh restore" >&2
        continue
      fi
      if finished "${dir#runs/}"; then
        copy_newer "$dir" "$MIRROR/${dir#runs/}" last.pt
        rm -f "$MIRROR/${dir#runs/}/last.pt"
      else
        copy_newer "$dir" "$MIRROR/${dir#runs/}"
      fi
    done
  done
}

case "${1:-}" in
  restore) for dir in "$MIRROR"/*/; do [ -d "$dir" ] && copy_newer "${dir%/}" "runs/$(basename "$dir")"; done ;;
  once) init_keep && mirror_runs ;;
  loop) init_keep; while true; do mirror_runs; sleep "$INTERVAL"; done ;;
  *) echo "usage: $0 restore|once|loop" >&2; exit 2 ;;
esac
