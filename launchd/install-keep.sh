#!/bin/sh
# Installs a generated service file without ever overwriting one the
# administrator edited (issue #11: make install replaced an edited plist).
#
#   install-keep.sh SRC DST STATEDIR      install SRC as DST (mode 0644)
#   install-keep.sh -u DST STATEDIR       remove DST unless it was edited
#
# STATEDIR/NAME keeps a copy of what was last installed as DST (NAME is
# DST's file name). DST is replaced when it is absent, identical to that
# copy (untouched since the last install) or already identical to SRC.
# Otherwise it was edited: it stays, SRC goes beside it as DST.new, and a
# note says so. A DST that predates this scheme (no copy) counts as edited.
set -eu

if [ "${1:-}" = -u ]; then
	dst=$2
	last=$3/$(basename "$dst")
	if [ -e "$dst" ] && ! cmp -s "$dst" "$last"; then
		echo "install-keep: $dst was edited; left in place" >&2
	else
		rm -f "$dst"
	fi
	rm -f "$last" "$dst.new"
	exit 0
fi

src=$1
dst=$2
last=$3/$(basename "$dst")
if [ ! -e "$dst" ] || cmp -s "$dst" "$src" || cmp -s "$dst" "$last"; then
	install -m 0644 "$src" "$dst"
	rm -f "$dst.new"
else
	install -m 0644 "$src" "$dst.new"
	echo "install-keep: $dst was edited; kept it, the new version is" \
	    "$dst.new (merge, then run make install again)" >&2
fi
install -m 0644 "$src" "$last"
