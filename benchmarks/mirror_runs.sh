#!/usr/bin/env bash
# Keeps a copy of runs/ (git-ignored: checkpoints, caches, logs) where a machine shut down mid-session does not
# take it. On 2026-12-01 a cut-off session lost runs/ with the issue-15 long run at epoch 102 of 280 (about 11 CPU
# hours): the checkout that came back held the work tree's tracked and untracked files, not its ignored ones.
# The mirror is the untracked content of a separate git work tree (KEEP, default ../keep), which such a recovery
# brings back; nothing in it is committed anywhere.
#   bash benchmarks/mirror_runs.sh restore          # before the queues start: copies back what runs/ lacks
#   nohup bash benchmarks/mirror_runs.sh loop &     # every INTERVAL seconds (default 600): copies what changed
# Each file is copied to a temporary name and renamed, so a cut mid-copy leaves the previous copy whole.
set -u
cd "$(dirname "$0")/.."
KEEP=${KEEP:-../keep}
INTERVAL=${INTERVAL:-600}
MIRROR="$KEEP/runs"

init_keep() {
  [ -d "$KEEP/.git" ] && return 0
  mkdir -p "$MIRROR" && git -C "$KEEP" init -q
  printf 'Mirror of ferkit runs/ (benchmarks/mirror_runs.sh). Untracked on purpose.\n' > "$KEEP/README"
  git -C "$KEEP" add README && git -C "$KEEP" -c user.name=ferkit -c user.email=ferkit@localhost commit -qm mirror
}

copy_newer() {  # copy_newer FROM TO: every file under FROM that TO lacks or holds an older copy of
  local from=$1 to=$2 src dst
  [ -d "$from" ] || return 0
  while IFS= read -r -d '' src; do
    dst="$to/${src#"$from"/}"
    [ -f "$dst" ] && [ ! "$src" -nt "$dst" ] && continue
    mkdir -p "$(dirname "$dst")"
    cp -p "$src" "$dst.mirror-tmp" && mv -f "$dst.mirror-tmp" "$dst"
  done < <(find "$from" -type f ! -name "*.mirror-tmp" ! -name "*.tmp" -print0)
}

case "${1:-}" in
  restore) copy_newer "$MIRROR" runs ;;
  once) init_keep && copy_newer runs "$MIRROR" ;;
  loop) init_keep; while true; do copy_newer runs "$MIRROR"; sleep "$INTERVAL"; done ;;
  *) echo "usage: $0 restore|once|loop" >&2; exit 2 ;;
esac
