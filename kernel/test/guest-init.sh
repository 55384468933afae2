#!/bin/busybox sh
# /init of the qemu test guest (busybox + tfhelper + tideflow_sysinfo.ko).
# Builds fake containers from real cgroups (v2 and a v1 hierarchy) and PID
# namespaces, reads /proc/tideflow_sysinfo in several ways and prints
# everything the host-side checker (check.mjs) needs between @@TF markers.
# Any line starting with "@@TF" is protocol; see check.mjs. Protocol and
# captured JSON go to the second serial port (/dev/ttyS1, fd 3), so kernel
# messages on the console (ttyS0) can never interleave with them.

/bin/busybox --install -s /bin
echo    # the firmware leaves the console mid-line
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
# warnings (level 4) would be hidden by "quiet": show everything from now on
echo 8 > /proc/sys/kernel/printk

. /tf.env    # ID1..ID10, POD_UID

stty -F /dev/ttyS1 raw -echo 2>/dev/null
exec 3>/dev/ttyS1 || echo "@@TF guest-error no /dev/ttyS1"
say() { echo "@@TF $*" >&3; }
fail_guest() { say "guest-error $*"; }

mount -t cgroup2 cgroup2 /sys/fs/cgroup || fail_guest "mount cgroup2"
mkdir -p /v1
# a real cgroup v1 hierarchy (the pids controller is free while v2 does not use it)
if mount -t cgroup -o pids cgroup /v1; then say "v1 pids"; else fail_guest "mount v1"; fi

CG=/sys/fs/cgroup

# start_in <cgroup dir> <pidns yes|no> <command...>: runs command in the cgroup,
# inside a new PID namespace (busybox unshare -p -f) when asked.
start_in() {
	dir=$1; pidns=$2; shift 2
	mkdir -p "$dir"
	if [ "$pidns" = yes ]; then
		sh -c 'echo $$ > "$0/cgroup.procs" && exec unshare -p -f "$@"' "$dir" "$@" &
	else
		sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$dir" "$@" &
	fi
}

# --- containers -----------------------------------------------------------
C1="$CG/system.slice/docker-$ID1.scope"                      # docker, systemd, v2
C2="$CG/docker/$ID2"                                          # docker cgroupfs on v2
C3="$CG/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod$POD_UID.slice/cri-containerd-$ID3.scope"
C4="/v1/docker/$ID4"                                          # docker cgroupfs, cgroup v1
C5="$CG/machine.slice/libpod-$ID5.scope"                      # podman, no PID ns
C6="/v1/kubepods/besteffort/pod$POD_UID/$ID6"                # kubepods cgroupfs, v1
C7="$CG/tfbox-$ID7"                                           # extra match string (prefix)
C8="$CG/system.slice/crio-$ID8.scope"                         # cri-o; holds a weird child cgroup
C9="$CG/docker/$ID9"                                          # churn container
WEIRD_CG="$C8/$(printf 'we"ird\\na\tme\377')"   # cgroup names cannot hold \n
# host (non-container) groups: must never be listed as containers
H1="$CG/system.slice/sshd.service"
H2="$CG/user.slice/$(echo "$ID1" | cut -c1-63)"              # 63 hex: not an id
H3="$CG/machine.slice/libpod-conmon-$ID5.scope"              # conmon is not the container
H4="$CG/system.slice/docker.service"
X1="$CG/lxc.payload.web"                                      # extra match, no id
# many processes, and a record longer than a page: 4 components of 200 \001
# bytes (each escaped to 6 bytes) make one cgroup path 4.8 KB of JSON
C10="$CG/docker/$ID10"
SEG=$(printf '\001%.0s' $(seq 200))
C10D="$C10/$SEG/$SEG/$SEG/$SEG"

start_in "$C1" yes /tfhelper spin 1
start_in "$C2" yes /tfhelper alloc 24
start_in "$C3" yes sleep 1000
start_in "$C3" no /tfhelper comm 71225c010affc3a9e2827a     # q " \ ^A \n ff c3a9 e2 82 z
start_in "$C4" yes sleep 1001
start_in "$C5" no sleep 1002
start_in "$C6" yes sleep 1003
start_in "$C7" no sleep 1004
start_in "$WEIRD_CG" no sleep 1005
start_in "$H1" no sleep 2001
start_in "$H2" no sleep 2002
start_in "$H3" no sleep 2003
start_in "$H4" no sleep 2004
start_in "$X1" no sleep 2005
start_in "$C10D" no sleep 1006
mkdir -p "$C10"
sh -c 'echo $$ > "$0/cgroup.procs"; for i in $(seq 200); do sleep 3000 & done; exec sleep 3001' "$C10" &
sleep 0.5

# expectations: "@@TF group <name> <id|-> <pids...>", then per pid
# "@@TF pid <pid> nspid <NSpid fields...>"
dump_group() {
	name=$1; id=$2; dir=$3
	pids=$(cat "$dir/cgroup.procs" | tr '\n' ' ')
	say "group $name $id $pids"
	for p in $pids; do
		# builtins only: no fork per pid
		while read -r k v; do
			[ "$k" = NSpid: ] && say "pid $p nspid $v" && break
		done < /proc/$p/status
	done
}
dump_groups() {
	dump_group C1 "$ID1" "$C1"; dump_group C2 "$ID2" "$C2"
	dump_group C3 "$ID3" "$C3"; dump_group C4 "$ID4" "$C4"
	dump_group C5 "$ID5" "$C5"; dump_group C6 "$ID6" "$C6"
	dump_group C7 "$ID7" "$C7"; dump_group C8 "$ID8" "$WEIRD_CG"
	dump_group H1 - "$H1"; dump_group H2 - "$H2"; dump_group H3 - "$H3"
	dump_group H4 - "$H4"; dump_group X1 - "$X1"
	dump_group C10 "$ID10" "$C10"; dump_group C10D "$ID10" "$C10D"
}

# capture <name> <command...>: command's output between markers
capture() {
	name=$1; shift
	say "BEGIN $name"
	"$@" 2>/tmp/capture.err >&3
	rc=$?
	echo >&3
	say "END $name rc=$rc"
	[ $rc -eq 0 ] || cat /tmp/capture.err
}

# --- load -----------------------------------------------------------------
insmod /tideflow_sysinfo.ko 'match=tfbox-,lxc.payload.'
say "insmod rc=$?"
say "meminfo $(grep MemTotal /proc/meminfo | tr -s ' ' | cut -d' ' -f2)"
dump_groups

ALLOC_PID=$(cat "$C2/cgroup.procs" | while read p; do
	[ "$(cat /proc/$p/comm)" = tfhelper ] && echo $p; done)
vmrss() { grep '^VmRSS:' /proc/$ALLOC_PID/status | tr -s ' ' | cut -d' ' -f2; }

say "vmrss-before $ALLOC_PID $(vmrss)"
capture read1 cat /proc/tideflow_sysinfo
say "vmrss-after $ALLOC_PID $(vmrss)"
sleep 1
capture read2 cat /proc/tideflow_sysinfo
capture small dd if=/proc/tideflow_sysinfo bs=7
capture small3 dd if=/proc/tideflow_sysinfo bs=3 count=100000

echo 1 > /sys/module/tideflow_sysinfo/parameters/list_all
say "proc-count $(ls -d /proc/[0-9]* | wc -l)"
capture all cat /proc/tideflow_sysinfo
say "proc-count $(ls -d /proc/[0-9]* | wc -l)"
echo 0 > /sys/module/tideflow_sysinfo/parameters/list_all

# --- churn: processes, threads, PID namespaces and cgroups come and go ------
mkdir -p "$C9"
start_in "$C9" no /tfhelper churn
start_in "$C9" no sh -c 'while :; do unshare -p -f true; done'
start_in "$C9" no sh -c 'while :; do sleep 0 & wait; done'
( i=0; while :; do
	d="$C9/sub$i"; mkdir -p "$d"
	sh -c 'echo $$ > "$0/cgroup.procs"; exec true' "$d"
	rmdir "$d" 2>/dev/null
	i=$(( (i + 1) % 4 ))
done ) &
CGCHURN=$!
sleep 0.5
dump_group C9 "$ID9" "$C9"
n=0
while [ $n -lt 6 ]; do
	cat /proc/tideflow_sysinfo > /dev/null &
	dd if=/proc/tideflow_sysinfo bs=7 of=/dev/null 2>/dev/null &
	capture "churn$n" dd if=/proc/tideflow_sysinfo bs=7
	echo 1 > /sys/module/tideflow_sysinfo/parameters/list_all
	capture "churnall$n" cat /proc/tideflow_sysinfo
	echo 0 > /sys/module/tideflow_sysinfo/parameters/list_all
	n=$((n + 1))
done
sleep 0.5   # let the background readers finish
kill $CGCHURN
for p in $(cat "$C9/cgroup.procs"); do kill -9 $p 2>/dev/null; done
sleep 0.5
say "churn done"

# --- unload with a reader holding the file open, reload, unload -------------
exec 4< /proc/tideflow_sysinfo
head -c 7 <&4 > /dev/null
rmmod tideflow_sysinfo
say "rmmod-open rc=$?"
if cat <&4 > /dev/null 2>&1; then say "read-after-rmmod ok"; else say "read-after-rmmod failed"; fi
exec 4<&-
[ -e /proc/tideflow_sysinfo ] && say "proc-after-rmmod present" || say "proc-after-rmmod absent"
insmod /tideflow_sysinfo.ko list_all=1
say "reinsmod rc=$?"
capture reload cat /proc/tideflow_sysinfo
rmmod tideflow_sysinfo
say "rmmod rc=$?"
[ -e /proc/tideflow_sysinfo ] && say "proc-final present" || say "proc-final absent"

capture dmesg dmesg
say "END-OF-TEST"
echo "@@TF END-OF-TEST"
sync
poweroff -f
echo o > /proc/sysrq-trigger
sleep 10
