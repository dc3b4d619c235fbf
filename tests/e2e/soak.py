"""make soak: crash safety and noisy neighbours, measured, not unit-tested.

Part 1, crash safety: ROUNDS rounds of kill -9 of softnetd under traffic and
attach/detach churn. Two Tart-style front ends (softnet over a socket pair)
re-attach by themselves; two TAP guests are re-attached by this script.
After every round: PRAGMA integrity_check is ok, no address is held twice,
every steady guest still has its first address and reaches ext.

Part 2, noisy neighbours: a victim VM's TCP throughput to ext alone, then
while another VM floods (64-byte UDP, then 1400-byte UDP), and while ext
sends to a VM whose socket is never read: paced (PACED_PPS), then as fast
as udpflood can, compared with the same flood sent to an address the host
blackholes (so the generator's own CPU is not charged to softnetd). These
are measurements (meets/below the 0.8x target), reported like make bench;
only a broken mechanism (the hung VM's frames not dropped) fails the run.

Everything runs in namespaces this script creates and removes.
usage: soak.py [ROUNDS] [SECONDS]     (exit 1 if any check failed)
"""

import json
import os
import random
import signal
import sqlite3
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (BUILD, EXT_IP, SOFTNET, Client, Env,  # noqa: E402
                     Guest, Topology, nsrun, socketpair_vm, wait_for)

UDPFLOOD = os.path.join(BUILD, "tests", "tools", "udpflood")
SINK_IP = "198.18.0.1"  # blackholed in the test's host namespace
PACED_PPS = 20000  # 224 Mbit/s of 1400-byte datagrams


def integrity(db):
    con = sqlite3.connect(db)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def held_twice(db):
    con = sqlite3.connect(db)
    try:
        return con.execute(
            "SELECT ip, count(*) FROM leases WHERE ip IS NOT NULL AND "
            "state IN ('offered', 'bound') GROUP BY ip HAVING count(*) > 1"
        ).fetchall()
    finally:
        con.close()


def crash_rounds(env, rounds):
    t = Topology(env)
    echo = t.ext_echo(7)
    fronts, taps, ips = [], [], {}
    for i in range(2):
        g = Guest(env, "tart%d" % i, "02:00:00:00:e0:0%d" % i)
        fd, _ = socketpair_vm(env, g)
        env.popen([SOFTNET, "--vm-fd", str(fd.fileno()), "--vm-mac-address",
                   g.mac], env=dict(os.environ, SOFTNET_SOCKET=t.daemon.sock),
                  pass_fds=[fd.fileno()])
        fd.close()
        fronts.append(g)
    for i in range(2):
        taps.append(t.guest("tap%d" % i, "02:00:00:00:e1:0%d" % i))
    wait_for(lambda: len(t.daemon.ctl_json("list")) == 4, timeout=10,
             what="four VMs attached")
    for g in fronts + taps:
        ips[g.name] = g.dhcp()["ip"]
        env.popen(["ping", "-n", "-q", "-i", "0.05", EXT_IP], ns=g.ns)
    churn = Guest(env, "churn", "02:00:00:00:e2:00")
    stop = threading.Event()
    churned = [0]

    def churner():
        n = 0
        while not stop.is_set():
            n += 1
            mac = "02:00:00:e2:%02x:%02x" % (n // 256 % 256, n % 256)
            try:
                churn.run(["ip", "link", "set", "eth0", "address", mac])
                if churn.attach(t.daemon, check=False).returncode == 0:
                    churn.dhcp(check=False, timeout=5)
                    t.daemon.ctl("detach", "churn", check=False)
                    churned[0] += 1
            except Exception:
                time.sleep(0.05)

    th = threading.Thread(target=churner, daemon=True)
    th.start()
    failures, reattach = [], []
    start = time.monotonic()
    for r in range(rounds):
        time.sleep(random.uniform(0.2, 1.0))
        t.daemon.stop(signal.SIGKILL)
        if integrity(t.daemon.db) != "ok":
            failures.append("round %d: integrity_check after kill" % r)
        t.daemon.start()
        back = time.monotonic()
        for g in taps:
            g.attach(t.daemon, check=False)
        try:
            wait_for(lambda: {v["name"] for v in t.daemon.ctl_json("list")}
                     >= {g.name for g in taps} and sum(
                         1 for v in t.daemon.ctl_json("list")
                         if v["mac"] in (f.mac for f in fronts)) == 2,
                     timeout=10, step=0.02, what="re-attach")
            reattach.append(time.monotonic() - back)
        except AssertionError:
            failures.append("round %d: front ends not re-attached" % r)
            continue
        vms = {v["mac"]: v for v in t.daemon.ctl_json("list")}
        for g in fronts + taps:
            if vms.get(g.mac, {}).get("ip") != ips[g.name]:
                failures.append("round %d: %s lost %s (now %s)" % (
                    r, g.name, ips[g.name], vms.get(g.mac, {}).get("ip")))
        if held_twice(t.daemon.db):
            failures.append("round %d: duplicate address %s" %
                            (r, held_twice(t.daemon.db)))
        if integrity(t.daemon.db) != "ok":
            failures.append("round %d: integrity_check" % r)
        if r % 10 == 9:
            for g in fronts + taps:
                if not g.ping(EXT_IP, count=2, wait=2):
                    failures.append("round %d: %s cannot reach ext" %
                                    (r, g.name))
    stop.set()
    th.join(timeout=30)
    echo.kill()
    took = time.monotonic() - start
    print("crash safety: %d rounds of kill -9 in %.0f s, %d churn cycles"
          % (rounds, took, churned[0]))
    if reattach:
        print("  front ends + TAP guests back after restart: median %.3f s, "
              "max %.3f s" % (statistics.median(reattach), max(reattach)))
    print("  lost leases: %d, duplicate addresses: %d, integrity failures: "
          "%d" % (sum("lost" in f for f in failures),
                  sum("duplicate" in f for f in failures),
                  sum("integrity" in f for f in failures)))
    for f in failures[:20]:
        print("  FAIL", f)
    return not failures


def iperf(env, t, guest, secs, port=5201):
    srv = env.popen(["iperf3", "-s", "-1", "-p", str(port)], ns=t.ext)
    time.sleep(0.3)
    r = nsrun(guest.ns, ["iperf3", "-c", EXT_IP, "-p", str(port), "-t",
                         str(secs), "-J"], timeout=secs + 30, check=False)
    srv.wait(timeout=10)
    try:
        return json.loads(r.stdout)["end"]["sum_received"][
            "bits_per_second"] / 1e9
    except (ValueError, KeyError):
        return 0.0


def noisy_neighbours(env, secs):
    t = Topology(env)
    victim = t.guest("victim", "02:00:00:00:f0:01")
    noisy = t.guest("noisy", "02:00:00:00:f0:02")
    for g in (victim, noisy):
        g.run(["ip", "link", "set", "eth0", "txqueuelen", "10000"])
        g.dhcp()
    ok = True
    alone = iperf(env, t, victim, secs)
    print("noisy neighbours: victim TCP alone %.2f Gbit/s" % alone)
    for size in (64, 1400):
        srv = env.popen(["iperf3", "-s", "-p", "5301"], ns=t.ext)
        time.sleep(0.3)
        flood = env.popen(["iperf3", "-u", "-b", "0", "-l", str(size), "-c",
                           EXT_IP, "-p", "5301", "-t", str(secs + 2)],
                          ns=noisy.ns)
        time.sleep(1)
        got = iperf(env, t, victim, secs)
        flood.wait(timeout=secs + 30)
        srv.kill()
        ratio = got / alone if alone else 0
        print("  while a VM floods %4d-byte UDP: %.2f Gbit/s = %.2fx alone "
              "(target >= 0.8x) %s" % (size, got, ratio,
                                       "meets" if ratio >= 0.8 else "below"))
    # A VM that hangs (its socket is never read again) while ext sends to
    # it: its frames are dropped (queue_full), nobody else waits for it.
    stuck = Guest(env, "stuck", "02:00:00:00:f0:03")
    fd, bridge = socketpair_vm(env, stuck)
    cl = Client(t.daemon.sock)
    r = cl.call({"op": "attach", "mac": stuck.mac, "name": "stuck"},
                fd=fd.fileno())
    fd.close()
    if not r.get("ok"):
        print("  stuck VM not attached:", r)
        return False
    lease = stuck.dhcp(check=False)
    if lease is None:
        print("  stuck VM got no lease; bridge:", bridge.poll(),
              bridge.stderr.read() if bridge.poll() is not None else "")
        return False
    ip = lease["ip"]
    nsrun(t.host, ["ping", "-c", "1", "-W", "1", ip])  # host learns its MAC
    os.kill(bridge.pid, signal.SIGSTOP)
    # The same flood generator aimed at an address the host namespace
    # blackholes: what the generator and the kernel's forwarding cost the
    # victim on this machine without softnetd doing any of the work.
    nsrun(t.host, ["ip", "route", "add", "blackhole", SINK_IP + "/32"])

    def flooded(dst, pps=None):
        cmd = [UDPFLOOD, "-l", "1400", "-t", str(secs + 2)]
        cmd += ["-r", str(pps)] if pps else []
        flood = env.popen(cmd + [EXT_IP, dst, "9"], ns=t.ext)
        time.sleep(1)
        got = iperf(env, t, victim, secs)
        flood.wait(timeout=secs + 30)
        return got

    paced = flooded(ip, PACED_PPS)
    control = flooded(SINK_IP)
    full = flooded(ip)
    os.kill(bridge.pid, signal.SIGCONT)
    st = t.daemon.ctl_json("stats", "stuck")["stats"]
    dropped = st["drops"]["queue_full"]
    print("  (stuck VM: %d frames delivered before it filled up)" %
          st["rx_frames"])
    ok &= dropped > 0  # the hung VM's frames were dropped, not queued
    ratio = paced / alone if alone else 0
    print("  while ext sends %d x 1400-byte datagrams/s to a VM that never "
          "reads: %.2f Gbit/s = %.2fx alone %s" %
          (PACED_PPS, paced, ratio, "meets" if ratio >= 0.8 else "below"))
    print("  while ext floods a blackholed address at full speed (control: "
          "the generator's own cost): %.2f Gbit/s = %.2fx alone" %
          (control, control / alone if alone else 0))
    ratio = full / control if control else 0
    print("  while ext floods the VM that never reads at full speed "
          "(%d frames dropped as queue_full in all): %.2f Gbit/s = %.2fx "
          "alone, %.2fx the control %s" %
          (dropped, full, full / alone if alone else 0, ratio,
           "meets" if ratio >= 0.8 else "below"))
    cl.close()
    return ok


def main():
    if os.geteuid() != 0:
        sys.exit("make soak needs root")
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    secs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    ok = True
    for part in (lambda env: crash_rounds(env, rounds),
                 lambda env: noisy_neighbours(env, secs)):
        env = Env()
        try:
            ok &= part(env)
        finally:
            env.close()
    print("soak: %s" % ("all checks passed" if ok else "FAILED"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
