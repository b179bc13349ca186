#!/bin/bash
# Packs what bench/search/run.mjs needs on the distributed stores into one archive for a bare x86-64 Linux host with
# python3 and nothing else (no Node.js, no PostgreSQL, no network): this machine's node, a relocatable PostgreSQL 15
# with the shared libraries it links, and the files a bench run loads (traced, whole packages), Chroma's server
# binding stripped. run.sh unpacks and measures it there. Needs: `npm install`, `node tools/build.mjs`, the local
# PostgreSQL 15 server (Debian paths) for the trace run.
#   bash bench/search/bare-host/pack.sh   ->  bench/results/bare-host/pack.tar.xz (about 58 MB)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); REPO=$(cd "$HERE/../../.." && pwd)
OUTDIR=$REPO/bench/results/bare-host; S=$(mktemp -d); TRACE=$(mktemp)
trap 'rm -rf "$S" "$TRACE"' EXIT
chmod 755 $S # the archive's top directory: PostgreSQL runs as another user there
cd "$REPO"
# the trace: a small distributed run loads every module a full one does
TRACE_OUT=$TRACE NODE_OPTIONS="--import $HERE/trace-hook.mjs" node bench/search/run.mjs --stores distributed --n 2000 --queries 10 --warmup 10 --wait-ready >/dev/null
FILES=$(sort -u "$TRACE" | sed "s#^file://$REPO/##")
PGV=/usr/lib/postgresql/15
mkdir -p $S/app $S/pg$PGV/bin $S/pg$PGV/lib $S/pg/usr/share/postgresql $S/pglibs $S/node/bin
cp "$(command -v node)" $S/node/bin/node
# PostgreSQL finds its share and lib directories relative to its binaries, so the tree moves as a whole
for b in postgres initdb pg_ctl; do cp $PGV/bin/$b $S/pg$PGV/bin/; done
for m in plpgsql.so dict_snowball.so; do cp $PGV/lib/$m $S/pg$PGV/lib/; done
cp -r /usr/share/postgresql/15 $S/pg/usr/share/postgresql/
for b in postgres initdb pg_ctl; do ldd $PGV/bin/$b; done | awk '/=>/ {print $3}' | sort -u |
  grep -v -E '/(libc|libm|libresolv|libdl|libpthread|librt)\.so' | while read -r l; do cp -L "$l" $S/pglibs/; done
for f in bench/search/run.mjs bench/search/corpus.mjs bench/search/stats.mjs package.json; do
  mkdir -p "$S/app/$(dirname $f)"; cp $f "$S/app/$f"
done
mkdir -p $S/app/node_modules/@clara $S/app/node_modules/.bin
for l in contracts platform uds3; do
  mkdir -p $S/app/libs/$l; cp -r libs/$l/dist libs/$l/package.json $S/app/libs/$l/
  ln -s ../../libs/$l $S/app/node_modules/@clara/$l
done
ln -s ../chromadb/dist/cli.mjs $S/app/node_modules/.bin/chroma
echo "$FILES" | grep '^node_modules/' | awk -F/ '{ if ($2 ~ /^@/) print $1"/"$2"/"$3; else print $1"/"$2 }' | sort -u |
  grep -v -E '^node_modules/(@clara/|chromadb-js-bindings|@electric-sql/pglite$)' | while read -r p; do
    mkdir -p "$S/app/$(dirname $p)"; cp -r "$p" "$S/app/$p"
  done
# PGlite: only the files loaded (its WASM is read only when an embedded store opens)
P=node_modules/@electric-sql/pglite
mkdir -p $S/app/$P && cp $P/package.json $S/app/$P/
echo "$FILES" | grep "^$P/" | while read -r f; do mkdir -p "$S/app/$(dirname $f)"; cp "$f" "$S/app/$f"; done
B=node_modules/chromadb-js-bindings-linux-x64-gnu
mkdir -p $S/app/$B && cp $B/package.json $B/chromadb-js-bindings.linux-x64-gnu.node $S/app/$B/
strip $S/app/$B/chromadb-js-bindings.linux-x64-gnu.node
find $S/app/node_modules \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -delete
mkdir -p "$OUTDIR"
tar -C $S -cf - . | xz -T0 -6 >"$OUTDIR/pack.tar.xz"
du -h "$OUTDIR/pack.tar.xz"
