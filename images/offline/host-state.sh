#!/usr/bin/env bash
# host-state.sh save|restore|diff DIR [sysctl|all]
#
# Saves and restores the host settings that a Docker engine and a running kind node change, so that
# the offline cluster leaves the machine as it found it:
#   sysctl  the kernel settings the kubelet of a privileged kind node writes into the host's
#           /proc/sys at every start (vm.overcommit_memory=1, kernel.panic=10,
#           kernel.panic_on_oops=1) and net.ipv4.ip_forward, which dockerd turns on;
#   all     those sysctls plus the iptables and ip6tables rules (dockerd adds chains, NAT rules
#           and a FORWARD policy of DROP).
# `diff` compares the current host with a saved DIR and exits 1 when they differ: the smoke run
# uses it to prove that `down` restored everything.
# Extra sysctls can be added with HOST_STATE_SYSCTLS="name1 name2".
set -euo pipefail

read -ra extra <<<"${HOST_STATE_SYSCTLS:-}"
SYSCTLS=(vm.overcommit_memory kernel.panic kernel.panic_on_oops net.ipv4.ip_forward "${extra[@]}")

usage() { echo "usage: $0 save|restore|diff DIR [sysctl|all]" >&2; exit 2; }

# iptables-save, normalised so that two snapshots of the same rules compare equal: comments (with
# dates) and packet counters dropped, and a table left with only empty ACCEPT built-in chains (what
# a flush leaves behind) treated like a table that was never created.
rules() {
    local tool=$1
    command -v "$tool" >/dev/null || return 0
    "$tool" 2>/dev/null | awk '
        /^#/ { next }
        { sub(/ *\[[0-9]+:[0-9]+\]$/, "") }
        /^\*/ { block = $0 "\n"; used = 0; next }
        /^COMMIT/ { if (used) printf "%sCOMMIT\n", block; next }
        /^:/ { if ($2 != "ACCEPT") used = 1 }
        /^-/ { used = 1 }
        { block = block $0 "\n" }'
}

# restore_rules TOOL FILE: make the rules equal to FILE. iptables-restore replaces only the tables
# named in its input, so every table that exists now but not in FILE is added as an empty table
# with ACCEPT policies (flushing the chains dockerd created and its FORWARD DROP policy).
restore_rules() {
    local tool=$1 file=$2
    command -v "$tool-restore" >/dev/null && [[ -f $file ]] || return 0
    {
        cat "$file"
        "$tool-save" 2>/dev/null | awk -v saved="$(grep '^\*' "$file" | tr '\n' ' ')" '
            /^\*/ { table = $0; keep = index(saved, table " ") == 0; if (keep) print; next }
            keep && /^:/ && $2 != "-" { print $1 " ACCEPT" }
            keep && /^COMMIT/ { print }'
    } | "$tool-restore"
}

save() {
    local dir=$1 what=$2 name
    mkdir -p "$dir"
    : >"$dir/sysctl.conf"
    for name in "${SYSCTLS[@]}"; do
        printf '%s=%s\n' "$name" "$(sysctl -n "$name")" >>"$dir/sysctl.conf"
    done
    if [[ $what == all ]]; then
        rules iptables-save >"$dir/iptables.rules"
        rules ip6tables-save >"$dir/ip6tables.rules"
    fi
}

restore() {
    local dir=$1 what=$2 line
    [[ -f $dir/sysctl.conf ]] || { echo "host-state: nothing saved in $dir" >&2; return 1; }
    while IFS= read -r line; do
        # Write only what differs: a read-only /proc/sys entry that already has its value is fine.
        [[ $(sysctl -n "${line%%=*}") == "${line#*=}" ]] || sysctl -q -w "$line"
    done <"$dir/sysctl.conf"
    if [[ $what == all ]]; then
        restore_rules iptables "$dir/iptables.rules"
        restore_rules ip6tables "$dir/ip6tables.rules"
    fi
}

diff_state() {
    local dir=$1 what=$2 now
    now=$(mktemp -d)
    trap 'rm -rf "$now"' RETURN
    save "$now" "$what"
    local rc=0 file
    for file in sysctl.conf iptables.rules ip6tables.rules; do
        [[ -f $dir/$file ]] || continue
        diff -u --label "saved/$file" --label "now/$file" "$dir/$file" "$now/$file" || rc=1
    done
    return "$rc"
}

(($# >= 2)) || usage
action=$1 dir=$2 what=${3:-sysctl}
[[ $what == sysctl || $what == all ]] || usage
case $action in
    save) save "$dir" "$what" ;;
    restore) restore "$dir" "$what" ;;
    diff) diff_state "$dir" "$what" ;;
    *) usage ;;
esac
