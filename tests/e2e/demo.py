"""make demo: softnetd isolating two VMs, in throwaway network namespaces.

Builds nothing itself (make does); starts softnetd with its TAP uplink in a
"host" namespace routed to an "ext" namespace that plays the Internet,
attaches two guest namespaces, and shows leases, reachability, isolation, an
ARP spoof being dropped, and the daemon's own view. Everything is removed at
the end, also on failure or Ctrl-C.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (EXT_IP, GATEWAY, Env, Topology, echo_server,  # noqa: E402
                     nsrun)


def say(msg):
    print("\n\033[1m== %s\033[0m" % msg, flush=True)


def show(label, ok):
    print("   %-58s %s" % (label, "yes" if ok else "NO"), flush=True)
    return ok


def main():
    if os.geteuid() != 0:
        sys.exit("make demo needs root (network namespaces and TAP devices)")
    start = time.monotonic()
    env = Env()
    good = True
    try:
        say("softnetd starts in namespace 'host' (uplink softnet0, "
            "gateway %s)" % GATEWAY)
        t = Topology(env)
        echo = t.ext_echo(7)
        say("two guest kernels attach their TAP with softnetctl attach --tap")
        vm1 = t.guest("vm1", "02:00:00:00:00:01")
        vm2 = t.guest("vm2", "02:00:00:00:00:02")
        for g in (vm1, vm2):
            lease = g.dhcp()
            print("   %s: busybox udhcpc got %s/%s router %s dns %s lease %ss"
                  % (g.name, lease["ip"], lease["mask"], lease["router"],
                     lease["dns"], lease["lease"]))
        say("what each VM can reach")
        good &= show("vm1 pings the gateway", vm1.ping(GATEWAY))
        good &= show("vm1 pings ext (%s, 'the Internet')" % EXT_IP,
                     vm1.ping(EXT_IP))
        good &= show("vm2 opens a TCP connection to ext",
                     vm2.tcp(EXT_IP, 7, "hi") == "hi")
        echo_server(env, vm2.ns, 7)
        good &= show("vm1 is kept from pinging vm2", not vm1.ping(vm2.ip))
        good &= show("vm1 is kept from TCP to vm2",
                     vm1.tcp(vm2.ip, 7, "x", timeout=1) is None)
        say("vm2 claims the gateway's address with forged ARP (scapy)")
        vm2.scapy("sendp(Ether(src=%r, dst='ff:ff:ff:ff:ff:ff')/ARP(op=2, "
                  "hwsrc=%r, psrc=%r, pdst=%r), count=5)"
                  % (vm2.mac, vm2.mac, GATEWAY, GATEWAY))
        drops = t.stats("vm2")["drops"]
        good &= show("softnetd dropped it (arp_spoof = %d)"
                     % drops["arp_spoof"], drops["arp_spoof"] >= 5)
        good &= show("vm1 still reaches ext", vm1.ping(EXT_IP))
        for cmd in (["list"], ["leases"], ["stats", "vm2"]):
            say("softnetctl " + " ".join(cmd))
            print(t.daemon.ctl(*cmd).stdout, end="", flush=True)
        echo.kill()
    finally:
        env.close()
    say("cleaned up: namespaces, TAP devices and softnetd are gone "
        "(%.1f s)" % (time.monotonic() - start))
    if not good:
        sys.exit("demo: something did not behave as shown above")


if __name__ == "__main__":
    main()
