#!/bin/bash
# Keeps Service traffic inside the node. Until kube-proxy has programmed a ClusterIP (and for a
# ClusterIP it never programs), a packet to it is not translated and follows the node's default
# route out of the node, through the host, to whatever answers that address outside: a pod
# starting early was seen reaching a foreign TLS server at 10.96.0.1:443. These rules stop such
# packets instead. Translated packets are unaffected: kube-proxy's DNAT (nat PREROUTING/OUTPUT)
# runs before the filter and mangle POSTROUTING chains, so their destination is a pod address.
# Two layers: a filter REJECT (fast "connection refused", so clients retry at once) at the end of
# FORWARD/OUTPUT, and a mangle POSTROUTING DROP that no ACCEPT in the filter table can bypass
# (kube-router's policy chains accept pod traffic before the REJECT is reached).
# Run before every kubelet start (kubelet.service.d/20-datastack-service-guard.conf); the
# Service CIDRs come from kind's kubeadm config.
set -euo pipefail

subnets=$(sed -n 's/^ *serviceSubnet: *//p' /kind/kubeadm.conf | tr -d '"' | tr ',' ' ')
for cidr in ${subnets:-10.96.0.0/16}; do
    tool=iptables
    [[ $cidr == *:* ]] && tool=ip6tables
    $tool -N DATASTACK-SERVICE-GUARD 2>/dev/null || true
    rule=(-d "$cidr" -j REJECT)
    $tool -C DATASTACK-SERVICE-GUARD "${rule[@]}" 2>/dev/null || $tool -A DATASTACK-SERVICE-GUARD "${rule[@]}"
    for chain in FORWARD OUTPUT; do
        $tool -C "$chain" -j DATASTACK-SERVICE-GUARD 2>/dev/null || $tool -I "$chain" 1 -j DATASTACK-SERVICE-GUARD
    done
    drop=(-d "$cidr" -m comment --comment "datastack: untranslated Service traffic" -j DROP)
    $tool -t mangle -C POSTROUTING "${drop[@]}" 2>/dev/null || $tool -t mangle -A POSTROUTING "${drop[@]}"
done
