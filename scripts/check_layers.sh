#!/usr/bin/env bash
# Checks that each module of src/ includes only the headers of the layers below it (DESIGN.md):
#   engine < sim < view < export < lesson < app;  train uses engine, sim and view.
# SDL only in src/app; cairo and pango nowhere in src/engine or src/sim.
# The files of src/app given as arguments (the Makefile's APP_CORE_SRC: the kvscope executable,
# which loads the drawing half as a module) include only engine, sim and app headers, and no SDL,
# cairo or pango.
# Prints one line per violation and exits 1 when there is any. Called by `make check`.
set -u
cd "$(dirname "$0")/.."
declare -A allowed=(
    [engine]="engine"
    [sim]="engine sim"
    [view]="engine sim view"
    [export]="engine sim view export"
    [lesson]="engine sim view export lesson"
    [app]="engine sim view export lesson app"
    [train]="engine sim view train"
)
bad=0
for dir in src/*/; do
    mod=$(basename "$dir")
    ok=${allowed[$mod]-}
    if [ -z "$ok" ]; then
        echo "kvscope: layers: src/$mod is not a known module (add it to scripts/check_layers.sh)"
        bad=1
        continue
    fi
    while IFS=: read -r file line text; do
        dep=$(sed -n 's/.*#include "\([a-z_]*\)\/.*/\1/p' <<<"$text")
        [ -n "$dep" ] || continue
        case " $ok " in
            *" $dep "*) ;;
            *) echo "kvscope: layers: $file:$line: src/$mod must not include src/$dep"; bad=1 ;;
        esac
    done < <(grep -n '#include "' "$dir"*.[ch] 2>/dev/null)
    if [ "$mod" != app ] && grep -n '#include <SDL' "$dir"*.[ch] 2>/dev/null; then
        echo "kvscope: layers: src/$mod includes SDL, which only src/app may use"
        bad=1
    fi
    if { [ "$mod" = engine ] || [ "$mod" = sim ]; } &&
        grep -nE '#include <(cairo|pango)' "$dir"*.[ch] 2>/dev/null; then
        echo "kvscope: layers: src/$mod includes cairo or pango, which the core must not use"
        bad=1
    fi
done
for file in "$@"; do
    while IFS=: read -r line text; do
        dep=$(sed -n 's/.*#include "\([a-z_]*\)\/\([a-z_]*\).*/\1\/\2/p' <<<"$text")
        case "$dep" in
            "" | engine/* | sim/* | app/app) ;;
            *) echo "kvscope: layers: $file:$line: the executable's files must not include $dep"
               bad=1 ;;
        esac
        if grep -qE '#include <(SDL|cairo|pango|libav)' <<<"$text"; then
            echo "kvscope: layers: $file:$line: the executable's files draw nothing: $text"
            bad=1
        fi
    done < <(grep -n '#include' "$file")
done
exit $bad
