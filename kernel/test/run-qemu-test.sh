#!/usr/bin/env bash
# Builds tideflow_sysinfo.ko against Debian's packaged headers, boots Debian's
# packaged kernel of the same version in qemu (TCG) with a busybox initramfs
# that creates fake containers (cgroups + PID namespaces), and checks what the
# module reports. See kernel/README.md.
#
#   bash kernel/test/run-qemu-test.sh [--update-fixtures]
#
# Env: KVER (default: newest /usr/src/linux-headers-*-amd64), QEMU_TIMEOUT
# (seconds, default 150), KEEP=1 keeps the initramfs staging dir.
# Downloads and builds are cached under kernel/build/ (git-ignored).
# Final line: "kernel: N passed, M failed"; exit status non-zero on failure.
set -euo pipefail

T0=$(date +%s%N)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KDIR_SRC=$ROOT/kernel
TDIR=$KDIR_SRC/test
B=$KDIR_SRC/build
UPDATE_FIXTURES=0
[[ "${1:-}" == "--update-fixtures" ]] && UPDATE_FIXTURES=1
mkdir -p "$B"

PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $*" >&2; }
elapsed() { echo "$(( ($(date +%s%N) - T0) / 1000000 )) ms"; }
finish() {
	echo "kernel: total time $(elapsed)"
	echo "kernel: $PASS passed, $FAIL failed"
	if [[ $FAIL -eq 0 ]]; then exit 0; else exit 1; fi
}
die() { bad "$*"; finish; }

# ---------------------------------------------------------------- packages --
find_kver() {
	ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sed 's|.*/linux-headers-||' | sort -V | tail -n 1
}
SUDO=
[[ $(id -u) -eq 0 ]] || SUDO=sudo
missing=()
[[ -n "${KVER:-}" || -n "$(find_kver)" ]] || missing+=(linux-headers-amd64)
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
[[ -x /bin/busybox ]] && /bin/busybox --list 2>/dev/null | grep -x unshare >/dev/null \
	&& ! ldd /bin/busybox >/dev/null 2>&1 || missing+=(busybox-static)
command -v cpio >/dev/null || missing+=(cpio)
command -v gcc >/dev/null || missing+=(gcc)
[[ -f /usr/lib/x86_64-linux-gnu/libc.a ]] || missing+=(libc6-dev)
if [[ ${#missing[@]} -gt 0 ]]; then
	echo "kernel: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt_install() { $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$B/apt.log" 2>&1; }
	# skip the slow index refresh when the lists on the machine are good enough
	if ! { ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1 && apt_install; }; then
		$SUDO apt-get update -qq >>"$B/apt.log" 2>&1
		apt_install || { tail -20 "$B/apt.log" >&2; die "apt-get install ${missing[*]}"; }
	fi
	echo "kernel: apt done after $(elapsed)"
fi
KVER=${KVER:-$(find_kver)}
[[ -n "$KVER" && -f /usr/src/linux-headers-$KVER/Makefile ]] || die "no headers for '$KVER' in /usr/src"
echo "kernel: KVER=$KVER"

# ------------------------------------------------------------------ module --
if make -C "$KDIR_SRC" KVER="$KVER" >"$B/make.log" 2>&1; then
	if grep -qiE 'warning:|error:' "$B/make.log"; then
		grep -iE 'warning:|error:' "$B/make.log" >&2
		bad "module builds without warnings (W=1 -Werror)"
	else
		ok "module builds against $KVER headers (W=1 -Werror, no warnings)"
	fi
else
	cat "$B/make.log" >&2
	die "module build (see kernel/build/make.log)"
fi
KO=$KDIR_SRC/tideflow_sysinfo.ko

# ------------------------------------------------------------------ vmlinuz --
VMLINUZ=$B/vmlinuz-$KVER
if [[ ! -s "$VMLINUZ" ]]; then
	rm -rf "$B/deb" && mkdir -p "$B/deb"
	(cd "$B/deb" && apt-get download "linux-image-$KVER" >/dev/null 2>&1) \
		|| { $SUDO apt-get update -qq && (cd "$B/deb" && apt-get download "linux-image-$KVER" >/dev/null 2>&1); } \
		|| die "apt-get download linux-image-$KVER"
	# --occurrence: stop at the kernel (in ./boot, near the start) instead of
	# decompressing the ~400 MB of modules after it; dpkg-deb then gets SIGPIPE.
	set +o pipefail
	dpkg-deb --fsys-tarfile "$B"/deb/linux-image-"$KVER"_*.deb 2>/dev/null \
		| tar -x -C "$B/deb" --occurrence=1 "./boot/vmlinuz-$KVER"
	set -o pipefail
	[[ -s "$B/deb/boot/vmlinuz-$KVER" ]] || die "extract vmlinuz-$KVER"
	mv "$B/deb/boot/vmlinuz-$KVER" "$VMLINUZ"
	rm -rf "$B/deb"
	echo "kernel: vmlinuz-$KVER cached after $(elapsed)"
fi

# --------------------------------------------------------------- initramfs --
HELPER=$B/tfhelper
if [[ ! -x "$HELPER" || "$TDIR/tfhelper.c" -nt "$HELPER" ]]; then
	gcc -static -O2 -Wall -Wextra -Werror -pthread -o "$HELPER" "$TDIR/tfhelper.c" \
		|| die "build static tfhelper"
fi
STAGE=$B/initramfs
rm -rf "$STAGE"
mkdir -p "$STAGE"/{bin,dev,proc,sys,tmp,v1}
cp /bin/busybox "$STAGE/bin/busybox"
cp "$TDIR/guest-init.sh" "$STAGE/init"
chmod 755 "$STAGE/init"
cp "$HELPER" "$STAGE/tfhelper"
cp "$KO" "$STAGE/tideflow_sysinfo.ko"
mknod -m 600 "$STAGE/dev/console" c 5 1 2>/dev/null || true
mknod -m 666 "$STAGE/dev/null" c 1 3 2>/dev/null || true
# docker-style 64-hex ids, fixed so captured fixtures are stable
{
	for i in 1 2 3 4 5 6 7 8 9 10; do
		echo "ID$i=$(printf 'tideflow-c%s' "$i" | sha256sum | cut -c1-64)"
	done
	echo "POD_UID=2f1c7a9e_3b4d_4e5f_8a6b_7c8d9e0f1a2b"
} >"$STAGE/tf.env"
cp "$STAGE/tf.env" "$B/tf.env"
(cd "$STAGE" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$B/initramfs.cpio.gz" \
	|| die "build initramfs"
[[ "${KEEP:-0}" == 1 ]] || rm -rf "$STAGE"

# --------------------------------------------------------------------- boot --
CONSOLE=$B/console.log
DATA=$B/data.log     # guest's /dev/ttyS1: protocol lines and captured JSON
rm -f "$CONSOLE" "$DATA"
TQ=$(date +%s%N)
set +e
timeout --kill-after=5 "${QEMU_TIMEOUT:-150}" qemu-system-x86_64 \
	-accel tcg -smp 2 -m 256 -display none -no-reboot -nic none \
	-serial mon:stdio -serial "file:$DATA" \
	-kernel "$VMLINUZ" -initrd "$B/initramfs.cpio.gz" \
	-append 'console=ttyS0 quiet panic=-1 oops=panic panic_on_warn=1 softlockup_panic=1' \
	</dev/null >"$CONSOLE" 2>&1
QRC=$?
set -e
echo "kernel: qemu ran $(( ($(date +%s%N) - TQ) / 1000000 )) ms (exit $QRC), console in kernel/build/console.log, data in kernel/build/data.log"
[[ $QRC -eq 124 || $QRC -eq 137 ]] && bad "qemu timed out after ${QEMU_TIMEOUT:-150}s"
[[ $QRC -eq 0 || $QRC -eq 124 || $QRC -eq 137 ]] || bad "qemu exit status $QRC"

if [[ -f "$DATA" ]] && grep -aq '^@@TF END-OF-TEST' <(tr -d '\r' <"$DATA"); then
	ok "guest reached its end marker"
else
	tail -40 "$CONSOLE" >&2
	bad "guest never reached its end marker (panic, hang or init failure; see kernel/build/console.log)"
fi
if grep -nE 'BUG:|Oops|WARNING:|Kernel panic|general protection|Call Trace|self-detected stall|detected stalls|soft lockup|invalid context|scheduling while atomic' "$CONSOLE" >&2; then
	bad "console shows BUG/Oops/WARNING/panic"
else
	ok "console free of BUG/Oops/WARNING/panic"
fi

# ----------------------------------------------------------- host checks --
CHECK_OUT=$B/check.log
set +e
node "$TDIR/check.mjs" --console "$DATA" --env "$B/tf.env" --out "$B/capture" \
	$([[ $UPDATE_FIXTURES == 1 || ! -s $ROOT/test/fixtures/kernel/sysinfo-1.json ]] \
		&& echo --fixtures "$ROOT/test/fixtures/kernel") | tee "$CHECK_OUT"
NRC=${PIPESTATUS[0]}
set -e
np=$(grep -c '^ok ' "$CHECK_OUT" || true)
nf=$(grep -c '^FAIL ' "$CHECK_OUT" || true)
PASS=$((PASS + np))
FAIL=$((FAIL + nf))
[[ $NRC -eq 0 || $nf -gt 0 ]] || bad "check.mjs exited $NRC"
[[ $np -gt 0 ]] || bad "check.mjs ran no checks"
finish
