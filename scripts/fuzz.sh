#!/bin/sh
# Runs every Go fuzz target in the module for FUZZTIME each (default 3s):
# one instrumented test binary per package, run once per target from the
# package's folder, so the checked-in corpus (testdata/fuzz) is replayed
# first and a new failing input is written there. `make fuzz` calls this;
# `make test` runs it after the tests.
set -eu
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-3s}
cd "$(dirname "$0")/.."
module=$($GO list -m)
cache=$($GO env GOCACHE)/fuzz
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pattern='^func Fuzz[A-Za-z0-9_]*(f \*testing\.F)'
dirs=$(find . -path './.*' -prune -o -name '*_test.go' -print | xargs grep -l "$pattern" | xargs -n1 dirname | sort -u)
for dir in $dirs; do
	pkg=$module/${dir#./}
	$GO test -c -fuzz=. -o "$work/pkg.test" "$dir"
	for target in $(grep -h "$pattern" "$dir"/*_test.go | sed 's/^func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do
		# A duration -fuzztime can end in a bare "context deadline exceeded"
		# with no failing input: a race in Go's fuzz coordinator
		# (go.dev/issue/75804, fixed in Go 1.27). Such a run is tried once
		# more; a failure that writes an input, or fails twice, fails.
		for attempt in 1 2; do
			echo "fuzz $pkg $target for $FUZZTIME"
			if (cd "$dir" && "$work/pkg.test" -test.run='^$' -test.fuzz="^$target\$" -test.fuzztime="$FUZZTIME" \
				-test.fuzzcachedir="$cache/$pkg" >"$work/out" 2>&1); then
				break
			fi
			if [ "$attempt" = 1 ] && grep -q 'context deadline exceeded' "$work/out" && ! grep -q 'Failing input written' "$work/out"; then
				echo "fuzz $pkg $target: coordinator deadline race (go.dev/issue/75804), no failing input; trying again"
				continue
			fi
			cat "$work/out"
			exit 1
		done
	done
done
