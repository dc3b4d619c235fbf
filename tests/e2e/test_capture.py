"""Per-VM packet capture (issue #16), end to end with real guests: a
guest's ping read back with tcpdump -r, a spoofed frame shown with its
drop reason when --drops is given, another user refused exactly as for a
VM that is not there, a reader that never reads losing frames (counted)
without holding the VM back, and a capture ending with its VM. What the
daemon itself answers a VM (DHCP OFFER and ACK) and what reaches the VM
from the daemon's own sockets (the DNS forwarder's replies, an exposed
port's proxied connection) is in the capture too, inbound.

The pcapng the daemon writes is also parsed here by a small reader of its
own (tcpdump prints neither packet comments nor the direction flags).
"""

import json
import os
import shutil
import signal
import socket
import struct

from harness import (E2E, EXT_IP, GATEWAY, PYTHON, SOFTNETCTL, VMNET,
                     Topology, echo_server, run, tcp_exchange, udp_sink,
                     wait_for)
from test_dns import UPSTREAM

SPOOF_IP = "192.168.105.77"
USER = "nobody"


def pcapng_blocks(data):
    """Yields (type, body) of each whole block of a little-endian
    pcapng stream; asserts the framing is right."""
    o = 0
    while o + 12 <= len(data):
        btype, blen = struct.unpack_from("<II", data, o)
        assert blen >= 12 and blen % 4 == 0, (o, blen)
        assert o + blen <= len(data), "torn block at %d" % o
        assert struct.unpack_from("<I", data, o + blen - 4)[0] == blen
        yield btype, data[o + 8:o + blen - 4]
        o += blen
    assert o == len(data), "trailing bytes"


def options(body):
    """The options of a block body as a dict code -> [values]."""
    out = {}
    o = 0
    while o + 4 <= len(body):
        code, olen = struct.unpack_from("<HH", body, o)
        if code == 0:
            break
        out.setdefault(code, []).append(body[o + 4:o + 4 + olen])
        o += 4 + ((olen + 3) & ~3)
    return out


def packets(data):
    """The EPBs of a capture as dicts: frame, flags, comment; plus the
    isb_ifdrop of the last ISB (None without one)."""
    pkts, ifdrop = [], None
    blocks = list(pcapng_blocks(data))
    assert blocks[0][0] == 0x0A0D0D0A, "no SHB first"
    assert struct.unpack_from("<I", blocks[0][1])[0] == 0x1A2B3C4D
    assert blocks[1][0] == 1, "no IDB second"
    assert struct.unpack_from("<H", blocks[1][1])[0] == 1  # Ethernet
    for btype, body in blocks[2:]:
        if btype == 6:
            caplen = struct.unpack_from("<I", body, 12)[0]
            opts = options(body[20 + ((caplen + 3) & ~3):])
            pkts.append({
                "frame": body[20:20 + caplen],
                "flags": struct.unpack("<I", opts[2][0])[0] & 3
                if 2 in opts else 0,
                "comment": opts[1][0].decode() if 1 in opts else None})
        elif btype == 5:
            ifdrop = struct.unpack("<Q", options(body[12:])[5][0])[0]
    return pkts, ifdrop


# A TCP discard server on port 9: reads until the peer closes, then closes.
DISCARD = r"""
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 9))
s.listen(4)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    while c.recv(1 << 16):
        pass
    c.close()
"""


class CaptureTest(E2E):
    def setUp(self):
        super().setUp()
        self.t = Topology(self.env, {"socket_group": "nogroup"})
        self.vm = self.t.guest("vm1", "02:00:00:00:ca:01")
        self.vm.dhcp()

    def start_capture(self, name, *opts):
        """softnetctl capture vm1 -w FILE, running until stopped."""
        path = self.env.path(name)
        p = self.env.popen([SOFTNETCTL, "-s", self.t.daemon.sock, "capture",
                            "vm1", "-w", path] + list(opts), text=True)
        # The SHB and the IDB come with the reply: the capture is on.
        wait_for(lambda: os.path.exists(path) and
                 os.path.getsize(path) >= 28 + 32, timeout=20,
                 what="the capture to start")
        return p, path

    def stop_capture(self, p):
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
        self.assertEqual(p.returncode, 0, err)
        return err

    def test_ping_read_by_tcpdump(self):
        p, path = self.start_capture("ping.pcapng")
        self.assertTrue(self.vm.ping(GATEWAY, count=3))
        err = self.stop_capture(p)
        self.assertIn("frames captured", err)
        r = run(["tcpdump", "-r", path, "-n", "icmp"])
        self.assertEqual(r.stdout.count("ICMP echo request"), 3, r.stdout)
        self.assertEqual(r.stdout.count("ICMP echo reply"), 3, r.stdout)
        # The direction, from the VM's side: requests out, replies in.
        pkts, ifdrop = packets(open(path, "rb").read())
        icmp = [q for q in pkts if q["frame"][12:14] == b"\x08\x00" and
                q["frame"][23] == 1]
        req = [q for q in icmp if q["frame"][34] == 8]
        rep = [q for q in icmp if q["frame"][34] == 0]
        self.assertEqual([q["flags"] for q in req], [2, 2, 2])
        self.assertEqual([q["flags"] for q in rep], [1, 1, 1])
        self.assertTrue(all(q["comment"] is None for q in icmp))
        self.assertEqual(ifdrop, 0)  # the ISB came, nothing was lost

    def test_stdout_pipe_to_tcpdump_with_count(self):
        # softnetctl capture vm1 -w - -c 2 | tcpdump -r -
        self.assertTrue(self.vm.ping(GATEWAY))  # ARP done before
        cmd = ("%s -s %s capture vm1 -w - -c 2 --direction out | "
               "tcpdump -r - -n" % (SOFTNETCTL, self.t.daemon.sock))
        p = self.env.popen(["sh", "-c", cmd], text=True)
        wait_for(lambda: self.t.daemon.ctl_json("status")["captures"]
                 ["running"] == 1, what="the capture to start")
        self.vm.ping(GATEWAY, count=2)
        out, err = p.communicate(timeout=20)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(out.count("ICMP echo request"), 2, out)
        self.assertEqual(len(out.splitlines()), 2, out)  # -c 2
        self.assertNotIn("echo reply", out)  # --direction out

    def test_drops_show_reason(self):
        p, path = self.start_capture("drops.pcapng", "--drops")
        self.vm.scapy(
            "sendp(Ether(src=%r, dst='ff:ff:ff:ff:ff:ff')/"
            "IP(src=%r, dst=%r)/UDP(sport=1, dport=9)/Raw(b'spoofip'))\n"
            % (self.vm.mac, SPOOF_IP, EXT_IP))
        wait_for(lambda: self.t.stats("vm1")["drops"]["ip_spoof"] >= 1,
                 what="the spoofed frame to be dropped")
        self.stop_capture(p)
        pkts, _ = packets(open(path, "rb").read())
        spoof = [q for q in pkts if b"spoofip" in q["frame"]]
        self.assertEqual(len(spoof), 1, pkts)
        self.assertEqual(spoof[0]["comment"], "drop: ip_spoof")
        self.assertEqual(spoof[0]["flags"], 2)
        if shutil.which("tshark"):
            r = run(["tshark", "-r", path, "-V"])
            self.assertIn("drop: ip_spoof", r.stdout)

    def test_without_drops_no_dropped_frames(self):
        p, path = self.start_capture("nodrops.pcapng")
        self.vm.scapy(
            "sendp(Ether(src=%r, dst='ff:ff:ff:ff:ff:ff')/"
            "IP(src=%r, dst=%r)/UDP(sport=1, dport=9)/Raw(b'spoofip'))\n"
            % (self.vm.mac, SPOOF_IP, EXT_IP))
        wait_for(lambda: self.t.stats("vm1")["drops"]["ip_spoof"] >= 1,
                 what="the spoofed frame to be dropped")
        self.assertTrue(self.vm.ping(GATEWAY))
        self.stop_capture(p)
        pkts, _ = packets(open(path, "rb").read())
        self.assertFalse([q for q in pkts if b"spoofip" in q["frame"]])
        self.assertTrue(pkts)

    def test_other_user_refused_as_missing(self):
        cap = self.t.daemon.ctl("capture", "vm1", "-w", "/dev/null",
                                user=USER, check=False)
        show = self.t.daemon.ctl("show", "vm1", user=USER, check=False)
        self.assertEqual(cap.returncode, 1)
        self.assertEqual(show.returncode, 1)
        self.assertIn("no VM vm1 attached (not_found)", cap.stderr)
        self.assertEqual(cap.stderr.replace("capture", ""),
                         show.stderr.replace("show", ""))
        self.assertEqual(
            self.t.daemon.ctl_json("status")["captures"]["running"], 0)

    def test_reader_that_never_reads(self):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(c.close)
        c.connect(self.t.daemon.sock)
        c.sendall(json.dumps({"op": "capture", "vm": "vm1"}).encode() +
                  b"\n")
        msg, fds, _, _ = socket.recv_fds(c, 65536, 1)
        self.assertTrue(json.loads(msg.split(b"\n")[0])["ok"], msg)
        self.assertEqual(len(fds), 1)
        reader = socket.socket(fileno=fds[0])  # never read
        self.addCleanup(reader.close)
        udp_sink(self.env, self.t.ext, 9999)
        # About 11 MB from the VM: far more than the capture socket holds.
        self.vm.run([PYTHON, "-c",
                     "import socket\n"
                     "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                     "for i in range(8000):\n"
                     "    s.sendto(b'x' * 1400, (%r, 9999))\n" % EXT_IP])
        # The guest's own queue may lose some; thousands get through.
        st = wait_for(lambda: (lambda s: s if s["tx_frames"] >= 1000 and
                               s["capture_drops"] > 0 else None)(
                                   self.t.stats("vm1")), timeout=60,
                      what="the VM's frames to be switched, some not "
                           "captured")
        self.assertEqual(st["drops"]["queue_full"], 0)
        # The VM goes on at once, capture or not.
        self.assertTrue(self.vm.ping(EXT_IP))
        status = self.t.daemon.ctl_json("status")["captures"]
        self.assertEqual(status["running"], 1)
        self.assertGreaterEqual(status["dropped"], st["capture_drops"])
        # The controlling connection goes: the capture ends with it.
        c.close()
        wait_for(lambda: self.t.daemon.ctl_json("status")["captures"]
                 ["running"] == 0, what="the capture to end")

    def test_superframes_whole(self):
        if VMNET:
            self.skipTest("a socket-pair guest sends no GSO superframes")
        sink = self.env.popen([PYTHON, "-c", DISCARD], ns=self.t.ext,
                              text=True)
        self.assertEqual(sink.stdout.readline().strip(), "ready")
        p, path = self.start_capture("gso.pcapng", "--direction", "out")
        code = ("import socket\n"
                "s = socket.create_connection((%r, 9))\n"
                "s.sendall(b'x' * (4 << 20)); s.shutdown(1)\n"
                "s.recv(1)\n" % EXT_IP)
        self.vm.run([PYTHON, "-c", code], timeout=60)
        self.stop_capture(p)
        data = open(path, "rb").read()
        pkts, _ = packets(data)
        big = max(len(q["frame"]) for q in pkts)
        # A TAP guest with offloads sends superframes: captured whole.
        self.assertGreater(big, 1514)
        self.assertLessEqual(big, 65549)
        r = run(["tcpdump", "-r", path, "-n", "tcp"])
        self.assertIn("length", r.stdout)

    def test_capture_ends_with_vm(self):
        p, path = self.start_capture("detach.pcapng")
        self.t.daemon.ctl("detach", "vm1")
        p.communicate(timeout=20)
        self.assertEqual(p.returncode, 0)
        pkts, ifdrop = packets(open(path, "rb").read())
        self.assertEqual(ifdrop, 0)
        self.assertEqual(
            self.t.daemon.ctl_json("status")["captures"]["running"], 0)


def udp_ports(frame):
    """(source, destination) port of an IPv4 UDP or TCP frame, or None."""
    if frame[12:14] != b"\x08\x00" or frame[23] not in (6, 17):
        return None
    o = 14 + (frame[14] & 15) * 4
    return struct.unpack_from("!HH", frame, o)


class DaemonFramesTest(E2E):
    def test_daemon_answers_captured(self):
        cfg = {} if VMNET else {"dns": {"forward": True,
                                        "upstream": [EXT_IP]}}
        t = Topology(self.env, cfg)
        if not VMNET:
            up = self.env.popen([PYTHON, "-c", UPSTREAM,
                                 self.env.path("upstream.log"), EXT_IP],
                                ns=t.ext, text=True)
            self.assertEqual(up.stdout.readline().strip(), "ready")
        g = t.guest("vm1", "02:00:00:00:ca:11", opts=("--expose", "8080:7"))
        echo_server(self.env, g.ns, 7)
        path = self.env.path("daemon.pcapng")
        p = self.env.popen([SOFTNETCTL, "-s", t.daemon.sock, "capture",
                            "vm1", "-w", path], text=True)
        wait_for(lambda: os.path.exists(path) and
                 os.path.getsize(path) >= 28 + 32, timeout=20,
                 what="the capture to start")
        g.dhcp()
        if not VMNET:
            r = g.run(["dig", "+time=2", "+tries=1", "@" + GATEWAY,
                       "www.example.test", "A", "+short"], check=False)
            self.assertEqual(r.stdout.strip(), "10.1.0.3", r.stdout)
        self.assertEqual(tcp_exchange(t.host, "127.0.0.1", 8080), "match")
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=20)
        self.assertEqual(p.returncode, 0, err)

        r = run(["tcpdump", "-r", path, "-n", "-v", "udp port 67"])
        self.assertIn("DHCP-Message (53), length 1: Offer", r.stdout)
        self.assertIn("DHCP-Message (53), length 1: ACK", r.stdout)
        pkts, _ = packets(open(path, "rb").read())
        ports = [(udp_ports(q["frame"]), q) for q in pkts]
        replies = [q for pp, q in ports if pp == (67, 68)]
        self.assertGreaterEqual(len(replies), 2)
        self.assertTrue(all(q["flags"] == 1 and q["comment"] is None
                            for q in replies))
        if not VMNET:
            r = run(["tcpdump", "-r", path, "-n", "udp port 53"])
            self.assertIn("A 10.1.0.3", r.stdout)
            dns = [q for pp, q in ports if pp and pp[0] == 53]
            self.assertTrue(dns and all(q["flags"] == 1 for q in dns))
        # The proxy's connection to the VM's port 7: its SYN comes in.
        proxied = [q for pp, q in ports if pp and pp[1] == 7]
        self.assertTrue(proxied and all(q["flags"] == 1 for q in proxied))
