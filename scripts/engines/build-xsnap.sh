#!/usr/bin/env bash
# Builds an xsnap engine from @agoric/xsnap's own sources and makefiles,
# GOAL=release, against the XS it bundles or the Moddable SDK's.
#
#   build-xsnap.sh cli xs13            the CLI (xsnap.mk, no mxDebug) the bench
#   build-xsnap.sh cli xs17 MODDABLE   meters with, as a board's XS is built
#   build-xsnap.sh worker xs17 MODDABLE  the xsnap-worker (xsnap-worker.mk,
#                                      mxDebug as bundled) the XS host runs
#
# xs13 is the XS bundled with @agoric/xsnap (13.3); xs17 the SDK's (SDK
# 8.2.3: 17.7). Sources are copied to a scratch folder under the cache,
# patched there and built there; nothing is written into node_modules or the
# SDK. Prints the path of the binary. A finished build is reused while its
# inputs are the same.
#
# Patches (CLI, both engines): a `currentHeapCount()` global, so the bench
# reads live slots from the same engine it meters with (the worker reports it
# with every reply).
# Patches (XS 17 only), the port @agoric/xsnap 0.15 has not had:
# - XS 17 split XS_STACK_OVERFLOW_EXIT into XS_JAVASCRIPT_STACK_OVERFLOW_EXIT
#   and XS_NATIVE_STACK_OVERFLOW_EXIT;
# - fxRunImport takes an options slot and a referrer: push undefined after the
#   path and pass C_NULL, as the SDK's xs/tools/xst.c does;
# - the meter is 64-bit and counts in 1/65536 units (XS_CODE_METERING is
#   1 << 16), so the glue shifts by 16 both ways; fxBeginMetering's callback
#   and interval are 64-bit (XS shifts them itself), so xsnap.h and the
#   callbacks say so instead of passing 32-bit values;
# - txSnapshot gained a trailing `patch` callback, which xsnap.h's copy of
#   the struct lacks: XS would read it past the worker's struct.
set -euo pipefail

usage="usage: build-xsnap.sh cli|worker xs13|xs17 [MODDABLE]"
target=${1:?$usage}
engine=${2:?$usage}
root=$(cd "$(dirname "$0")/../.." && pwd)
xsnap_pkg=$(cd "$root" && node -p 'require("path").dirname(require.resolve("@agoric/xsnap/package.json"))')
case "$target" in
	cli) makefile=xsnap.mk; name=xsnap ;;
	worker) makefile=xsnap-worker.mk; name=xsnap-worker ;;
	*) echo "$usage" >&2; exit 2 ;;
esac
case "$engine" in
	xs13) moddable="$xsnap_pkg/moddable" ;;
	xs17) moddable=${3:-${MODDABLE:?xs17 needs the SDK folder as MODDABLE}} ;;
	*) echo "$usage" >&2; exit 2 ;;
esac
test -f "$moddable/xs/sources/xsCommon.h" || { echo "no XS sources in $moddable" >&2; exit 1; }

cache=${ROOM1_ENGINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/room1-engines}
# The build's identity: this script, the xsnap sources and the XS version header.
key=$( { cat "$0"; cat "$xsnap_pkg/xsnap-native/xsnap/sources/"*; cat "$moddable/xs/sources/xsCommon.h"; echo "$moddable"; } | sha256sum | cut -c1-16)
work="$cache/$engine-$target-$key"
binary="$work/build/bin/lin/release/$name"
if test -x "$binary"; then echo "$binary"; exit 0; fi

rm -rf "$work"
mkdir -p "$work"
cp -r "$xsnap_pkg/xsnap-native/xsnap/sources" "$xsnap_pkg/xsnap-native/xsnap/makefiles" "$work/"
src="$work/sources"

# patch FILE PERL-EXPRESSION: a substitution that must change the file.
patch_c() {
	local file=$1 expr=$2 before
	before=$(sha256sum < "$file")
	perl -0pi -e "$expr" "$file"
	if test "$before" = "$(sha256sum < "$file")"; then echo "patch did not apply to $file: $expr" >&2; exit 1; fi
}

if test "$target" = cli; then
	# (declared as xsnap-worker.c declares it; xsnapPlatform.c defines it)
	patch_c "$src/xsnap.c" 's/(#define SNAPSHOT_SIGNATURE [^\n]*\n)/$1\nextern xsIntegerValue fxGetCurrentHeapCount(xsMachine* the);\nstatic void xs_currentHeapCount(xsMachine* the)\n{\n\txsResult = xsInteger(fxGetCurrentHeapCount(the));\n}\n/'
	patch_c "$src/xsnap.c" 's/(\txsResult = xsNewHostFunction\(xs_gc, 1\);)/\txsResult = xsNewHostFunction(xs_currentHeapCount, 0);\n\txsDefine(xsGlobal, xsID("currentHeapCount"), xsResult, xsDontEnum);\n$1/'
fi

if test "$engine" = xs17; then
	patch_c "$src/xsnapPlatform.c" 's/\tcase XS_STACK_OVERFLOW_EXIT:/\tcase XS_JAVASCRIPT_STACK_OVERFLOW_EXIT:\n\tcase XS_NATIVE_STACK_OVERFLOW_EXIT:/'
	patch_c "$src/xsnapPlatform.c" 's/\tmxPushStringC\(path\);\n\tfxRunImport\(the, realm, XS_NO_ID\);/\tmxPushStringC(path);\n\tmxPushUndefined();\n\tfxRunImport(the, realm, C_NULL);/'
	patch_c "$src/xsnapPlatform.c" 's/\treturn the->meterIndex;/\treturn (txUnsigned)(the->meterIndex >> 16);/'
	patch_c "$src/xsnapPlatform.c" 's/\tthe->meterIndex = value;/\tthe->meterIndex = ((txU8)value) << 16;/'
	patch_c "$src/xsnap.h" 's/fxBeginMetering\(xsMachine\* the, xsBooleanValue \(\*callback\)\(xsMachine\*, xsUnsignedValue\), xsUnsignedValue interval\)/fxBeginMetering(xsMachine* the, xsBooleanValue (*callback)(xsMachine*, uint64_t), uint64_t interval)/'
	patch_c "$src/xsnap.h" 's/(\tvoid\* slots;\n)(\};)/$1\tint (*patch)(xsMachine*, int);\n$2/'
	if test "$target" = cli; then
		patch_c "$src/xsnap.c" 's/(xsMeteringCallback\(xsMachine\* the, )xsUnsignedValue index\)/$1uint64_t index)/'
	else
		patch_c "$src/xsnap-worker.c" 's/(fxMeteringCallback\(xsMachine\* the, )xsUnsignedValue index\)/$1uint64_t index)/'
		patch_c "$src/xsnap-worker.c" 's/\t\tcase xsStackOverflowExit:/\t\tcase xsJavaScriptStackOverflowExit:\n\t\tcase xsNativeStackOverflowExit:/'
	fi
fi

jobs=$(nproc 2>/dev/null || echo 2)
version=$(node -p "require('$xsnap_pkg/package.json').version")
make -C "$work/makefiles/lin" -f "$makefile" -j"$jobs" GOAL=release MODDABLE="$moddable" BUILD_DIR="$work/build" XSNAP_VERSION="$version" >&2
test -x "$binary"
echo "$binary"
