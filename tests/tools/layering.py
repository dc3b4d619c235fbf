#!/usr/bin/python3
"""softnet's layering check (issue #15): the shape of the daemon, kept.

Theory of operation. A module is a .c file with its .h (osdep_linux.c and
osdep_darwin.c are "osdep", uplink_tap.c and uplink_vmnet.c are "uplink";
client files are "client/NAME"). Two graphs are read between modules:

  - includes: every `#include "..."` of daemon/, client/ and include/ (a
    header's includes count for its module: port.h including filter.h
    makes port use filter);
  - symbols: `nm` on the objects of $(BUILD)/daemon and $(BUILD)/client,
    an edge from the object that uses a function or variable to the one
    that defines it.

It fails (exit 1, one line per violation) on
  (a) a cycle in either graph (one line per strongly connected set);
  (b) an edge the table below does not allow, a daemon module with no row
      in it, a client file including a daemon header or using a symbol
      of a daemon object (other than CLIENT_SHARED), a client object that
      references libevent or sqlite or a client program that needs them;
  (c) a function of daemon/ or client/ longer than MAX_FUNC_LINES (the
      lines between a `{` and a `}` at column 0).
KNOWN_VIOLATIONS lists what the tree had when the check was written; they
are reported as "known" and do not fail. An entry that no longer occurs is
reported as "stale" (remove it); a known cycle also covers a cycle among
a subset of its modules. --self-test builds small trees with each
kind of violation in a temporary directory and checks that each is found.

Usage: layering.py [--root DIR] [--build DIR] [--strict] [-v] [--list]
       layering.py --self-test
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

# --- The layering: module -> the modules it may use (include or call). ---
#
#   main -> control -> ctl_ops -> vm -> {port, expose, leasedb, dhcp}
#   switch -> {port (via callback), filter, dhcp, uplink, gso}
#   filter -> {policy, pkt}; uplink -> pkt only; nothing below calls up;
#   the client -> include/ only.
#
# BASE: leaf utilities every daemon module may use besides its row: they
# use only what their own row says. "softnetd" is the daemon's context
# (struct softnetd, handed to every subsystem): any module may include
# softnetd.h, which embeds the state of the modules in its row; an edge
# into it gives types, not calls, so the include-cycle check skips it (a
# call into softnetd.c still counts in the symbol graph).
BASE = {"log", "xmalloc", "addr", "clock", "softnet_proto", "softnetd",
        "softnet_sys"}
CONTEXT = "softnetd"

ALL = "*"
RULES = {
    "main":      ALL,
    # control shows the proxied-connection limits beside its own in the
    # status reply (expose_limits_json): a read of a lower layer.
    "control":   {"ctl_ops", "ctl_json", "vm", "port", "fdbudget", "osdep",
                  "expose", "events", "capture"},
    "ctl_ops":   {"ctl_json", "vm", "switch", "port", "expose", "leasedb",
                  "dhcp", "bootpd", "fdbudget", "policy", "reserve", "rate",
                  "drop", "config", "osdep", "events",
                  "capture", "dnsfwd"},
    "ctl_json":  {"vm", "switch", "port", "expose", "leasedb", "fdbudget",
                  "policy", "reserve", "rate", "drop", "config", "osdep"},
    "vm":        {"switch", "port", "expose", "leasedb", "dhcp", "bootpd",
                  "fdbudget", "filter", "policy", "reserve", "rate", "drop",
                  "config", "osdep", "events"},
    "switch":    {"port", "filter", "dhcp", "uplink", "gso", "expose",
                  "bootpd", "rate", "drop", "pkt", "frame", "osdep",
                  "events", "capture"},
    # The Prometheus endpoint (issue #16): reads every module's counters.
    "metrics_http": {"metrics", "control", "config", "osdep"},
    "metrics":   {"ctl_ops", "vm", "switch", "port", "leasedb", "dhcp",
                  "drop", "osdep"},
    "dnsfwd":    {"port", "fdbudget", "pkt", "frame", "osdep"},
    "expose":    {"port", "fdbudget", "policy", "pkt", "frame", "osdep"},
    "bootpd":    {"port", "leasedb", "osdep"},
    "fdbudget":  {"port", "osdep"},
    "port":      {"filter", "policy", "rate", "drop", "pkt", "frame",
                  "osdep", "events", "capture"},
    # The event stream (issue #16): below everything that reports; the
    # control server lends it a transport (no call up into control).
    "events":    set(),
    # Packet capture (issue #16): below port, switch, ctl_ops, control.
    "capture":   {"drop", "pkt", "frame", "osdep"},
    "dhcp":      {"leasedb", "rate", "drop", "reserve", "pkt", "frame"},
    "leasedb":   {"reserve"},
    "config":    {"policy", "rate", "reserve", "dhcp", "drop", "uplink"},
    "filter":    {"policy", "drop", "pkt", "frame"},
    "gso":       {"pkt", "frame"},
    "uplink":    {"pkt", "frame", "osdep"},
    "hostaddr":  {"osdep"},
    "pathcheck": {"osdep"},
    "osdep":     {"pkt", "frame"},
    "policy":    set(),
    "reserve":   set(),
    "rate":      set(),
    "drop":      set(),
    "frame":     {"pkt"},
    "pkt":       set(),
    # The context, and the BASE modules (their rows are all they may use).
    "softnetd":  {"config", "dhcp", "fdbudget", "filter", "uplink", "drop",
                  "policy", "rate", "leasedb", "pkt", "frame", "log",
                  "xmalloc", "addr", "clock", "softnet_proto"},
    "xmalloc":   {"log"},
    "log":       set(),
    "addr":      {"softnet_proto"},
    "clock":     set(),
    "softnet_proto": set(),
    "softnet_sys":   {"softnet_proto"},
}

# The client (client/*) may include only client/ and include/ headers and
# use only symbols of client/ objects and of these shared modules (what it
# shares with the daemon: opening a TAP, close-on-exec sockets). Its name
# here (and in BASE and RULES) is the one issue #15's client work planned:
# rename it to the module that branch created.
CLIENT_SHARED = {"softnet_sys"}
# Undefined symbols a client object may not reference: libevent, sqlite.
CLIENT_FORBIDDEN_EXTERNS = ("event_", "evutil_", "evbuffer_", "evconn",
                            "bufferevent_", "evdns_", "evhttp_", "sqlite3_")

# The client's programs may not need these libraries (ELF: readelf -d).
CLIENT_PROGRAMS = ("softnetctl", "softnet")
CLIENT_FORBIDDEN_LIBS = ("libevent", "libsqlite3")

ALIASES = {"osdep_linux": "osdep", "osdep_darwin": "osdep",
           "uplink_tap": "uplink", "uplink_vmnet": "uplink"}
SRC_DIRS = ("daemon", "client", "include")
# Sources built only on the other platform have no object in $(BUILD).
OTHER_PLATFORM = ({"osdep_darwin", "uplink_vmnet"} if sys.platform != "darwin"
                  else {"osdep_linux", "uplink_tap"})
MAX_FUNC_LINES = 80

# Known violations to be removed: none. A change that needs one names it
# here with the issue that removes it; a stale entry is reported.
KNOWN_VIOLATIONS = set()


def module_of(path):
    """Returns the module a source path belongs to."""
    d, base = os.path.split(path)
    stem = ALIASES.get(os.path.splitext(base)[0], os.path.splitext(base)[0])
    return "client/" + stem if os.path.basename(d) == "client" else stem


def is_client(mod):
    """Whether a module is one of the client's."""
    return mod.startswith("client/")


def sources(root):
    """Returns the .c and .h files of SRC_DIRS, relative to root."""
    out = []
    for d in SRC_DIRS:
        full = os.path.join(root, d)
        if not os.path.isdir(full):
            continue
        for name in sorted(os.listdir(full)):
            if name.endswith((".c", ".h")):
                out.append(os.path.join(d, name))
    return out


def include_edges(root, files):
    """Returns {(from module, to module): [(file, header)]} of the tree."""
    by_name = {}
    for f in files:
        if f.endswith(".h"):
            by_name.setdefault(os.path.basename(f), []).append(f)
    edges = {}
    for f in files:
        src_dir = os.path.dirname(f)
        with open(os.path.join(root, f), encoding="utf-8",
                  errors="replace") as fp:
            for line in fp:
                m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                if not m:
                    continue
                cands = by_name.get(os.path.basename(m.group(1)), [])
                if not cands:
                    continue  # not one of ours (a test fake, a system file)
                # The compiler's order: the file's own directory first.
                same = [c for c in cands if os.path.dirname(c) == src_dir]
                hdr = (same or cands)[0]
                a, b = module_of(f), module_of(hdr)
                if a != b:
                    edges.setdefault((a, b), []).append((f, hdr))
    return edges


def nm_symbols(obj):
    """Returns (defined, undefined) global symbol names of an object."""
    out = subprocess.run(["nm", "-P", obj], check=True, capture_output=True,
                         text=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        name, kind = fields[0], fields[1]
        if sys.platform == "darwin" and name.startswith("_"):
            name = name[1:]
        if kind == "U":
            undefined.add(name)
        elif kind in "TDBRCVWGS":
            defined.add(name)
    return defined, undefined


def symbol_edges(build, files, problems):
    """Returns ({(user, definer): {symbol}}, {module: externs}) from nm."""
    objs = []
    for f in files:
        stem = os.path.splitext(os.path.basename(f))[0]
        if not f.endswith(".c") or stem in OTHER_PLATFORM:
            continue
        obj = os.path.join(build, os.path.splitext(f)[0] + ".o")
        if not os.path.exists(obj):
            problems.append("missing object %s: build first" % obj)
            continue
        objs.append((module_of(f), obj))
    definer, used = {}, []
    for mod, obj in objs:
        defined, undefined = nm_symbols(obj)
        for s in defined:
            definer.setdefault(s, mod)
        used.append((mod, undefined))
    edges, externs = {}, {}
    for mod, undefined in used:
        for s in undefined:
            if s not in definer:
                externs.setdefault(mod, set()).add(s)
            elif definer[s] != mod:
                edges.setdefault((mod, definer[s]), set()).add(s)
    return edges, externs


def program_libs(build):
    """Yields (program, forbidden name, library) for the client's programs."""
    if sys.platform == "darwin" or not shutil.which("readelf"):
        return
    for prog in CLIENT_PROGRAMS:
        path = os.path.join(build, prog)
        if not os.path.exists(path):
            continue
        out = subprocess.run(["readelf", "-d", path], check=True,
                             capture_output=True, text=True).stdout
        for lib in re.findall(r"\(NEEDED\).*\[([^]]+)\]", out):
            for bad in CLIENT_FORBIDDEN_LIBS:
                if lib.startswith(bad):
                    yield prog, bad, lib


def allowed(a, b, header_dirs=None):
    """Whether module a may use module b (header_dirs: b's header dirs)."""
    if is_client(a) or a in CLIENT_SHARED:
        if is_client(b) and is_client(a):
            return True
        if header_dirs is not None:  # an include: only include/ headers
            return all(d == "include" for d in header_dirs)
        return b in CLIENT_SHARED    # a symbol: only the shared source
    if is_client(b):
        return False
    row = RULES.get(a)
    if row is None:
        return True  # reported once as a module without a row
    if row == ALL:
        return True
    return b in row or (a not in BASE and b in BASE)


def sccs(graph):
    """Returns the strongly connected sets (more than one node) of graph."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(n):
        index[n] = low[n] = counter[0]
        counter[0] += 1
        stack.append(n)
        on.add(n)
        for w in sorted(graph.get(n, ())):
            if w not in index:
                visit(w)
                low[n] = min(low[n], low[w])
            elif w in on:
                low[n] = min(low[n], index[w])
        if low[n] == index[n]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == n:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for n in sorted(graph):
        if n not in index:
            visit(n)
    return out


def cycle_path(graph, comp):
    """Returns one shortest cycle through the first node of comp."""
    start, members = comp[0], set(comp)
    prev, queue = {start: None}, [start]
    while queue:
        n = queue.pop(0)
        for w in sorted(graph.get(n, ())):
            if w not in members:
                continue
            if w == start:
                path = [n]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if w not in prev:
                prev[w] = n
                queue.append(w)
    return comp + [start]


def long_functions(root, files):
    """Yields (file, function, lines) for functions over MAX_FUNC_LINES."""
    for f in files:
        if not f.endswith(".c") or f.startswith("include"):
            continue
        with open(os.path.join(root, f), encoding="utf-8",
                  errors="replace") as fp:
            lines = fp.read().split("\n")
        start = name = None
        for i, line in enumerate(lines):
            if line.rstrip() == "{" and start is None:
                start, name = i, "?"
                # The name: the identifier before "(" in the signature.
                for j in range(i - 1, max(i - 8, -1), -1):
                    m = re.search(r"(\w+)\s*\(", lines[j])
                    if m and not lines[j].startswith((" ", "\t")):
                        name = m.group(1)
                        break
            elif line.startswith("}") and start is not None:
                if i - start - 1 > MAX_FUNC_LINES:
                    yield f, name, i - start - 1
                start = None


def known_entry(key, known):
    """Returns the KNOWN_VIOLATIONS entry that covers key, or None. A known
    cycle also covers any cycle among a subset of its modules (a cycle that
    shrank as the code was untangled)."""
    if key in known:
        return key
    if not key.startswith("cycle "):
        return None
    kind, members = key.split()[1], set(key.split()[2:])
    for k in sorted(known):
        f = k.split()
        if f[0] == "cycle" and f[1] == kind and members <= set(f[2:]):
            return k
    return None


def check(root, build, known):
    """Returns (violations, notes) as sorted keyed lines."""
    files = sources(root)
    problems = []
    found = {}  # key -> message

    inc = include_edges(root, files)
    syms, externs = symbol_edges(build, files, problems)

    header_dirs = {}
    for f in files:
        if f.endswith(".h"):
            header_dirs.setdefault(module_of(f), set()).add(os.path.dirname(f))
    modules = {module_of(f) for f in files}
    for m in sorted(modules):
        if not is_client(m) and m not in RULES:
            found["norule %s" % m] = (
                "module %s has no row in the layering table" % m)

    for (a, b), where in sorted(inc.items()):
        if not allowed(a, b, header_dirs.get(b, set())):
            found["include %s -> %s" % (a, b)] = "forbidden include: %s" % (
                ", ".join("%s includes %s" % w for w in where))
    for (a, b), names in sorted(syms.items()):
        if not allowed(a, b):
            found["symbol %s -> %s" % (a, b)] = (
                "forbidden call: %s uses %s of %s" % (
                    a, ", ".join(sorted(names)), b))
    for m, names in sorted(externs.items()):
        if not is_client(m):
            continue
        bad = sorted(n for n in names if n.startswith(CLIENT_FORBIDDEN_EXTERNS))
        if bad:
            found["extern %s" % m] = (
                "client %s references libevent/sqlite: %s" % (
                    m, ", ".join(bad)))

    for prog, bad, lib in program_libs(build):
        found["link %s %s" % (prog, bad)] = (
            "client program %s needs %s" % (prog, lib))

    for kind, edges, skip in (("include", inc, CONTEXT),
                              ("symbol", syms, None)):
        graph = {}
        for a, b in edges:
            if b != skip:
                graph.setdefault(a, set()).add(b)
        for comp in sccs(graph):
            found["cycle %s %s" % (kind, " ".join(comp))] = (
                "%s cycle through %s: %s" % (kind, ", ".join(comp),
                                             " -> ".join(cycle_path(graph,
                                                                    comp))))

    for f, name, n in long_functions(root, files):
        found["long %s:%s" % (f, name)] = "%s: %s is %d lines (max %d)" % (
            f, name, n, MAX_FUNC_LINES)

    violations, notes, used = [], [], set()
    for key in sorted(found):
        entry = known_entry(key, known)
        if entry:
            used.add(entry)
            notes.append("known: %s [%s]" % (found[key], key))
        else:
            violations.append("layering: %s [%s]" % (found[key], key))
    for key in sorted(known - used):
        notes.append("stale: %s (no longer occurs: remove it from "
                     "KNOWN_VIOLATIONS)" % key)
    violations = ["layering: %s" % p for p in problems] + violations
    return violations, notes


def rules_acyclic():
    """Returns a cycle of the RULES table itself, or None: obeying an acyclic
    table, a tree cannot have a file cycle except through the context."""
    graph = {}
    for a, row in RULES.items():
        if row == ALL:
            continue
        targets = set(row) | (BASE if a not in BASE else set())
        graph[a] = {b for b in targets if b != CONTEXT and b != a}
    comps = sccs(graph)
    return cycle_path(graph, comps[0]) if comps else None


def run(root, build, strict, verbose, listing):
    """Runs the check on a tree; returns the exit status."""
    cyc = rules_acyclic()
    if cyc:
        print("layering: the RULES table has a cycle: %s" % " -> ".join(cyc))
        return 1
    if listing:
        violations, _ = check(root, build, set())
        for v in violations:
            m = re.search(r"\[(.*)\]$", v)
            print('    "%s",' % m.group(1) if m else v)
        return 0
    violations, notes = check(root, build, set(KNOWN_VIOLATIONS))
    stale = [n for n in notes if n.startswith("stale")]
    for n in notes:
        if verbose or n.startswith("stale"):
            print("layering: %s" % n)
    for v in violations:
        print(v)
    if violations or (strict and stale):
        print("layering: FAILED: %d violation(s)" % len(violations))
        return 1
    print("layering: ok: no new violation; %d known to remove (-v lists "
          "them), %d stale" % (len(notes) - len(stale), len(stale)))
    return 0


# --- --self-test: small trees, each with one kind of violation. ---

FIXTURE_OK = {
    "include/softnet_proto.h": "#define SOFTNET_X 1\n",
    "include/pkt.h": "int pkt_len(void);\n",
    "daemon/pkt.c": '#include "pkt.h"\nint pkt_len(void) { return 1; }\n',
    "daemon/filter.h": '#include "pkt.h"\nint filter_ok(void);\n',
    "daemon/filter.c": ('#include "filter.h"\n'
                        "int filter_ok(void) { return pkt_len(); }\n"),
    "daemon/port.h": '#include "filter.h"\nint port_read(void);\n',
    "daemon/port.c": ('#include "port.h"\n'
                      "int port_read(void) { return filter_ok(); }\n"),
    "daemon/switch.h": "int switch_run(void);\n",
    "daemon/switch.c": ('#include "port.h"\n#include "switch.h"\n'
                        "int switch_run(void) { return port_read(); }\n"),
    "client/client.h": '#include "softnet_proto.h"\nint client_go(void);\n',
    "client/client.c": ('#include "client.h"\n'
                        "int client_go(void) { return SOFTNET_X; }\n"),
    "client/cmd_x.c": ('#include "client.h"\nint cmd_x(void);\n'
                       "int\ncmd_x(void)\n{\n" + "\tclient_go();\n" * 79 +
                       "\treturn 0;\n}\n"),
}

# name -> (files changed from FIXTURE_OK, keys the check must report)
FIXTURE_CASES = {
    "clean tree": ({}, set()),
    "cycle port <-> switch": (
        {"daemon/port.c": ('#include "port.h"\n#include "switch.h"\n'
                           "int port_read(void) { return switch_run(); }\n")},
        {"include port -> switch", "symbol port -> switch",
         "cycle include port switch", "cycle symbol port switch"}),
    "forbidden edge gso -> port": (
        {"daemon/gso.c": ('#include "port.h"\nint gso_x(void);\n'
                          "int gso_x(void) { return port_read(); }\n")},
        {"include gso -> port", "symbol gso -> port"}),
    "client includes a daemon header": (
        {"client/client.c": ('#include "client.h"\n#include "port.h"\n'
                             "int client_go(void) { return port_read(); }\n")},
        {"include client/client -> port", "symbol client/client -> port"}),
    "client object calls libevent": (
        {"client/client.c": ('#include "client.h"\nvoid *event_base_new(void);\n'
                             "int client_go(void) "
                             "{ return event_base_new() != 0; }\n")},
        {"extern client/client"}),
    "module without a row": (
        {"daemon/newmod.c": "int newmod_x(void);\nint newmod_x(void) "
                            "{ return 0; }\n"},
        {"norule newmod"}),
    "client program needs libevent": (
        {"LINK softnetctl": "-Wl,--no-as-needed -levent"},
        {"link softnetctl libevent"}),
    "function over 80 lines": (
        {"client/cmd_x.c": ('#include "client.h"\nint cmd_x(void);\n'
                            "int\ncmd_x(void)\n{\n" + "\tclient_go();\n" * 80 +
                            "\treturn 0;\n}\n")},
        {"long client/cmd_x.c:cmd_x"}),
}


def build_fixture(tmp, files):
    """Writes a fixture tree and compiles its .c files into tmp/build."""
    for path, text in files.items():
        if path.startswith("LINK "):
            continue
        full = os.path.join(tmp, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as fp:
            fp.write(text)
    for path in files:
        if path.endswith(".c"):
            obj = os.path.join(tmp, "build", path[:-2] + ".o")
            os.makedirs(os.path.dirname(obj), exist_ok=True)
            subprocess.run(["cc", "-c", "-w", "-Iinclude", "-Idaemon",
                            "-Iclient", "-o", obj, path], cwd=tmp, check=True)
    for path, flags in files.items():
        if path.startswith("LINK "):  # a client program, linked as told
            objs = ["build/" + f[:-2] + ".o" for f in files
                    if f.startswith("client/") and f.endswith(".c")]
            main = os.path.join(tmp, "main.c")
            with open(main, "w") as fp:
                fp.write("int main(void) { return 0; }\n")
            subprocess.run(["cc", "-o", "build/" + path.split()[1], main] +
                           objs + flags.split(), cwd=tmp, check=True)


def self_test():
    """Checks that every fixture case reports exactly its violations."""
    failed = 0
    for name, (change, want) in FIXTURE_CASES.items():
        files = dict(FIXTURE_OK)
        files.update(change)
        with tempfile.TemporaryDirectory() as tmp:
            build_fixture(tmp, files)
            violations, _ = check(tmp, os.path.join(tmp, "build"), set())
            got = {re.search(r"\[(.*)\]$", v).group(1) for v in violations
                   if v.endswith("]")}
            problems = [v for v in violations if not v.endswith("]")]
            # Known entries silence what they name and report stale ones.
            quiet, notes = check(tmp, os.path.join(tmp, "build"),
                                 want | {"long nowhere.c:gone"})
        ok = got == want and not problems and not quiet and any(
            n.startswith("stale: long nowhere.c:gone") for n in notes)
        print("layering self-test: %s: %s" % (name, "ok" if ok else "FAILED"))
        if not ok:
            failed += 1
            print("  want %s\n  got  %s" % (sorted(want), sorted(got)))
            for v in problems + quiet:
                print("  " + v)
    if rules_acyclic():
        print("layering self-test: RULES table has a cycle: FAILED")
        failed += 1
    print("layering self-test: %s" % ("FAILED" if failed else
                                      "%d cases ok" % len(FIXTURE_CASES)))
    return 1 if failed else 0


def main():
    """Parses the command line and runs the check or the self-test."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=".", help="source tree (.)")
    ap.add_argument("--build", default="build", help="build directory")
    ap.add_argument("--strict", action="store_true",
                    help="a stale KNOWN_VIOLATIONS entry fails too")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="list the known violations too")
    ap.add_argument("--list", action="store_true",
                    help="print every violation's key, as KNOWN_VIOLATIONS "
                    "lines, and exit 0")
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    return run(args.root, os.path.join(args.root, args.build)
               if not os.path.isabs(args.build) else args.build, args.strict,
               args.verbose, args.list)


if __name__ == "__main__":
    sys.exit(main())
