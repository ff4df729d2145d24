#!/usr/bin/env bash
# Unpacks the headers of the LAMMPS source that Debian's installed liblammps-dev was built from
# into DIR (DIR/src/*.h, DIR/src/fmt/). Debian's liblammps-dev ships neither the fmt/ headers
# its own utils.h includes nor neigh_request.h, so a plugin needs these (CMakeLists.txt:
# -DLAMMPS_DIR=... -DLAMMPS_SOURCE_DIR=DIR). Uses `apt-get source` with source entries derived
# from this machine's own apt sources, in a private apt state (the system's stays untouched).
# Usage: debian_lammps_source.sh DIR
set -euo pipefail
dest=$1
version=$(dpkg-query -W -f='${Version}' liblammps-dev)
stamp="$dest/.debian-version"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$version" ]; then exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/parts" "$work/lists/partial" "$work/cache/archives/partial" "$work/src"
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [ -f "$f" ] && sed -n 's/^deb \(.*\)/deb-src \1/p' "$f" >> "$work/parts/system.list"
done
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] && sed 's/^Types: deb$/Types: deb-src/' "$f" > "$work/parts/$(basename "$f")"
done
apt_opts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$work/parts"
          -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "Debug::NoLocking=1"
          -o "APT::Sandbox::User=root" -qq)
apt-get "${apt_opts[@]}" update
(cd "$work/src" && apt-get "${apt_opts[@]}" source --download-only "lammps=$version")
tarball=$(ls "$work"/src/lammps_*.orig.tar.* | head -1)
rm -rf "$dest" && mkdir -p "$dest"
tar -xf "$tarball" -C "$dest" --strip-components=1 --wildcards '*/src/*.h' '*/src/fmt/*'
echo "$version" > "$stamp"
