#!/usr/bin/env bash
# The documentation refers only to files inside the repository (issue 15, item 8: docs/python.md
# pointed at ../shared/...): no `../` path, and every markdown link to a local file exists.
# Usage: links_test.sh REPOSITORY_ROOT
set -u
root=$1
fails=0
for doc in "$root"/README.md "$root"/docs/*.md "$root"/examples/python/README.md; do
  [ -f "$doc" ] || continue
  rel=${doc#"$root"/}
  if grep -n '\.\./' "$doc" >/dev/null; then
    echo "FAIL: $rel refers to a path outside the repository:"
    grep -n '\.\./' "$doc"
    fails=$((fails + 1))
  fi
  # Markdown links [text](target) to local files must exist (relative to the document).
  while IFS= read -r target; do
    case "$target" in http*|\#*|mailto:*) continue ;; esac
    path=${target%%#*}
    if [ ! -e "$(dirname "$doc")/$path" ]; then
      echo "FAIL: $rel links to missing file '$target'"
      fails=$((fails + 1))
    fi
  done < <(grep -o '\](\([^)]*\))' "$doc" | sed 's/^](\(.*\))$/\1/')
done
[ $fails -eq 0 ] && echo "documentation links stay inside the repository" && exit 0
exit 1
