"""make bench: softnet's data path measured beside its limits and its peers.

One run builds every namespace it needs, measures, prints one table and
removes everything it created (tests/e2e/harness.Env), even on failure.
Every compared figure comes from this run: on a small noisy machine a figure
from another day compares nothing. Nothing here asserts: the table says
"meets" or "below" for each target of the issue and the exit status is 0
unless the harness itself broke.

    BENCH_SECONDS  iperf3 duration per run (10)
    BENCH_RUNS     runs per figure; the median is reported, with the
                   lowest and highest run beside it (3)
    BENCH_DHCP_RATE  the most DORA/s perfdhcp offers in row 11 (12800)
    BENCH_ONLY     comma-separated section names, run in this order:
                   veth, bridge, pasta, slirp4netns, softnet TAP guests,
                   softnet TAP capture, metrics, softnet socketpair,
                   softnet socketpair -B, micro-benchmarks, scale,
                   tenancy, perfdhcp, vmnet, idle

The header names the machine (CPU model, cores, kernel) and the load
average at the start and at the end. Every figure measured in runs is
printed as its median and min-max; every ratio as the median's and, in
brackets, each run over the reference's median (veth's own runs over its
median show the machine's noise in the same units).

Rows: (1) kernel veth between two namespaces, the machine's limit;
(1b) section bridge: guests on a kernel bridge with per-port
anti-spoofing in nftables (libvirt's clean-traffic, done in the bridge
family) to ext, what a Linux user isolating VMs would compare with; the
rules are shown to stop a spoofed source before anything is measured;
(2) pasta (default MTU 65520 and 1500) and slirp4netns (MTU 65520, to the
host's loopback and to a host address), each attaching a guest namespace
to a private "host" namespace that runs the iperf3 server; each peer's
best configuration counts as that peer in row 3; (3) softnet with a
TAP guest (guest -> softnetd -> TAP uplink -> ext namespace, DHCP lease,
default filter policy); (4) softnet with a socketpair guest (tapbridge, the
Tart shape), batched and with -B; (5) four TAP guests at once; (6) ping
RTT; (7) the C micro-benchmarks in tests/bench; (8) 1000 VMs: attach
latency, RSS per VM, DHCP leases per second; (9) tenancy (issue #13 items
12-13): another VM's RTT and softnetd's disk write rate while one guest
floods DHCP DISCOVERs, and the time of one `leases` request and of a whole
`softnetctl leases` at 100k lease rows; (10) vmnet (issue #12): the
socket-pair rows and RTT over the fake-vmnet build, as ratios to the same
rows over the TAP build measured beside them; (11) Kea's perfdhcp
(issue #14): DORA leases/s and delay of softnetd through the relay shim
tests/tools/dhcprelay.c, beside dnsmasq given the same pool and the shim
answering alone; (3c) row 3 with one packet capture of the guest running
(issue #16: softnetctl capture -w /dev/null), beside row 3 without one.
(3m) metrics (issue #16): row 3's guest with metrics on,
runs taking turns without and with a scrape once a second; (12) section
idle: softnetd with 4 VMs attached (2 TAP, 2 socket pairs) and no
traffic, its CPU and wakeups per second over 10 s.
"""

import json
import os
import platform
import resource
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

import harness  # noqa: E402
from harness import (BUILD, EXT_IP, PREFIX, SOFTNETCTL, Client,  # noqa: E402
                     Daemon, Env, Guest, Topology, nsrun, run,
                     start_bridged, wait_for)

SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
BENCH_BIN = os.path.join(BUILD, "bench")
IPERF_PORT = 5201
PINGS = 200
RUNS_SUFFIX = "@runs"  # res[key + RUNS_SUFFIX]: the runs behind res[key]
FLOOD_PINGS = 5000
SCALE_VMS = 1000
SCALE_EXTRA = 100  # attaches timed with SCALE_VMS already attached

# The private "host" of the pasta/slirp4netns rows: an address and a default
# route over a veth pair that never leaves that namespace.
PEER_HOST_IP = "10.77.0.1"
PEER_HOST_GW = "10.77.0.254"


class Unavailable(Exception):
    """A row that cannot be measured here; printed as n/a with the reason."""


def log(msg):
    sys.stderr.write("bench: %s\n" % msg)
    sys.stderr.flush()


def median(xs):
    return statistics.median(xs) if xs else None


def percentile(xs, q):
    s = sorted(xs)
    if not s:
        return None
    k = min(len(s) - 1, max(0, int(round(q / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


# ---------------------------------------------------------------- helpers

def bg(env, name, cmd, ns=None, **kw):
    """Starts a long-lived process whose output goes to a file, not a pipe
    nobody reads (a full pipe would stall it mid-measurement)."""
    f = open(env.path(name + ".log"), "w")
    p = env.popen(cmd, ns=ns, stdout=f, stderr=subprocess.STDOUT, **kw)
    p.logfile = f
    return p


def logtail(env, name, n=3):
    try:
        with open(env.path(name + ".log")) as f:
            lines = [l.strip() for l in f if l.strip() and
                     "syslog" not in l]
        return " / ".join(lines[-n:])
    except OSError:
        return ""


def listening(ns, port):
    r = nsrun(ns, ["ss", "-Hltn", "sport = :%d" % port], check=False)
    return r.returncode == 0 and r.stdout.strip() != ""


def iperf_server(env, ns, port=IPERF_PORT):
    bg(env, "iperf3-%s-%d" % (ns, port), ["iperf3", "-s", "-p", str(port)],
       ns=ns)
    wait_for(lambda: listening(ns, port), what="iperf3 -s on %d" % port)


def iperf_cmd(ip, port, reverse):
    cmd = ["iperf3", "-c", ip, "-p", str(port), "-t", str(SECONDS), "-J"]
    return cmd + (["-R"] if reverse else [])


def iperf_parse(out, what):
    try:
        d = json.loads(out)
    except ValueError:
        raise Unavailable("%s: iperf3 printed no JSON" % what)
    if d.get("error"):
        raise Unavailable("%s: iperf3: %s" % (what, d["error"]))
    return d["end"]["sum_received"]["bits_per_second"] / 1e9


def iperf_once(ns, ip, port, reverse, what):
    r = nsrun(ns, iperf_cmd(ip, port, reverse), check=False,
              timeout=SECONDS + 30)
    return iperf_parse(r.stdout, what)


def put_runs(res, key, xs):
    """Stores the median of runs xs as res[key] and the runs themselves
    beside it, for the table's min-max and its ratio ranges."""
    res[key] = median(xs)
    res[key + RUNS_SUFFIX] = list(xs)
    return res[key]


def runs_of(res, key):
    """The runs behind res[key], or [res[key]] for a single figure."""
    xs = res.get(key + RUNS_SUFFIX)
    if xs:
        return xs
    return [res[key]] if res.get(key) is not None else None


def iperf_runs(ns, ip, reverse, what, port=IPERF_PORT):
    """Gbit/s of RUNS runs; reverse: the server sends (-R)."""
    xs = [iperf_once(ns, ip, port, reverse, what) for _ in range(RUNS)]
    log("  %s %s: %s Gbit/s" % (what, "down" if reverse else "up",
                                " ".join("%.2f" % x for x in xs)))
    return xs


def iperf_both(res, key, ns, ip, what, port=IPERF_PORT):
    """res[key_up] and res[key_down], with their runs: guest -> server,
    then server -> guest (-R)."""
    for rev, d in ((False, "up"), (True, "down")):
        put_runs(res, "%s_%s" % (key, d),
                 iperf_runs(ns, ip, rev, what, port))


def iperf_parallel(pairs, reverse, what):
    """Runs one iperf3 client per (ns, ip, port) at once; summed Gbit/s."""
    procs = [subprocess.Popen(["ip", "netns", "exec", ns] +
                              iperf_cmd(ip, port, reverse),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, start_new_session=True)
             for ns, ip, port in pairs]
    total = 0.0
    try:
        for p in procs:
            out, _ = p.communicate(timeout=SECONDS + 30)
            total += iperf_parse(out, what)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return total


def ping_median(ns, ip):
    """Median RTT in ms of PINGS pings at 10 ms intervals."""
    nsrun(ns, ["ping", "-n", "-q", "-c", "3", "-i", "0.05", "-W", "1", ip],
          check=False)
    r = nsrun(ns, ["ping", "-n", "-c", str(PINGS), "-i", "0.01", "-W", "1",
                   ip], check=False, timeout=PINGS * 0.05 + 30)
    xs = [float(l.split("time=")[1].split()[0])
          for l in r.stdout.splitlines() if "time=" in l]
    if len(xs) < PINGS // 2:
        raise Unavailable("ping %s: %d of %d replies" % (ip, len(xs), PINGS))
    return median(xs)


def ping_flood_avg(ns, ip, cpu):
    """Mean RTT in ms of back-to-back pings (ping -f) from one CPU."""
    r = nsrun(ns, ["taskset", "-c", str(cpu), "ping", "-n", "-q", "-f",
                   "-c", str(FLOOD_PINGS), "-W", "1", ip], check=False,
              timeout=120)
    for line in r.stdout.splitlines():
        if line.startswith("rtt ") or line.startswith("round-trip"):
            return float(line.split("=")[1].split("/")[1])
    raise Unavailable("ping -f %s: no summary" % ip)


def rtt_diagnostics(res, key, ns, ip, pid=None):
    """What the RTT row is made of: back-to-back pings from CPU 0 (no CPU
    goes idle between them), with softnetd (pid) pinned to the same CPU,
    where no wakeup crosses CPUs, and to the other one, where every
    round trip wakes softnetd and ping across CPUs. Rows are n/a where
    unavailable (one CPU, no summary)."""
    cpus = [0] if pid is None else [c for c in (0, 1)
                                    if c < (os.cpu_count() or 1)]
    try:
        for c in cpus:
            if pid is not None:
                run(["taskset", "-a", "-p", "-c", str(c), str(pid)])
            res["%s_rtt_flood%d" % (key, c)] = ping_flood_avg(ns, ip, 0)
    except Unavailable as e:
        log("  %s: %s" % (key, e))
    finally:
        if pid is not None:
            run(["taskset", "-a", "-p", "-c",
                 "0-%d" % ((os.cpu_count() or 1) - 1), str(pid)])


# ---------------------------------------------------------------- sections

def bench_veth(res):
    """Row 1: the kernel's own path between two namespaces."""
    env = Env()
    try:
        a = env.netns("va")
        b = env.netns("vb")
        run(["ip", "link", "add", "va0", "netns", a, "type", "veth", "peer",
             "name", "vb0", "netns", b])
        nsrun(a, ["ip", "addr", "add", "10.250.0.1/24", "dev", "va0"])
        nsrun(b, ["ip", "addr", "add", "10.250.0.2/24", "dev", "vb0"])
        nsrun(a, ["ip", "link", "set", "va0", "up"])
        nsrun(b, ["ip", "link", "set", "vb0", "up"])
        iperf_server(env, a)
        iperf_both(res, "veth", b, "10.250.0.1", "veth")
        res["veth_rtt"] = ping_median(b, "10.250.0.1")
        rtt_diagnostics(res, "veth", b, "10.250.0.1")
    finally:
        env.close()


def peer_host(env):
    """A private "host" namespace for pasta/slirp4netns and its server."""
    host = env.netns("phost")
    nsrun(host, ["ip", "link", "add", "up0", "type", "veth", "peer", "name",
                 "up1"])
    nsrun(host, ["ip", "addr", "add", PEER_HOST_IP + "/24", "dev", "up0"])
    nsrun(host, ["ip", "link", "set", "up0", "up"])
    nsrun(host, ["ip", "link", "set", "up1", "up"])
    nsrun(host, ["ip", "route", "add", "default", "via", PEER_HOST_GW,
                 "dev", "up0"])
    iperf_server(env, host)
    return host


def tap_ready(ns, dev):
    r = nsrun(ns, ["ip", "-4", "-o", "addr", "show", "dev", dev],
              check=False)
    return r.returncode == 0 and "inet " in r.stdout


# The peers at their best (issue #17): each in every configuration a user
# would pick for speed, its best row counting as that peer in the summary.
# (key, label, MTU, what the guest connects to)
PASTA_CONFIGS = (
    ("pasta65520", "pasta MTU 65520", None, "host lo"),
    ("pasta1500", "pasta MTU 1500", "1500", "host lo"),
)
SLIRP_CONFIGS = (
    ("slirplo", "slirp4netns MTU 65520", True, "host lo"),
    ("slirpaddr", "slirp4netns MTU 65520", False, "host addr"),
)
SLIRP_HOST_LO = "10.0.2.2"  # slirp's gateway, the host's 127.0.0.1


def peer_guest_up(env, p, guest, name):
    """Waits for a peer's tap0 in guest; Unavailable with its log if the
    peer died or never configured it."""
    try:
        wait_for(lambda: p.poll() is None and tap_ready(guest, "tap0"),
                 timeout=10, what="%s's tap0" % name)
    except AssertionError:
        raise Unavailable("%s did not come up: %s" % (name,
                                                      logtail(env, name)))
    nsrun(guest, ["ip", "link", "set", "tap0", "txqueuelen", "10000"])


def tap_mtu(ns):
    """tap0's MTU in ns, as the peer configured it."""
    link = json.loads(nsrun(ns, ["ip", "-j", "link", "show", "tap0"]).stdout)
    return link[0].get("mtu")


def bench_pasta(res):
    """Row 2a: pasta, at its default MTU (65520) and at 1500; the guest
    reaches the host's loopback at the gateway address (pasta maps it
    there by default)."""
    if not os.path.exists("/usr/bin/pasta"):
        raise Unavailable("pasta not installed (Debian package passt)")
    for key, label, mtu, dest in PASTA_CONFIGS:
        env = Env()
        try:
            host = peer_host(env)
            guest = env.netns("g" + key)
            # As root: pasta's default drop to nobody cannot join a netns
            # created by ip netns.
            p = bg(env, key, ["pasta", "--config-net"] +
                   (["-m", mtu] if mtu else []) +
                   ["-I", "tap0", "-4", "-f", "-q", "--runas", "0:0",
                    "--netns", "/run/netns/" + guest, "--netns-only"],
                   ns=host)
            peer_guest_up(env, p, guest, key)
            res[key + "_mtu"] = tap_mtu(guest)
            iperf_both(res, key, guest, PEER_HOST_GW, label + " " + dest)
        finally:
            env.close()


def bench_slirp(res):
    """Row 2b: slirp4netns at MTU 65520, to the host's loopback through
    slirp's gateway 10.0.2.2, and with --disable-host-loopback to the host
    namespace's own address (the host kernel delivers that over its
    loopback too)."""
    if not os.path.exists("/usr/bin/slirp4netns"):
        raise Unavailable("slirp4netns not installed")
    for key, label, lo, dest in SLIRP_CONFIGS:
        env = Env()
        try:
            host = peer_host(env)
            guest = env.netns("g" + key)
            p = bg(env, key, ["slirp4netns", "--configure", "--mtu=65520"] +
                   ([] if lo else ["--disable-host-loopback"]) +
                   ["--netns-type=path", "/run/netns/" + guest, "tap0"],
                   ns=host)
            peer_guest_up(env, p, guest, key)
            res[key + "_mtu"] = tap_mtu(guest)
            iperf_both(res, key, guest, SLIRP_HOST_LO if lo else
                       PEER_HOST_IP, label + " " + dest)
        finally:
            env.close()


# The kernel bridge baseline (issue #17): what a Linux user isolating VMs
# without softnet runs, libvirt's default network with the clean-traffic
# filter done in nftables. Guests are namespaces whose eth0 is a veth
# (MTU 1500, GSO/TSO on) enslaved to br0 in a host namespace that holds the
# gateway address and routes to ext, as softnet's host does.
BR_MAC = "02:00:00:00:0d:fe"
BR_GUESTS = (("bg0", "02:00:00:00:0d:01", "192.168.105.10"),
             ("bg1", "02:00:00:00:0d:02", "192.168.105.11"))
BR_SPOOF_PORT = 9
BR_ARP_SPOOF_IP = "192.168.105.77"  # nobody's: an ARP claim must not land

# Per port, as clean-traffic's parts do: no-mac-spoofing, no-ip-spoofing,
# no-arp-spoofing (Ethernet/IPv4 ARP only, sender MAC and IP the port's),
# no-other-l2-traffic, and toward the port only IPv4 and ARP.
BR_PORT_RULES = """
    chain from_%(port)s {
        ether saddr != %(mac)s drop
        arp htype != 1 drop
        arp ptype != ip drop
        arp hlen != 6 drop
        arp plen != 4 drop
        arp saddr ether != %(mac)s drop
        arp saddr ip != %(ip)s drop
        ether type arp accept
        ip saddr != %(ip)s drop
        ether type ip accept
        drop
    }
    chain to_%(port)s {
        ether type { ip, arp } accept
        drop
    }
"""

BR_SPOOFER = r"""
import logging, sys
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import ARP, IP, UDP, Ether, sendp
mac, ip, other_ip, brmac, ext, port, arp_ip = sys.argv[1:8]
FOREIGN = "02:00:00:00:0d:99"
port = int(port)
def udp(src_mac, src_ip, tag):
    return (Ether(src=src_mac, dst=brmac) / IP(src=src_ip, dst=ext) /
            UDP(sport=40000, dport=port) / tag.encode())
def arp(src_mac, hwsrc, psrc):
    return Ether(src=src_mac, dst="ff:ff:ff:ff:ff:ff") / ARP(
        op=1, hwsrc=hwsrc, psrc=psrc, pdst=sys.argv[8])
# Each spoof before an honest frame on the same path: once that arrived,
# a spoof that got through has arrived too. The ARP claim of the port's
# own address for another MAC comes after the honest ARP, which it would
# override in the host's neighbour table.
sendp([udp(mac, other_ip, "spoof-ip"),
       udp(FOREIGN, ip, "spoof-mac"),
       arp(mac, mac, arp_ip),
       udp(mac, ip, "honest"),
       arp(mac, mac, ip),
       arp(mac, FOREIGN, ip),
       udp(mac, ip, "honest-last")], iface="eth0", verbose=0)
"""


def br_ruleset(ports):
    """The nft ruleset for the bridge's ports [(port, mac, ip)]."""
    pre = "".join('        iifname "%s" jump from_%s\n' % (p, p)
                  for p, _, _ in ports)
    out = "".join('        oifname "%s" jump to_%s\n' % (p, p)
                  for p, _, _ in ports)
    chains = "".join(BR_PORT_RULES % {"port": p, "mac": m, "ip": i}
                     for p, m, i in ports)
    return ("table bridge clean_traffic {\n"
            "    chain ports_in {\n"
            "        type filter hook prerouting priority -200; "
            "policy accept;\n" + pre + "    }\n"
            "    chain ports_forward {\n"
            "        type filter hook forward priority -200; "
            "policy accept;\n" + out + "    }\n"
            "    chain ports_output {\n"
            "        type filter hook output priority -200; "
            "policy accept;\n" + out + "    }\n" + chains + "}\n")


def ext_namespace(env, host):
    """ext (EXT_IP on its lo) behind a veth from host, which forwards: the
    Topology's ext without a softnetd."""
    ext = env.netns("ext")
    run(["ip", "link", "add", "hx0", "netns", host, "type", "veth", "peer",
         "name", "xh0", "netns", ext])
    nsrun(host, ["ip", "addr", "add", harness.EXT_LINK_HOST + "/24", "dev",
                 "hx0"])
    nsrun(host, ["ip", "link", "set", "hx0", "up"])
    nsrun(host, ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
    nsrun(host, ["ip", "route", "add", EXT_IP + "/32", "via",
                 harness.EXT_LINK_EXT])
    nsrun(ext, ["ip", "addr", "add", harness.EXT_LINK_EXT + "/24", "dev",
                "xh0"])
    nsrun(ext, ["ip", "addr", "add", EXT_IP + "/32", "dev", "lo"])
    nsrun(ext, ["ip", "link", "set", "xh0", "up"])
    nsrun(ext, ["ip", "route", "add", "default", "via",
                harness.EXT_LINK_HOST])
    return ext


def br_check_spoof(env, host, ext, guest):
    """Sends spoofed frames from guest (another port's IP, a foreign MAC,
    ARP claims for an address not its own) and honest ones after them;
    raises unless the honest ones arrive and no spoof does. Run once per
    bench: a baseline that lets spoofs through measures another thing."""
    sink = harness.udp_sink(env, ext, BR_SPOOF_PORT)
    (_, mac, ip), (_, _, other_ip) = BR_GUESTS[0], BR_GUESTS[1]
    nsrun(guest, [harness.PYTHON, "-c", BR_SPOOFER, mac, ip, other_ip,
                  BR_MAC, EXT_IP, str(BR_SPOOF_PORT), BR_ARP_SPOOF_IP,
                  harness.GATEWAY], timeout=60)

    def neigh(addr):
        return nsrun(host, ["ip", "neigh", "show", addr, "dev",
                            "br0"]).stdout.strip()
    honest = ["%s honest" % ip, "%s honest-last" % ip]
    try:
        wait_for(lambda: set(honest) <= set(harness.read_lines(sink)) and
                 neigh(ip), timeout=10,
                 what="the honest frames through the bridge")
    except AssertionError:
        raise RuntimeError("bridge baseline: honest frames from %s did not "
                           "arrive (udp sink: %s; host neigh: %r)" % (
                               ip, harness.read_lines(sink), neigh(ip)))
    time.sleep(0.2)
    got = [l for l in harness.read_lines(sink) if "spoof" in l]
    if got or neigh(BR_ARP_SPOOF_IP) or \
            neigh(ip).split()[2:3] != [mac]:
        raise RuntimeError(
            "bridge baseline: THE ANTI-SPOOFING RULES LET A SPOOF THROUGH: "
            "ext got %r; host neighbours: %s %r, %s %r (should be %s)" % (
                got, BR_ARP_SPOOF_IP, neigh(BR_ARP_SPOOF_IP), ip,
                neigh(ip), mac))
    return "ext got the honest datagrams and neither spoofed one (another " \
        "port's IP, a foreign MAC); the host learnt %s at its MAC and took " \
        "no ARP claim for %s nor %s's claim for another MAC" % (
            ip, BR_ARP_SPOOF_IP, ip)


def bench_bridge(res):
    """Row 1b: guests on a kernel bridge with per-port anti-spoofing in
    nftables (the clean-traffic shape) to ext; checked once against
    spoofed frames, then TCP both ways and ping RTT."""
    if not os.access("/usr/sbin/nft", os.X_OK):
        raise Unavailable("nft missing (Debian package nftables)")
    env = Env()
    try:
        host = env.netns("brhost")
        ext = ext_namespace(env, host)
        nsrun(host, ["ip", "link", "add", "br0", "address", BR_MAC, "type",
                     "bridge"])
        nsrun(host, ["ip", "addr", "add", harness.GATEWAY + "/24", "dev",
                     "br0"])
        nsrun(host, ["ip", "link", "set", "br0", "up"])
        ports, guests = [], []
        for i, (name, mac, ip) in enumerate(BR_GUESTS):
            g = env.netns(name)
            port = "bp%d" % i
            run(["ip", "link", "add", port, "netns", host, "type", "veth",
                 "peer", "name", "eth0", "netns", g])
            nsrun(host, ["ip", "link", "set", port, "master", "br0", "up"])
            nsrun(g, ["ip", "link", "set", "eth0", "address", mac, "up"])
            nsrun(g, ["ip", "addr", "add", ip + "/24", "dev", "eth0"])
            nsrun(g, ["ip", "route", "add", "default", "via",
                      harness.GATEWAY])
            ports.append((port, mac, ip))
            guests.append(g)
        rules = env.path("clean_traffic.nft")
        with open(rules, "w") as f:
            f.write(br_ruleset(ports))
        nsrun(host, ["nft", "-f", rules])
        res["br_check"] = br_check_spoof(env, host, ext, guests[0])
        log("  anti-spoofing: " + res["br_check"])
        iperf_server(env, ext)
        iperf_both(res, "br", guests[0], EXT_IP, "kernel bridge + nft")
        res["br_rtt"] = ping_median(guests[0], EXT_IP)
    finally:
        env.close()


def bench_softnet_tap(res):
    """Rows 3, 5, 6: TAP guests through softnetd to ext."""
    env = Env()
    try:
        t = Topology(env)
        guests = []
        for i in range(4):
            g = t.guest("tg%d" % i, "02:00:00:00:0a:%02x" % (i + 1))
            g.dhcp()
            guests.append(g)
        for i in range(4):
            iperf_server(env, t.ext, IPERF_PORT + i)
        g = guests[0]
        iperf_both(res, "tap", g.ns, EXT_IP, "softnet tap")
        res["tap_rtt"] = ping_median(g.ns, EXT_IP)
        rtt_diagnostics(res, "tap", g.ns, EXT_IP, t.daemon.proc.pid)
        # The machine's cost of waking a process idle as long as the ping
        # interval: paid twice per round trip by any user-space relay.
        r = run([os.path.join(BENCH_BIN, "bench_wake"), "10000", str(PINGS)],
                timeout=60)
        res["wake_ms"] = float(kv(r.stdout)["wake_median_us"]) / 1000
        pairs = [(g.ns, EXT_IP, IPERF_PORT + i) for i, g in enumerate(guests)]
        for rev, key in ((False, "tap4_up"), (True, "tap4_down")):
            xs = [iperf_parallel(pairs, rev, "4 tap guests")
                  for _ in range(RUNS)]
            log("  4 tap guests %s: %s Gbit/s" % (
                "down" if rev else "up", " ".join("%.2f" % x for x in xs)))
            put_runs(res, key, xs)
        drops = {}
        for g in guests:
            st = t.stats(g.name)
            for k, v in st.get("drops", {}).items():
                if v:
                    drops[k] = drops.get(k, 0) + v
        res["tap_drops"] = drops
    finally:
        env.close()


def bench_softnet_capture(res):
    """Row 3c: one TAP guest to ext while softnetctl captures it (a
    reader that keeps up: -w /dev/null), and what the capture dropped."""
    env = Env()
    try:
        t = Topology(env)
        g = t.guest("cg", "02:00:00:00:0c:01")
        g.dhcp()
        iperf_server(env, t.ext)
        cap = bg(env, "capture", [SOFTNETCTL, "-s", t.daemon.sock,
                                  "capture", "cg", "-w", "/dev/null"])
        wait_for(lambda: t.daemon.ctl_json("status")["captures"]
                 ["running"] == 1, what="the capture to start")
        iperf_both(res, "cap", g.ns, EXT_IP, "tap + capture")
        st = t.stats("cg")
        res["cap_drops"] = st.get("capture_drops")
        res["cap_frames"] = st["tx_frames"] + st["rx_frames"]
        if cap.poll() is not None:
            raise Unavailable("softnetctl capture ended early: %s" %
                              logtail(env, "capture"))
    finally:
        env.close()


# A scraper inside the daemon's namespace: GET /metrics once a second
# until killed; prints the number of good scrapes on each.
METRICS_SCRAPER = r"""
import socket, sys, time
n = 0
while True:
    s = socket.create_connection(("127.0.0.1", 9419), timeout=5)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n")
    d = b""
    while True:
        c = s.recv(65536)
        if not c:
            break
        d += c
    s.close()
    n += d.startswith(b"HTTP/1.1 200 ")
    print(n, flush=True)
    time.sleep(1)
"""


def bench_metrics(res):
    """Row 3m (issue #16): a TAP guest to ext with metrics on, runs taking
    turns with the scraper stopped (SIGSTOP) and scraping once a second,
    in the same topology: the pair shows what scraping costs the fast
    path, apart from the machine's noise between sections."""
    env = Env()
    try:
        # per_vm: the scrape renders the per-VM series too, as a fleet's.
        t = Topology(env, {"metrics": {"listen": "127.0.0.1:9419",
                                       "per_vm": True}})
        g = t.guest("mg0", "02:00:00:00:0a:21")
        g.dhcp()
        iperf_server(env, t.ext)
        scraper = bg(env, "scraper",
                     [harness.PYTHON, "-c", METRICS_SCRAPER], ns=t.host)
        for rev, d in ((False, "up"), (True, "down")):
            on, off = [], []
            for _ in range(RUNS):
                os.killpg(scraper.pid, signal.SIGSTOP)
                off.append(iperf_once(g.ns, EXT_IP, IPERF_PORT, rev,
                                      "metrics, no scrape"))
                os.killpg(scraper.pid, signal.SIGCONT)
                on.append(iperf_once(g.ns, EXT_IP, IPERF_PORT, rev,
                                     "metrics, scraped"))
            log("  tap %s, metrics on: no scrape %s, scraped 1/s %s Gbit/s"
                % (d, " ".join("%.2f" % x for x in off),
                   " ".join("%.2f" % x for x in on)))
            put_runs(res, "metrics_off_tap_" + d, off)
            put_runs(res, "metrics_tap_" + d, on)
        if scraper.poll() is not None:
            raise Unavailable("the scraper failed: %s" %
                              logtail(env, "scraper"))
        log("  scrapes: %s" % logtail(env, "scraper", 1))
    finally:
        env.close()


def bench_softnet_sock(res, no_batch):
    """Row 4: a socketpair guest (tapbridge), batched or with -B."""
    key = "sockB" if no_batch else "sock"
    env = Env()
    try:
        t = Topology(env)
        if no_batch:
            t.daemon.stop()
            t.daemon.start(extra=["-B"])
        g = Guest(env, "sp", "02:00:00:00:0b:01")
        start_bridged(env, g, [SOFTNETCTL, "-s", t.daemon.sock, "exec",
                               "--mac", g.mac, "--name", "sp", "--"])
        wait_for(lambda: len(t.daemon.ctl_json("list")) == 1,
                 what="exec to attach")
        g.dhcp()
        iperf_server(env, t.ext)
        what = "softnet socketpair" + (" -B" if no_batch else "")
        iperf_both(res, key, g.ns, EXT_IP, what)
        if not no_batch:
            res["sock_rtt"] = ping_median(g.ns, EXT_IP)
    finally:
        env.close()


IDLE_SECONDS = 10
IDLE_CPU_TARGET = 0.5  # per cent of one core


def ctx_switches(pid):
    """Voluntary + nonvoluntary context switches of all of pid's threads
    (/proc/PID/status counts only the thread it names)."""
    n = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches:",
                                        "nonvoluntary_ctxt_switches:")):
                        n += int(line.split()[1])
        except OSError:
            pass  # a thread that ended meanwhile
    return n


def run_ns(pid):
    """Nanoseconds all of pid's threads spent on a CPU (schedstat's first
    field): a finer clock than stat's ticks; None without schedstats."""
    n = 0
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                n += int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return n


def bench_idle(res):
    """Row 12: what an idle softnetd costs the host: 4 VMs attached (2 TAP
    guests, 2 socket-pair guests through tapbridge), all leased, no
    traffic, for IDLE_SECONDS: CPU (utime + stime from /proc/PID/stat) and
    wakeups (context switches) per second."""
    env = Env()
    try:
        t = Topology(env)
        guests = []
        for i in range(4):
            mac = "02:00:00:00:0e:%02x" % (i + 1)
            if i < 2:
                g = t.guest("it%d" % i, mac)
            else:
                g = Guest(env, "ip%d" % i, mac)
                g.attach_pair(t.daemon)
            g.dhcp()
            guests.append(g)
        # What the guests' kernels still say after their lease (IPv6
        # router solicitations, MLD reports) dies down first.
        time.sleep(2)
        pid = t.daemon.proc.pid

        def frames():
            n = 0
            for g in guests:
                st = t.stats(g.name)
                n += st.get("tx_frames", 0) + st.get("rx_frames", 0)
            return n
        f0 = frames()
        r0 = run_ns(pid)
        c0, w0, t0 = cpu_ticks(pid), ctx_switches(pid), time.monotonic()
        time.sleep(IDLE_SECONDS)
        c1, w1, t1 = cpu_ticks(pid), ctx_switches(pid), time.monotonic()
        r1 = run_ns(pid)
        f1 = frames()
        dt = t1 - t0
        res["idle_cpu_pct"] = 100.0 * (c1 - c0) / \
            os.sysconf("SC_CLK_TCK") / dt
        res["idle_wakeups"] = (w1 - w0) / dt
        # The stats requests above are control traffic of their own: only
        # the ones inside the window would count, and there are none.
        res["idle_frames"] = f1 - f0
        res["idle_secs"] = dt
        if r0 is not None and r1 is not None:
            res["idle_run_pct"] = 100.0 * (r1 - r0) / 1e9 / dt
        log("  idle %.1f s: %d ticks, %d context switches, %d VM frames" %
            (dt, c1 - c0, w1 - w0, f1 - f0))
    finally:
        env.close()


def kv(out):
    d = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2:
            d[parts[0]] = parts[1]
    return d


def bench_micro(res):
    """Row 7: the C micro-benchmarks."""
    r = run([os.path.join(BENCH_BIN, "bench_filter"), "20000000"],
            timeout=300)
    xs = [float(kv(r.stdout)["ns_per_frame"])]
    for _ in range(RUNS - 1):
        xs.append(float(kv(run([os.path.join(BENCH_BIN, "bench_filter"),
                                "20000000"], timeout=300).stdout)
                        ["ns_per_frame"]))
    put_runs(res, "filter_ns", xs)
    secs = str(max(1, min(5, SECONDS // 2)))
    env = Env()
    try:
        # The real TAP uplink is created in a namespace of our own.
        ns = env.netns("fwd")
        # "" is the switch, "B" the switch without batching, "k" the
        # switch's system calls alone: the kernel's ceiling on this core.
        # The three modes take turns, run after run, so that a slow spell
        # of this shared machine falls on all of them alike.
        for tap in (False, True):
            xs = {"": [], "B": [], "k": []}
            for _ in range(RUNS):
                for mode in ("", "B", "k"):
                    cmd = [os.path.join(BENCH_BIN, "bench_forward"), "-s",
                           secs] + (["-t"] if tap else []) + \
                          (["-" + mode] if mode else [])
                    xs[mode].append(float(kv(nsrun(
                        ns, cmd, timeout=120).stdout)["mpps"]))
            for mode, v in xs.items():
                k = "fwd_%s%s" % ("tap" if tap else "none",
                                  "_" + mode if mode else "")
                log("  %s: %s Mpps" % (k, " ".join("%.3f" % x for x in v)))
                put_runs(res, k, v)
    finally:
        env.close()


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise Unavailable("no VmRSS for pid %d" % pid)


def ip_csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def dhcp_frame(mac, xid, msgtype, requested=None, server=None):
    """A DHCP client message from mac as a whole Ethernet frame."""
    opts = bytes([53, 1, msgtype])
    if requested is not None:
        opts += bytes([50, 4]) + socket.inet_aton(requested)
    if server is not None:
        opts += bytes([54, 4]) + socket.inet_aton(server)
    opts += b"\xff"
    bootp = struct.pack("!BBBBIHH4s4s4s4s16s64s128sI", 1, 1, 6, 0, xid, 0,
                        0x8000, b"\0" * 4, b"\0" * 4, b"\0" * 4, b"\0" * 4,
                        mac + b"\0" * 10, b"", b"", 0x63825363) + opts
    bootp += b"\0" * max(0, 300 - len(bootp))
    udp = struct.pack("!HHHH", 68, 67, 8 + len(bootp), 0) + bootp
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17,
                     0, b"\0" * 4, b"\xff" * 4)
    ip = ip[:10] + struct.pack("!H", ip_csum(ip)) + ip[12:]
    return b"\xff" * 6 + mac + b"\x08\x00" + ip + udp


def dhcp_reply(frame):
    """(message type, yiaddr, server id) of a DHCP reply frame, or None."""
    if len(frame) < 14 + 20 + 8 + 240:
        return None
    ihl = (frame[14] & 15) * 4
    bootp = frame[14 + ihl + 8:]
    if len(bootp) < 240 or bootp[0] != 2:
        return None
    yiaddr = socket.inet_ntoa(bootp[16:20])
    i, mtype, server = 240, None, None
    while i < len(bootp) and bootp[i] != 255:
        if bootp[i] == 0:
            i += 1
            continue
        if i + 1 >= len(bootp):
            break
        code, n = bootp[i], bootp[i + 1]
        v = bootp[i + 2:i + 2 + n]
        if code == 53 and n == 1:
            mtype = v[0]
        elif code == 54 and n == 4:
            server = socket.inet_ntoa(v)
        i += 2 + n
    return mtype, yiaddr, server


def bench_scale(res):
    """Row 8: 1000 socketpair VMs on one daemon."""
    env = Env()
    vms = []
    try:
        host = env.netns("scale")
        d = Daemon(env, host, {
            "max_vms": 2048,
            "uplink": {"gateway": "10.100.0.1", "netmask": "255.255.248.0",
                       "pool_start": "10.100.0.10",
                       "pool_end": "10.100.7.250"}}).start()
        c = Client(d.sock)
        time.sleep(0.2)
        rss0 = vm_rss_kib(d.proc.pid)
        lat = []
        for i in range(SCALE_VMS + SCALE_EXTRA):
            if i == SCALE_VMS:
                time.sleep(0.2)
                rss1 = vm_rss_kib(d.proc.pid)
            a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
            mac = bytes([2, 0xbe, 0, 0, i >> 8, i & 255])
            req = {"op": "attach", "name": "s%d" % i,
                   "mac": ":".join("%02x" % x for x in mac)}
            t0 = time.perf_counter()
            r = c.call(req, fd=a.fileno())
            lat.append((time.perf_counter() - t0) * 1e3)
            a.close()
            if not r.get("ok"):
                b.close()
                raise Unavailable("attach %d: %s" % (i, r.get("error")))
            b.settimeout(10)
            vms.append((mac, b))
        first = lat[:SCALE_VMS]
        extra = lat[SCALE_VMS:]
        res["attach_p50"] = percentile(first, 50)
        res["attach_p99"] = percentile(first, 99)
        res["attach_full_p50"] = percentile(extra, 50)
        res["attach_full_p99"] = percentile(extra, 99)
        res["rss_per_vm"] = (rss1 - rss0) / float(SCALE_VMS)
        res["rss0"] = rss0
        log("  attach p50 %.3f p99 %.3f ms; +%d with %d attached: p99 %.3f"
            " ms; RSS %d -> %d KiB" % (res["attach_p50"], res["attach_p99"],
                                       SCALE_EXTRA, SCALE_VMS,
                                       res["attach_full_p99"], rss0, rss1))

        # DHCP: DISCOVER from every VM, then REQUEST for each OFFER as it is
        # read, then every ACK; leases per second over the whole exchange.
        clients = vms[:SCALE_VMS]
        t0 = time.perf_counter()
        for i, (mac, s) in enumerate(clients):
            s.send(dhcp_frame(mac, 0x5000 + i, 1))
        offers = 0
        for i, (mac, s) in enumerate(clients):
            try:
                rep = dhcp_reply(s.recv(65536))
            except socket.timeout:
                continue
            if rep is None or rep[0] != 2:
                continue
            offers += 1
            s.send(dhcp_frame(mac, 0x5000 + i, 3, rep[1], rep[2]))
        acks = 0
        for mac, s in clients:
            try:
                rep = dhcp_reply(s.recv(65536))
            except socket.timeout:
                continue
            if rep is not None and rep[0] == 5:
                acks += 1
        dt = time.perf_counter() - t0
        res["leases_per_s"] = acks / dt
        log("  DHCP: %d offers, %d acks in %.3f s" % (offers, acks, dt))
        if acks < SCALE_VMS:
            res["dhcp_note"] = "%d of %d clients got an ACK" % (acks,
                                                                 SCALE_VMS)
        c.close()
    finally:
        for _, s in vms:
            s.close()
        env.close()


def proc_write_bytes(pid):
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    raise Unavailable("no write_bytes for pid %d" % pid)


def bench_tenancy(res):
    """Row 9: a DHCP flood next to a quiet VM; leases at 100k rows."""
    from test_tenancy import DISCOVER_FLOOD
    env = Env()
    try:
        t = Topology(env)
        bad = t.guest("flood", "02:00:00:00:09:01")
        good = t.guest("quiet", "02:00:00:00:09:02")
        good.dhcp()
        pid = t.daemon.proc.pid
        res["flood_rtt_idle"] = ping_median(good.ns, harness.GATEWAY)
        secs = PINGS * 0.01 + 6
        flood = env.popen(
            ["ip", "netns", "exec", bad.ns, harness.PYTHON, "-c",
             "import logging\n"
             "logging.getLogger('scapy.runtime').setLevel(logging.ERROR)\n"
             "from scapy.all import *\nconf.verb=0\n" +
             DISCOVER_FLOOD % {"secs": secs}], stdout=subprocess.PIPE,
            text=True)
        time.sleep(1.0)
        w0, t0 = proc_write_bytes(pid), time.monotonic()
        res["flood_rtt"] = ping_median(good.ns, harness.GATEWAY)
        res["flood_write_mbs"] = (proc_write_bytes(pid) - w0) / 1e6 / \
            (time.monotonic() - t0)
        sent = flood.communicate(timeout=secs + 30)[0].split()
        res["flood_sent"] = int(sent[-1]) / secs if sent else None
        log("  DHCP flood %s msg/s: RTT %.3f ms (idle %.3f), %.3f MB/s "
            "written" % (res["flood_sent"], res["flood_rtt"],
                         res["flood_rtt_idle"], res["flood_write_mbs"]))
    finally:
        env.close()
    env = Env()
    try:
        import sqlite3
        host = env.netns("leases")
        d = Daemon(env, host).start()
        d.stop()
        db = sqlite3.connect(d.db)
        db.executemany(
            "INSERT INTO leases (mac, state, owner, granted) "
            "VALUES (?, 'released', ?, ?)",
            (("02:99:%02x:%02x:%02x:%02x" % (i >> 24, (i >> 16) & 255,
                                             (i >> 8) & 255, i & 255),
              i % 7, int(time.time())) for i in range(100000)))
        db.commit()
        db.close()
        d.start()
        c = Client(d.sock)
        lat, after = [], None
        while True:
            req = {"op": "leases"}
            if after:
                req["after"] = after
            t0 = time.perf_counter()
            r = c.call(req)
            lat.append((time.perf_counter() - t0) * 1e3)
            if not r.get("ok"):
                raise Unavailable("leases: %s" % r.get("error"))
            after = r.get("next")
            if not after:
                break
        c.close()
        res["leases_call_p50"] = percentile(lat, 50)
        res["leases_call_max"] = max(lat)
        t0 = time.perf_counter()
        d.ctl("--json", "leases")
        res["leases_all_s"] = time.perf_counter() - t0
        log("  leases at 100k rows: %d pages, p50 %.2f ms, max %.2f ms; "
            "softnetctl leases %.2f s" % (len(lat), res["leases_call_p50"],
                                         res["leases_call_max"],
                                         res["leases_all_s"]))
    finally:
        env.close()


# Row 11 (issue #14): Kea's perfdhcp against softnetd through the relay shim
# tests/tools/dhcprelay.c, beside dnsmasq serving the same pool to the same
# perfdhcp, and beside the shim answering by itself (its ceiling). perfdhcp
# runs in a client namespace as a relay agent (unicast to the server
# address, giaddr = its own), over a veth into a server namespace where the
# shim or dnsmasq listens on port 67; softnetd sits in a third namespace,
# reached only through the socket pairs the shim holds.
PERFDHCP = "/usr/sbin/perfdhcp"
DNSMASQ = "/usr/sbin/dnsmasq"
DHCPRELAY = os.path.join(harness.TOOLS_BUILD, "tests", "tools", "dhcprelay")
PD_CLIENTS = 1000
PD_BASE_MAC = "02:be:00:00:00:00"  # perfdhcp -b; dhcprelay port i = +i
PD_SERVER, PD_RELAY = "10.100.0.1", "10.100.0.2"
PD_POOL = ("10.100.0.10", "10.100.7.250", "255.255.248.0")
PD_FD0 = 4096  # the shim's ports: fds PD_FD0 .. PD_FD0 + PD_CLIENTS - 1
# Offered DORA rates: from PD_RATE_LAT (which all of them keep up with:
# the delay rows), doubled run after run until a server completes less
# than PD_SATURATED of what is offered or PD_RATE_MAX is passed; its
# leases/s is the best rate of those runs. Overloading a server at once
# would measure its backlog instead: softnetd's 1000 port sockets queue
# requests until perfdhcp has given them up (after 1 s), so its goodput
# collapses, while dnsmasq's one socket overflows and stays fresh.
PD_RATE_LAT = 200
PD_RATE_MAX = int(os.environ.get("BENCH_DHCP_RATE", "12800"))
PD_SATURATED = 0.9
# softnetd's per-VM DHCP limit (4/s, burst 8) would refuse perfdhcp, which
# sends each client several DORAs a second: raised to the config maximum.
PD_DHCP_LIMIT = 1000


def perfdhcp_parse(out):
    """{rate, do_*, ra_*} from perfdhcp's final report (sent, received,
    drops, avg delay in ms for DISCOVER-OFFER and REQUEST-ACK)."""
    d, sec = {}, None
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Rate:"):
            d["rate"] = float(line.split()[1])
        elif "DISCOVER-OFFER" in line:
            sec = "do"
        elif "REQUEST-ACK" in line:
            sec = "ra"
        elif sec and ":" in line:
            k, v = line.split(":", 1)
            k = k.strip().replace(" ", "_")
            if k in ("sent_packets", "received_packets", "drops"):
                d["%s_%s" % (sec, k)] = int(v.split()[0])
            elif k == "avg_delay":
                d["%s_avg_ms" % sec] = float(v.split()[0])
    return d


def perfdhcp_secs():
    return max(2, min(SECONDS // 2, 5))


def perfdhcp_run(ns, rate, what):
    """One perfdhcp run at rate DORA/s; its parsed report. Raises
    Unavailable unless it got leases."""
    secs = perfdhcp_secs()
    cmd = [PERFDHCP, "-4", "-l", PD_RELAY, "-r", str(rate), "-R",
           str(PD_CLIENTS), "-b", "mac=" + PD_BASE_MAC, "-p", str(secs),
           PD_SERVER]
    r = nsrun(ns, cmd, check=False, timeout=secs + 60)
    d = perfdhcp_parse(r.stdout)
    # Exit 3: some exchanges did not complete, which an overload run
    # expects; 1 and 2 are errors.
    if r.returncode not in (0, 3) or not d.get("ra_received_packets") or \
            not d.get("rate"):
        last = (r.stderr.strip() or r.stdout.strip() or "no output")
        raise Unavailable("%s: perfdhcp got no leases (exit %d): %s" % (
            what, r.returncode, last.splitlines()[-1]))
    return d


def relay_start(env, ns, echo):
    """Starts the shim on PD_SERVER:67: over the attached ports, or with
    echo over its own trivial responder."""
    cmd = [DHCPRELAY, "-a", PD_SERVER, "-m", PD_BASE_MAC, "-n",
           str(PD_CLIENTS)]
    kw = {}
    if echo:
        cmd.insert(1, "-e")
    else:
        cmd[1:1] = ["-f", str(PD_FD0)]
        kw["pass_fds"] = range(PD_FD0, PD_FD0 + PD_CLIENTS)
    p = env.popen(["ip", "netns", "exec", ns] + cmd, text=True, **kw)
    line = p.stdout.readline().strip()
    if line != "ready":
        p.wait(timeout=10)
        raise Unavailable("dhcprelay did not start: %s" % p.stderr.read())
    return p


def relay_stop(p, what):
    """Stops the shim; its counters, or Unavailable when it relayed no ACK
    (it exits 1 and says so)."""
    p.terminate()  # SIGTERM
    out, err = p.communicate(timeout=30)
    if p.returncode != 0:
        raise Unavailable("%s: dhcprelay exit %s: %s" % (
            what, p.returncode, err.strip()))
    c = {k: int(v) for k, v in kv(out).items()}
    if c.get("unknown_mac"):
        raise Unavailable("%s: %d requests for MACs the shim has no port "
                          "for (perfdhcp's MAC rule changed?)" %
                          (what, c["unknown_mac"]))
    return c


def dnsmasq_start(env, ns, leases):
    """dnsmasq serving PD_POOL on the server namespace's veth: no DNS, no
    ping before an offer (softnetd does none), leases in the file leases
    (on tmpfs: dnsmasq fsyncs it after every change, which softnetd's
    sqlite, WAL with synchronous=NORMAL, does not), or in memory only when
    leases is None."""
    lo, hi, mask = PD_POOL
    p = bg(env, "dnsmasq", [
        DNSMASQ, "-k", "--conf-file=/dev/null", "--port=0", "--user=root",
        "--pid-file=", "--no-ping", "--quiet-dhcp", "--log-facility=-",
        "--interface=pd1", "--bind-interfaces",
        "--dhcp-range=%s,%s,%s,10m" % (lo, hi, mask),
        "--dhcp-lease-max=%d" % (4 * PD_CLIENTS),
        "--dhcp-leasefile=" + leases if leases else "--leasefile-ro"],
       ns=ns)
    try:
        wait_for(lambda: p.poll() is None and nsrun(
            ns, ["ss", "-Hlun", "sport = :67"]).stdout.strip(), timeout=10,
            what="dnsmasq on port 67")
    except AssertionError:
        raise Unavailable("dnsmasq did not come up: %s" %
                          logtail(env, "dnsmasq"))
    return p


def dnsmasq_stop(p):
    p.terminate()
    p.wait(timeout=10)
    p.logfile.close()


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        w = f.read().rsplit(")", 1)[1].split()
    return int(w[11]) + int(w[12])  # utime + stime


def settle(pid, socks):
    """Waits until softnetd has worked off what the last run queued in its
    ports (its CPU time stops growing), then discards the replies nobody
    relayed, so that no run starts in the previous one's backlog."""
    last, deadline = -1, time.monotonic() + 60
    while time.monotonic() < deadline:
        t = cpu_ticks(pid)
        if t == last:
            break
        last = t
        time.sleep(0.3)
    for s in socks:
        try:
            while s.recv(65536, socket.MSG_DONTWAIT):
                pass
        except OSError:
            pass


def bench_perfdhcp(res):
    """Row 11: perfdhcp's DORA rate and latency, softnetd through the shim,
    dnsmasq, and the shim alone, taking turns run after run."""
    for f in (PERFDHCP, DNSMASQ, DHCPRELAY):
        if not os.access(f, os.X_OK):
            raise Unavailable("%s missing (make bench installs kea-admin "
                              "and dnsmasq-base, builds dhcprelay)" % f)
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < PD_FD0 + PD_CLIENTS:
        raise Unavailable("needs %d descriptors (ulimit -n)" %
                          (PD_FD0 + PD_CLIENTS))
    env = Env()
    vms = []
    leases = "/dev/shm/%sdnsmasq.leases" % PREFIX
    try:
        host = env.netns("pdd")
        srv = env.netns("pds")
        cli = env.netns("pdc")
        run(["ip", "link", "add", "pd1", "netns", srv, "type", "veth",
             "peer", "name", "pd2", "netns", cli])
        nsrun(srv, ["ip", "addr", "add", PD_SERVER + "/21", "dev", "pd1"])
        nsrun(cli, ["ip", "addr", "add", PD_RELAY + "/21", "dev", "pd2"])
        nsrun(srv, ["ip", "link", "set", "pd1", "up"])
        nsrun(cli, ["ip", "link", "set", "pd2", "up"])
        lo, hi, mask = PD_POOL
        d = Daemon(env, host, {
            "max_vms": 2 * PD_CLIENTS,
            "dhcp": {"rate": PD_DHCP_LIMIT, "burst": PD_DHCP_LIMIT},
            "uplink": {"gateway": PD_SERVER, "netmask": mask,
                       "pool_start": lo, "pool_end": hi}}).start()
        c = Client(d.sock)
        base = bytes.fromhex(PD_BASE_MAC.replace(":", ""))
        for i in range(PD_CLIENTS):
            a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
            mac = base[:4] + bytes([i >> 8, i & 255])
            r = c.call({"op": "attach", "name": "pd%d" % i,
                        "mac": ":".join("%02x" % x for x in mac)},
                       fd=a.fileno())
            a.close()
            # Where the shim expects port i; above every fd we hold.
            os.dup2(b.fileno(), PD_FD0 + i)
            b.close()
            vms.append(socket.socket(fileno=PD_FD0 + i))
            if not r.get("ok"):
                raise Unavailable("attach %d: %s" % (i, r.get("error")))
        c.close()

        kinds = ("softnet", "dnsmasq", "dnsmasq-ro", "shim")
        lat = {k: [] for k in kinds}
        best = {k: [] for k in kinds}
        relayed = {}
        for _ in range(RUNS):
            for kind in kinds:
                rate, top = PD_RATE_LAT, (0.0, 0)
                while rate <= PD_RATE_MAX:
                    what = "%s at %d/s" % (kind, rate)
                    if kind.startswith("dnsmasq"):
                        p = dnsmasq_start(env, srv, None if
                                          kind == "dnsmasq-ro" else leases)
                        try:
                            x = perfdhcp_run(cli, rate, what)
                        finally:
                            dnsmasq_stop(p)
                    else:
                        p = relay_start(env, srv, kind == "shim")
                        try:
                            x = perfdhcp_run(cli, rate, what)
                        finally:
                            cnt = relay_stop(p, what)
                        for k, v in cnt.items():
                            relayed.setdefault(kind, {}).setdefault(k, 0)
                            relayed[kind][k] += v
                        if kind == "softnet":
                            settle(d.proc.pid, vms)
                    log("  perfdhcp %s: %.0f leases/s, DO %.3f ms RA %.3f "
                        "ms, drops %d+%d" % (
                            what, x["rate"], x.get("do_avg_ms", -1),
                            x.get("ra_avg_ms", -1), x.get("do_drops", -1),
                            x.get("ra_drops", -1)))
                    if rate == PD_RATE_LAT:
                        lat[kind].append(x)
                    top = max(top, (x["rate"], rate))
                    if x["rate"] < PD_SATURATED * rate:
                        break
                    rate *= 2
                best[kind].append(top)
        for kind in kinds:
            put_runs(res, "pd_%s_rate" % kind, [b[0] for b in best[kind]])
            res["pd_%s_at" % kind] = [b[1] for b in best[kind]]
            ys = lat[kind]
            res["pd_%s_lat" % kind] = median(
                [y.get("do_avg_ms", 0) + y.get("ra_avg_ms", 0) for y in ys])
            res["pd_%s_drops" % kind] = median(
                [(y.get("do_drops", 0) + y.get("ra_drops", 0)) /
                 float(max(1, y.get("do_sent_packets", 0) +
                           y.get("ra_sent_packets", 0))) for y in ys])
        res["pd_relayed"] = relayed
        st = d.ctl_json("status")
        res["pd_rate_limited"] = (st.get("status", st).get("tenancy") or
                                  {}).get("dhcp_rate_limited")
    finally:
        for s in vms:
            s.close()
        env.close()
        if os.path.exists(leases):
            os.unlink(leases)


def perfdhcp_notes(res):
    """What row 11 measured and what the shim costs."""
    if res.get("pd_softnet_rate") is None:
        return []
    drops = ", ".join("%s %.2f%%" % (k, 100 * res["pd_%s_drops" % k])
                      for k in ("softnet", "dnsmasq", "dnsmasq-ro", "shim")
                      if res.get("pd_%s_drops" % k) is not None)
    at = "; ".join("%s %s" % (k, "/".join(str(r) for r in
                                           res["pd_%s_at" % k]))
                   for k in ("softnet", "dnsmasq", "dnsmasq-ro", "shim")
                   if res.get("pd_%s_at" % k))
    notes = ["perfdhcp (Kea %s) as %d clients (-R %d -b mac=%s), %d s "
             "runs, median of %d rounds, the four servers taking turns; "
             "leases/s = perfdhcp's REQUEST-ACK rate, the best of runs "
             "offering %d DORA/s doubled until a server completes less "
             "than %d%% of the offer (or past %d/s; best at, per round: "
             "%s); delay = DISCOVER-OFFER + REQUEST-ACK mean with %d/s "
             "offered, drops there: %s" % (
                 perfdhcp_version(), PD_CLIENTS, PD_CLIENTS, PD_BASE_MAC,
                 perfdhcp_secs(), RUNS, PD_RATE_LAT,
                 int(PD_SATURATED * 100), PD_RATE_MAX, at, PD_RATE_LAT,
                 drops),
             "perfdhcp runs as a relay agent (unicast to the server, "
             "giaddr set) from its namespace over a veth. softnetd answers "
             "a MAC only on its own port, so the shim (tests/tools/"
             "dhcprelay.c) holds %d attached socket-pair ports, one per "
             "perfdhcp MAC, sends each request into its port as that VM's "
             "broadcast frame and relays the reply back: the softnetd row "
             "is the whole path, shim included; the shim with a trivial "
             "responder of its own (no lease state) is the ceiling the "
             "shim and perfdhcp put on it. dnsmasq %s serves the same /21 "
             "pool to the same relayed perfdhcp directly (no shim), "
             "--no-ping (softnetd pings nothing); its lease file (rewritten "
             "whole on every change) is on tmpfs, since dnsmasq fsyncs it "
             "each time and softnetd's sqlite (WAL, synchronous=NORMAL) "
             "does not; 'in memory only' is --leasefile-ro, which keeps "
             "nothing across a restart as softnetd and dnsmasq's file do" % (
                 PD_CLIENTS, dnsmasq_version()),
             "softnetd config for row 11: dhcp.rate = dhcp.burst = %d per "
             "VM (default 4/s, burst 8; perfdhcp gives each client several "
             "DORAs a second); DHCP messages refused by the limit: %s" % (
                 PD_DHCP_LIMIT, res.get("pd_rate_limited"))]
    rel = res.get("pd_relayed", {}).get("softnet")
    if rel:
        notes.append("shim counters, softnetd runs: %s" % json.dumps(
            rel, sort_keys=True))
    return notes


def perfdhcp_version():
    r = run([PERFDHCP, "-v"], check=False)
    return ((r.stdout.strip() or r.stderr.strip() or "?").split() or
            ["?"])[-1]


def dnsmasq_version():
    r = run([DNSMASQ, "--version"], check=False)
    w = r.stdout.split()
    return w[2] if len(w) > 2 else "?"


# The vmnet rows (issue #12): softnetd built for "macOS" over the fake
# vmnet.framework and XNU's datagram-socket rules (tests/fakes, make
# vmnet-build), beside the Linux build, both in this run. Its vmnet0 TAP
# sits in the same host namespace as the TAP build's softnet0, so it takes
# a subnet of its own.
VMNET_BUILD = os.environ.get("SOFTNET_VMNET_BUILD",
                             os.path.join(BUILD, "vmnet"))
VMNET_UPLINK = {"gateway": "192.168.106.1", "netmask": "255.255.255.0",
                "pool_start": "192.168.106.2", "pool_end": "192.168.106.254"}


class vmnet_build:
    """Within it, harness builds daemons and clients from the fake-vmnet
    build with a vmnet uplink (what SOFTNET_UPLINK=vmnet does for a whole
    e2e run); tapbridge stays the Linux build's."""

    NAMES = {"VMNET": True, "UPLINK_IF": "vmnet0",
             "SOFTNETD": os.path.join(VMNET_BUILD, "softnetd"),
             "SOFTNETCTL": os.path.join(VMNET_BUILD, "softnetctl"),
             "SOFTNET": os.path.join(VMNET_BUILD, "softnet")}

    def __enter__(self):
        self.saved = {k: getattr(harness, k) for k in self.NAMES}
        for k, v in self.NAMES.items():
            setattr(harness, k, v)

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            setattr(harness, k, v)
        return False


def read_trace(path):
    """A fake's trace file (`key value` lines) as ints; {} if absent."""
    try:
        with open(path) as f:
            return {k: int(v) for k, v in kv(f.read()).items()
                    if v.lstrip("-").isdigit()}
    except OSError:
        return {}


def vmnet_iperf(g, key, rev, secs, vtrace):
    """One iperf3 run of secs seconds from guest g (on the key build);
    Gbit/s. A vmnet run that fails says what the fake saw: frames queued
    for vmnet_read while events fire and reads do not is a daemon that
    stopped reading its uplink, not a slow one."""
    what = "socketpair %s, %s build" % ("down" if rev else "up", key)
    cmd = ["iperf3", "-c", EXT_IP, "-p", str(IPERF_PORT), "-t", str(secs),
           "-J"] + (["-R"] if rev else [])
    try:
        r = nsrun(g.ns, cmd, check=False, timeout=secs + 20)
        return iperf_parse(r.stdout, what)
    except (Unavailable, subprocess.TimeoutExpired) as e:
        if key != "vmnet":
            raise Unavailable("%s: %s" % (what, e))
        why = ("iperf3 did not finish in %d s" % e.timeout
               if isinstance(e, subprocess.TimeoutExpired) else str(e))
        a = read_trace(vtrace)
        time.sleep(0.5)
        b = read_trace(vtrace)
        deaf = b.get("queued", 0) > 0 and b.get("reads") == a.get("reads")
        raise Unavailable(
            "%s: %s; the fake vmnet then: %d frames queued, %d events and "
            "%d vmnet_read calls in 0.5 s%s" % (
                what, why, b.get("queued", 0),
                b.get("events", 0) - a.get("events", 0),
                b.get("reads", 0) - a.get("reads", 0),
                " (softnetd stopped reading its uplink)" if deaf else ""))


def bench_vmnet(res):
    """Row 10: one socket-pair guest (tapbridge, the only VM shape on a
    Mac) on the TAP build and one on the fake-vmnet build, both daemons in
    one host namespace, their iperf3 runs taking turns so that a slow
    spell of this machine falls on both; reported as vmnet/TAP."""
    vmnetd = os.path.join(VMNET_BUILD, "softnetd")
    if not os.access(vmnetd, os.X_OK):
        raise Unavailable("%s missing: make vmnet-build" % vmnetd)
    # A few seconds per run at the default BENCH_SECONDS: the rows are
    # ratios of two runs made side by side, not absolute figures.
    secs = min(SECONDS, max(2, SECONDS // 3))
    env = Env()
    try:
        t = Topology(env)
        vtrace, xtrace = env.path("vmnet.trace"), env.path("xnu.trace")
        with vmnet_build():
            vd = Daemon(env, t.host, {"uplink": dict(VMNET_UPLINK)},
                        name="softnetd-vmnet",
                        fake_env={"FAKE_VMNET_TRACE": vtrace,
                                  "FAKE_XNU_TRACE": xtrace}).start()
            vctl = harness.SOFTNETCTL
        guests = {}
        for key, d, ctl, mac in (("tap", t.daemon, SOFTNETCTL,
                                  "02:00:00:00:0c:01"),
                                 ("vmnet", vd, vctl, "02:00:00:00:0c:02")):
            g = Guest(env, "vm" + key, mac)
            start_bridged(env, g, [ctl, "-s", d.sock, "exec", "--mac",
                                   g.mac, "--name", g.name, "--"])
            wait_for(lambda: len(d.ctl_json("list")) == 1,
                     what="exec to attach to the %s build" % key)
            g.dhcp()
            guests[key] = g
        iperf_server(env, t.ext)
        for rev, way in ((False, "up"), (True, "down")):
            xs = {"tap": [], "vmnet": []}
            for i in range(RUNS):
                for key in (("tap", "vmnet") if i % 2 == 0 else
                            ("vmnet", "tap")):
                    xs[key].append(vmnet_iperf(guests[key], key, rev, secs,
                                               vtrace))
            for key in xs:
                log("  socketpair %s build %s: %s Gbit/s" % (
                    key, way, " ".join("%.2f" % x for x in xs[key])))
                put_runs(res, "vm_%s_%s" % (key, way), xs[key])
        for key in ("tap", "vmnet"):
            res["vm_%s_rtt" % key] = ping_median(guests[key].ns, EXT_IP)
            log("  socketpair %s build RTT: %.3f ms" %
                (key, res["vm_%s_rtt" % key]))
        st = vd.ctl_json("stats", guests["vmnet"].name)["stats"]
        res["vm_vmnet_drops"] = {k: v for k, v in
                                 st.get("drops", {}).items() if v}
        res["vm_vmnet_frames"] = (st.get("tx_frames", 0),
                                  st.get("rx_frames", 0))
        time.sleep(0.1)  # the traces are rewritten every 50 ms
        res["vm_trace"] = read_trace(vtrace)
        res["vm_xtrace"] = read_trace(xtrace)
    finally:
        env.close()


def vmnet_notes(res):
    """The notes that go with row 10, when it ran."""
    if not any(k.startswith("vm_") for k in res):
        return []
    notes = ["vmnet (row 10): a socket-pair guest (tapbridge over a "
             "SOCK_DGRAM pair, as Tart's VMs) on the fake-vmnet build "
             "(make vmnet-build: uplink_vmnet.c and osdep_darwin.c over "
             "tests/fakes) and one on the TAP build, both in this run, "
             "iperf3 runs taking turns; the vmnet rows are vmnet/TAP. "
             "Absolute figures of the fake say nothing about a Mac: its "
             "vmnet0 is a plain TAP, not vmnet's bridge, and XNU is "
             "Linux underneath. The ratio is the cost of the vmnet code "
             "path on the same kernel: 1514-byte frames both ways (no "
             "GSO superframes on the uplink), vmnet_read/vmnet_write "
             "batches, XNU's ENOBUFS on a full VM socket and the backlog "
             "that absorbs it"]
    tr, xt = res.get("vm_trace") or {}, res.get("vm_xtrace") or {}
    parts = []
    if tr.get("reads"):
        parts.append("vmnet_read %.1f packets/call (%d empty of %d)" % (
            tr.get("read_pkts", 0) / float(tr["reads"]),
            tr.get("read_empty", 0), tr["reads"]))
    if tr.get("writes"):
        parts.append("vmnet_write %.1f packets/call, %d refused" % (
            tr.get("write_pkts", 0) / float(tr["writes"]),
            tr.get("write_refused", 0)))
    # Port stats count from the VM's side: tx is what the VM sent.
    tx, rx = res.get("vm_vmnet_frames") or (0, 0)
    if xt.get("sendmsg_x_calls"):
        parts.append("to the VM %.1f datagrams/sendmsg_x" % (
            rx / float(xt["sendmsg_x_calls"])))
    if xt.get("recvmsg_x_calls"):
        parts.append("from the VM %.1f datagrams/recvmsg_x" % (
            tx / float(xt["recvmsg_x_calls"])))
    if xt:
        parts.append("ENOBUFS %d" % xt.get("enobufs", 0))
    if res.get("vm_vmnet_drops"):
        parts.append("drops %s" % json.dumps(res["vm_vmnet_drops"],
                                              sort_keys=True))
    if parts:
        notes.append("vmnet build, whole section (fake's counters): " +
                     "; ".join(parts))
    return notes


def peer_notes(res):
    """How each peer ran, when it ran."""
    cfg = []
    for key, label, mtu, dest in PASTA_CONFIGS:
        if res.get(key + "_up") is not None or key + "_mtu" in res:
            cfg.append("%s: pasta --config-net %s-4 -f --netns "
                       "(tap0 MTU %s), guest -> gateway %s, which pasta "
                       "maps to the host namespace's 127.0.0.1" % (
                           label, "-m %s " % mtu if mtu else "",
                           res.get(key + "_mtu"), PEER_HOST_GW))
    for key, label, lo, dest in SLIRP_CONFIGS:
        if res.get(key + "_up") is not None or key + "_mtu" in res:
            cfg.append("%s %s: slirp4netns --configure --mtu=65520%s "
                       "(tap0 MTU %s), guest -> %s" % (
                           label, dest,
                           "" if lo else " --disable-host-loopback",
                           res.get(key + "_mtu"),
                           "%s, slirp's gateway, which it maps to the host "
                           "namespace's 127.0.0.1" % SLIRP_HOST_LO if lo
                           else "%s, the host namespace's own address "
                           "(delivered over its lo)" % PEER_HOST_IP))
    if not cfg:
        return []
    return ["peers (row 2), each run as root into a guest namespace, the "
            "iperf3 server in a private host namespace, tap0 txqueuelen "
            "10000; a peer's best row (best of this peer) is that peer in "
            "row 3's summary: " + "; ".join(cfg)]


def bridge_notes(res):
    """What the kernel bridge baseline is, when it ran."""
    if "br_check" not in res:
        return []
    return ["kernel bridge (row 1b): a guest namespace's veth (MTU 1500, "
            "the kernel's GSO/TSO on, static address) enslaved to br0 in a "
            "host namespace that holds the gateway address and routes to "
            "ext as softnet's host does; nftables bridge-family rules per "
            "port in the shape of libvirt's clean-traffic filter: frames "
            "from the port only from its MAC, IPv4 only from its address, "
            "ARP only Ethernet/IPv4 with its MAC and address as sender, "
            "nothing else (no IPv6), and only IPv4 and ARP toward it. "
            "Checked before measuring: " + res["br_check"]]


def idle_notes(res):
    """What the idle row measured, when it ran."""
    if res.get("idle_cpu_pct") is None:
        return []
    return ["idle (row 12): softnetd with 2 TAP and 2 socket-pair guests "
            "(tapbridge) attached and leased, no traffic, over %.1f s: "
            "CPU = utime + stime of /proc/PID/stat (clock ticks of 1/%d s, "
            "so the row resolves %.3f%% of a core), wakeups = voluntary + "
            "nonvoluntary context switches of all its threads "
            "(/proc/PID/task/*/status); %d frames reached or left the VMs "
            "meanwhile (their kernels' own chatter)%s" % (
                res["idle_secs"], os.sysconf("SC_CLK_TCK"),
                100.0 / os.sysconf("SC_CLK_TCK") / res["idle_secs"],
                res["idle_frames"], "" if res.get("idle_run_pct") is None
                else "; time on a CPU by /proc/PID/task/*/schedstat "
                "(nanoseconds): %.4f%% of a core" % res["idle_run_pct"])]


# ---------------------------------------------------------------- table

def fmt(v, digits=2):
    if v is None:
        return "n/a"
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return ("%%.%df" % digits) % v


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def verdict(ok):
    if ok is None:
        return "n/a"
    return "meets" if ok else "below"


def fmt_x(x):
    """A ratio column: "0.83x", or with runs "0.83x (0.80-0.86)"."""
    if x is None:
        return ""
    if not isinstance(x, tuple):
        return "%.2fx" % x
    mid, lo, hi, n = x
    if n < 2:
        return "%.2fx" % mid
    return "%.2fx (%.2f-%.2f)" % (mid, lo, hi)


def fmt_spread(xs, digits):
    """The min-max column: the lowest and highest run, when there are
    several."""
    if not xs or len(xs) < 2:
        return ""
    return "%s-%s" % (fmt(min(xs), digits), fmt(max(xs), digits))


def best_peer(res, d):
    """(best Gbit/s, label, {peer: its best}) over the peers' configs in
    direction d; (None, "", {}) when no peer ran."""
    bests = {}
    for peer, configs in (("pasta", PASTA_CONFIGS),
                          ("slirp4netns", SLIRP_CONFIGS)):
        vs = [(res.get("%s_%s" % (k, d)), lab, dest)
              for k, lab, _, dest in configs if res.get("%s_%s" % (k, d))]
        if vs:
            bests[peer] = max(vs)
    if not bests:
        return None, "", {}
    v, lab, dest = max(bests.values())
    return v, "%s, %s" % (lab, dest), bests


def build_rows(res):
    """[(num, label, value, min-max, unit, x veth, x ref, ref, target,
    verdict)]."""
    rows = []
    g = res.get

    def x(key, base):
        """key's ratio to base: (median, lowest run, highest run, runs),
        each run over base, the reference's median: the reference's own
        spread is on its row."""
        xs = runs_of(res, key)
        if not xs or not base:
            return None
        return (median(xs) / base, min(xs) / base, max(xs) / base, len(xs))

    def add(num, label, value, unit, xveth=None, xref=None, ref="",
            target="", ok=None, digits=2, runs=None):
        rows.append((num, label, fmt(value, digits) if value is not None
                     else "n/a", fmt_spread(runs, digits), unit,
                     fmt_x(xveth), fmt_x(xref), ref, target,
                     verdict(ok) if target else ""))

    def addk(num, label, key, unit, xveth=None, xref=None, ref="",
             target="", ok=None, digits=2):
        """add for a figure measured in runs: res[key] and its runs."""
        add(num, label, g(key), unit, xveth, xref, ref, target, ok, digits,
            runs_of(res, key))

    def addx(num, label, key, base, unit, digits=2):
        """A row whose value is key's ratio to base, with its range."""
        r = x(key, base)
        add(num, label, None if r is None else r[0], unit, digits=digits,
            runs=None if r is None or r[3] < 2 else [r[1], r[2]])

    for d, name in (("up", "ns -> ns"), ("down", "ns <- ns (-R)")):
        addk("1", "veth " + name, "veth_" + d, "Gbit/s",
             x("veth_" + d, g("veth_" + d)))
    for d, name in (("up", "guest -> ext"), ("down", "ext -> guest")):
        addk("1b", "kernel bridge + nft anti-spoof " + name, "br_" + d,
             "Gbit/s", x("br_" + d, g("veth_" + d)))
    for configs in (PASTA_CONFIGS, SLIRP_CONFIGS):
        for d in ("up", "down"):
            _, _, bests = best_peer(res, d)
            for key, label, _, dest in configs:
                name = "guest -> " + dest if d == "up" else \
                    dest + " -> guest"
                best = any(b[1] == label and b[2] == dest and
                           b[0] == g("%s_%s" % (key, d))
                           for b in bests.values())
                addk("2", "%s %s" % (label, name), "%s_%s" % (key, d),
                     "Gbit/s", x("%s_%s" % (key, d), g("veth_" + d)),
                     ref="best of this peer" if best else "")
    for d, name in (("up", "guest -> ext"), ("down", "ext -> guest")):
        v = g("tap_" + d)
        best, blabel, _ = best_peer(res, d)
        xv, xp = x("tap_" + d, g("veth_" + d)), x("tap_" + d, best)
        ok = None
        if xv is not None:
            ok = xv[0] >= 0.7 and (xp is None or xp[0] >= 2)
        addk("3", "softnet TAP " + name, "tap_" + d, "Gbit/s", xv, xp,
             "best peer" + (" (%s)" % blabel if blabel else ""),
             ">=0.7x veth, >=2x peers", ok)
    for d, name in (("up", "guest -> ext"), ("down", "ext -> guest")):
        addx("3", "softnet TAP %s / kernel bridge" % name, "tap_" + d,
             g("br_" + d), "x bridge")
    for d, name in (("up", "guest -> ext"), ("down", "ext -> guest")):
        addk("3c", "softnet TAP + 1 capture " + name, "cap_" + d, "Gbit/s",
             x("cap_" + d, g("veth_" + d)), x("cap_" + d, g("tap_" + d)),
             "no capture")
    for d, name in (("up", "guest -> ext"), ("down", "ext -> guest")):
        xb = x("sock_" + d, g("sockB_" + d))
        addk("4", "softnet socketpair " + name, "sock_" + d, "Gbit/s",
             x("sock_" + d, g("veth_" + d)), xb, "-B", ">=2x -B",
             None if xb is None else xb[0] >= 2)
        addk("4", "softnet socketpair -B " + name, "sockB_" + d, "Gbit/s",
             x("sockB_" + d, g("veth_" + d)))
    for d, name in (("up", "guests -> ext"), ("down", "ext -> guests")):
        x1 = x("tap4_" + d, g("tap_" + d))
        addk("5", "softnet 4 TAP " + name, "tap4_" + d, "Gbit/s",
             x("tap4_" + d, g("veth_" + d)), x1, "1 guest",
             ">=0.9x 1 guest", None if x1 is None else x1[0] >= 0.9)
    add("6", "ping RTT veth", g("veth_rtt"), "ms", 1.0, digits=3)
    add("6", "ping RTT kernel bridge + nft -> ext", g("br_rtt"), "ms",
        ratio(g("br_rtt"), g("veth_rtt")), digits=3)
    add("6", "ping RTT softnet TAP -> ext", g("tap_rtt"), "ms",
        ratio(g("tap_rtt"), g("veth_rtt")), digits=3)
    added = None
    if g("tap_rtt") is not None and g("veth_rtt") is not None:
        added = g("tap_rtt") - g("veth_rtt")
    add("6", "RTT added over veth (TAP)", added, "ms", target="<=0.05 ms",
        ok=None if added is None else added <= 0.05, digits=3)
    add("6", "wakeup after 10 ms idle", g("wake_ms"), "ms", digits=3)
    for c, label in ((0, "RTT added, ping -f, softnetd same CPU"),
                     (1, "RTT added, ping -f, softnetd other CPU")):
        a, b = g("tap_rtt_flood%d" % c), g("veth_rtt_flood0")
        add("6", label, None if a is None or b is None else a - b, "ms",
            digits=3)
    add("6", "ping RTT softnet socketpair", g("sock_rtt"), "ms",
        ratio(g("sock_rtt"), g("veth_rtt")), digits=3)
    addk("7", "filter decision (parse+filter)", "filter_ns", "ns/frame",
        target="<=50 ns", ok=None if g("filter_ns") is None
        else g("filter_ns") <= 50)
    for up, uname in (("none", "no uplink"), ("tap", "TAP uplink")):
        v, vb = g("fwd_" + up), g("fwd_%s_B" % up)
        addk("7", "64B fwd 1 core, %s" % uname, "fwd_" + up, "Mpps", None,
             x("fwd_" + up, vb), "-B", ">=1 Mpps",
             None if v is None else v >= 1, digits=3)
        addk("7", "64B fwd 1 core, %s, -B" % uname, "fwd_%s_B" % up,
             "Mpps", digits=3)
        vk = g("fwd_%s_k" % up)
        addk("7", "64B syscalls alone (ceiling), %s" % uname,
             "fwd_%s_k" % up, "Mpps", None, x("fwd_" + up, vk),
             "switch/ceiling", digits=3)
    add("8", "attach p50 (1..%d attached)" % SCALE_VMS, g("attach_p50"),
        "ms", digits=3)
    add("8", "attach p99 (1..%d attached)" % SCALE_VMS, g("attach_p99"),
        "ms", digits=3)
    add("8", "attach p99 (%d attached)" % SCALE_VMS, g("attach_full_p99"),
        "ms", target="<=2 ms", ok=None if g("attach_full_p99") is None
        else g("attach_full_p99") <= 2, digits=3)
    add("8", "RSS per idle VM", g("rss_per_vm"), "KiB", target="<=64 KiB",
        ok=None if g("rss_per_vm") is None else g("rss_per_vm") <= 64)
    add("8", "DHCP leases/s (%d clients)" % SCALE_VMS, g("leases_per_s"),
        "leases/s", target=">=2000/s", ok=None if g("leases_per_s") is None
        else g("leases_per_s") >= 2000)
    add("9", "ping RTT other VM -> gw, no flood", g("flood_rtt_idle"), "ms",
        digits=3)
    add("9", "ping RTT other VM -> gw, DHCP flood", g("flood_rtt"), "ms",
        xref=ratio(g("flood_rtt"), g("flood_rtt_idle")), ref="no flood",
        target="<=2x no flood", ok=None if g("flood_rtt") is None or
        g("flood_rtt_idle") is None
        else g("flood_rtt") <= 2 * g("flood_rtt_idle"), digits=3)
    add("9", "softnetd disk writes, DHCP flood", g("flood_write_mbs"),
        "MB/s", target="<=1 MB/s", ok=None if g("flood_write_mbs") is None
        else g("flood_write_mbs") <= 1, digits=3)
    add("9", "DHCP flood sent by the guest", g("flood_sent"), "msg/s")
    add("9", "leases request (page) p50, 100k rows", g("leases_call_p50"),
        "ms", digits=3)
    add("9", "leases request (page) max, 100k rows", g("leases_call_max"),
        "ms", target="<=5 ms", ok=None if g("leases_call_max") is None
        else g("leases_call_max") <= 5, digits=3)
    add("9", "softnetctl leases, 100k rows (all pages)", g("leases_all_s"),
        "s", digits=3)
    for d, name in (("up", "guest -> ext"), ("down", "ext -> guest")):
        v = g("vm_tap_" + d)
        addk("10", "socketpair %s, TAP build" % name, "vm_tap_" + d,
             "Gbit/s", x("vm_tap_" + d, g("veth_" + d)))
        addx("10", "socketpair %s, vmnet build" % name, "vm_vmnet_" + d, v,
             "x TAP")
    add("10", "ping RTT socketpair, TAP build", g("vm_tap_rtt"), "ms",
        ratio(g("vm_tap_rtt"), g("veth_rtt")), digits=3)
    add("10", "ping RTT socketpair, vmnet build",
        ratio(g("vm_vmnet_rtt"), g("vm_tap_rtt")), "x TAP")
    pd = (("softnet", "softnetd via relay shim"),
          ("dnsmasq", "dnsmasq, lease file"),
          ("dnsmasq-ro", "dnsmasq, leases in memory only"),
          ("shim", "relay shim, trivial responder"))
    for kind, name in pd:
        addk("11", "perfdhcp DORA, %s" % name, "pd_%s_rate" % kind,
             "leases/s",
             xref=None if kind == "dnsmasq" else x("pd_%s_rate" % kind, g(
                 "pd_dnsmasq_rate")),
             ref="" if kind == "dnsmasq" else "dnsmasq")
    for kind, name in pd:
        v = g("pd_%s_lat" % kind)
        add("11", "perfdhcp DO+RA delay at %d/s, %s" % (PD_RATE_LAT, name),
            v, "ms", xref=None if kind == "dnsmasq" else ratio(v, g(
                "pd_dnsmasq_lat")),
            ref="" if kind == "dnsmasq" else "dnsmasq", digits=3)
    for d, name in (("up", "guest -> ext"), ("down", "ext -> guest")):
        k = "metrics_off_tap_" + d
        addk("3m", "softnet TAP %s, metrics on" % name, k, "Gbit/s",
             x(k, g("veth_" + d)), x(k, g("tap_" + d)), "row 3")
        k = "metrics_tap_" + d
        addk("3m", "softnet TAP %s, scraped 1/s" % name, k, "Gbit/s",
             x(k, g("veth_" + d)), x(k, g("metrics_off_tap_" + d)),
             "metrics on")
    cpu = g("idle_cpu_pct")
    add("12", "idle softnetd CPU, 4 VMs, no traffic", cpu, "% of a core",
        target="<%.1f%% of a core" % IDLE_CPU_TARGET,
        ok=None if cpu is None else cpu < IDLE_CPU_TARGET, digits=3)
    add("12", "idle softnetd wakeups, 4 VMs, no traffic",
        g("idle_wakeups"), "wakeups/s")
    return rows


def cpu_model():
    """The CPU's model name: /proc/cpuinfo's, else lscpu's (ARM kernels
    name no model in cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    r = run(["lscpu"], check=False)
    for line in r.stdout.splitlines():
        if line.strip().startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def loadavg():
    """The 1, 5 and 15 minute load averages, as /proc/loadavg says them."""
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def machine_line():
    """CPU model, cores and kernel, for the table's header."""
    return "machine: %s, %d cores (nproc), Linux %s" % (
        cpu_model(), os.cpu_count() or 0, platform.release())


def print_table(res, notes, load_start):
    head = ("#", "measurement", "value", "min-max", "unit", "x veth",
            "x ref", "ref", "target", "verdict")
    rows = build_rows(res)
    widths = [max(len(str(r[i])) for r in rows + [head])
              for i in range(len(head))]
    align = ["<", "<", ">", ">", "<", ">", ">", "<", "<", "<"]

    def line(r):
        return "  ".join(("{:%s%d}" % (a, w)).format(str(c))
                         for c, a, w in zip(r, align, widths)).rstrip()

    print("softnet make bench: TCP = iperf3 -J, %d s, median of %d run%s "
          "(min-max: lowest and highest run; a ratio: median (each run "
          "over the reference's median))" %
          (SECONDS, RUNS, "" if RUNS == 1 else "s"))
    print(machine_line())
    print("load average (1 5 15 min): %s at start, %s at end" %
          (load_start, loadavg()))
    print()
    print(line(head))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))
    print()
    if notes:
        print("notes:")
        for n in notes:
            print("  - " + n)
        print()
    if os.environ.get("MAKELEVEL"):
        cmd = "make bench BENCH_SECONDS=%d BENCH_RUNS=%d" % (SECONDS, RUNS)
    else:
        cmd = "BENCH_SECONDS=%d BENCH_RUNS=%d %s %s" % (
            SECONDS, RUNS, sys.executable, " ".join(sys.argv))
    if os.environ.get("BENCH_ONLY"):
        cmd = "BENCH_ONLY=%r %s" % (os.environ["BENCH_ONLY"], cmd)
    print("command: " + cmd)


def main():
    if os.geteuid() != 0:
        sys.stderr.write("bench: needs root (namespaces, TAP devices)\n")
        return 1
    for f in (harness.SOFTNETD, harness.SOFTNETCTL, harness.TAPBRIDGE,
              os.path.join(BENCH_BIN, "bench_filter"),
              os.path.join(BENCH_BIN, "bench_forward"),
              os.path.join(BENCH_BIN, "bench_wake")):
        if not os.access(f, os.X_OK):
            sys.stderr.write("bench: %s missing: run make bench\n" % f)
            return 1
    # 1000 VMs: our socket pairs and the daemon's (it inherits the limit).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 8192:
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (min(hard, 8192) if hard > 0 else 8192, hard))

    load_start = loadavg()
    log(machine_line())
    log("load average (1 5 15 min) at start: " + load_start)
    res, notes, broke = {}, [], False
    sections = [
        ("veth", bench_veth, False),
        ("bridge", bench_bridge, False),
        ("pasta", bench_pasta, True),
        ("slirp4netns", bench_slirp, True),
        ("softnet TAP guests", bench_softnet_tap, False),
        ("softnet TAP capture", bench_softnet_capture, False),
        ("metrics", bench_metrics, False),
        ("softnet socketpair", lambda r: bench_softnet_sock(r, False), False),
        ("softnet socketpair -B", lambda r: bench_softnet_sock(r, True),
         False),
        ("micro-benchmarks", bench_micro, False),
        ("scale", bench_scale, False),
        ("tenancy", bench_tenancy, False),
        ("perfdhcp", bench_perfdhcp, False),
        ("vmnet", bench_vmnet, False),
        ("idle", bench_idle, False),
    ]
    only = [x.strip() for x in os.environ.get("BENCH_ONLY", "").split(",")
            if x.strip()]
    for name, fn, peer in sections:
        if only and name not in only:
            continue
        log("%s ..." % name)
        t0 = time.monotonic()
        try:
            fn(res)
        except Unavailable as e:
            notes.append("%s: n/a: %s" % (name, e))
            broke = broke or not peer
        except Exception as e:  # a broken section must not hide the rest
            notes.append("%s: n/a: %s: %s" % (name, type(e).__name__,
                                             str(e).splitlines()[0]
                                             if str(e) else ""))
            traceback.print_exc()
            broke = broke or not peer
        log("%s done in %.0f s" % (name, time.monotonic() - t0))

    notes += peer_notes(res)
    notes += bridge_notes(res)
    notes.append("softnet guests get MTU 1500 by DHCP; veth runs at MTU "
                 "1500 with the kernel's GSO/GRO")
    if res.get("tap_drops"):
        notes.append("filter drops during the TAP runs: %s" %
                     json.dumps(res["tap_drops"], sort_keys=True))
    if res.get("dhcp_note"):
        notes.append("DHCP: " + res["dhcp_note"])
    if res.get("cap_drops") is not None:
        notes.append("capture (row 3c): %d of %d frames of the guest not "
                     "captured (the reader, softnetctl -w /dev/null, was "
                     "behind)" % (res["cap_drops"], res["cap_frames"]))
    notes.append("wakeup: bench_wake, the median delay between a write "
                 "into a pipe and the return of poll(2) in a process idle "
                 "for 10 ms (the ping interval). A round trip through "
                 "softnetd wakes two sleeping processes on different CPUs "
                 "(softnetd for the request, ping for the reply, which "
                 "comes back inside softnetd's write to the uplink); "
                 "over a veth the kernel answers within ping's own send")
    notes.append("RTT added, ping -f: %d back-to-back pings from CPU 0 "
                 "(mean), so no CPU idles between them, over softnet with "
                 "softnetd pinned (taskset) to CPU 0 or to CPU 1, less "
                 "the same over veth: on ping's CPU it is what softnetd's "
                 "own path adds; on the other it adds two wakeups that "
                 "cross CPUs; the row above adds idle CPUs to that"
                 % FLOOD_PINGS)
    notes.append("64B fwd: bench_forward, one switch thread pinned to CPU 0 "
                 "calling switch_port_readable, a writer thread on CPU 1 "
                 "blasting 64-byte UDP frames into a socketpair VM; "
                 "'syscalls alone' is bench_forward -k: the same writer, "
                 "and a loop making only the switch's recvmmsg (and, with "
                 "the TAP, its uplink writes), no switching: the ceiling "
                 "the kernel's I/O puts on one core")
    notes += perfdhcp_notes(res)
    notes += vmnet_notes(res)
    notes += idle_notes(res)
    notes.append("spread: min-max is the lowest and highest of the runs; "
                 "a ratio is the median's, with each run divided by the "
                 "reference's median in brackets, so the reference's own "
                 "run-to-run spread is not in it: it is on the reference's "
                 "row (veth's x veth column is its runs over its median, "
                 "the machine's noise in the same units). Sections run one "
                 "after another, not side by side, except where a note "
                 "says the runs take turns")
    print_table(res, notes, load_start)

    left = [l for l in run(["ip", "netns", "list"]).stdout.splitlines()
            if l.startswith(PREFIX)]
    if left:
        sys.stderr.write("bench: namespaces left behind: %s\n" % left)
        broke = True
    return 1 if broke else 0


if __name__ == "__main__":
    sys.exit(main())
