#!/usr/bin/python3
"""Memory per console viewer: vscd beside conserver and ConMan, one run, same machine.

For each server and viewer count: K consoles (unix backend) fed at 115200 baud by
bench/fanout_src, the server's RSS (VmRSS summed over its process tree) read once its
consoles are up, then N viewers per console (plus one stalled viewer on console 0)
attached through bench/fanout_view with each server's own client protocol, and the RSS
read again after --settle seconds of traffic. Reports the difference per viewer.

    bench/viewer_rss.py [--consoles K] [--viewers N,N] [--settle S]
                        [--servers vscd-http,vscd-tls,conserver,conman] [--vscd PATH]
                        [--json FILE]

--vscd measures another build (say, an older commit's build/vscd) under the same names.
Needs `scripts/deps bench` (conserver-server, conman) and `make build` plus the bench
tools (`make bench-viewer-rss` does all). Loopback only; every process it starts is
stopped and its temporary folder removed.
"""
import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time

import fanout  # same folder: servers, source and viewers of the fan-out benchmark


def measure(kind, k, n, settle):
    tmp = tempfile.mkdtemp(prefix="vsc-viewer-rss.")
    run = fanout.Run(kind, "unix", dict(k=k, n=n, rate=fanout.BAUD_BPS, title=""), tmp)
    try:
        run.start()
        time.sleep(1)  # consoles connected, first output buffered
        before = fanout.rss_kib(run.server.pid)[0]
        view = subprocess.Popen([fanout.VIEW, "-d", str(settle + 2), "-w", "1", "-R", "1"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0,
                                start_new_session=True)
        run.procs.append(view)
        view.stdin.write(("\n".join(run.targets) + "\n").encode())
        view.stdin.close()
        line = fanout.readline(view, 90)
        if not line.startswith("ready"):
            raise RuntimeError("fanout_view: " + line)
        time.sleep(settle)
        after = fanout.rss_kib(run.server.pid)[0]
        viewers = k * (n + 1)
        return dict(server=kind, consoles=k, viewers=viewers, rss_before_kib=before,
                    rss_after_kib=after, kib_per_viewer=(after - before) / viewers)
    finally:
        run.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--consoles", type=int, default=64)
    ap.add_argument("--viewers", default="8,32", help="viewers per console (default: %(default)s)")
    ap.add_argument("--settle", type=float, default=3.0)
    ap.add_argument("--servers", default="vscd-http,vscd-tls,conserver,conman")
    ap.add_argument("--vscd", help="the vscd binary to measure (default: build/vscd)")
    ap.add_argument("--json", help="also write every result to this file")
    a = ap.parse_args()
    if a.vscd:
        fanout.VSCD = a.vscd
    for tool in ("conserver", "conmand"):
        if not shutil.which(tool):
            sys.exit(f"{tool} missing: run `scripts/deps bench` as root (make bench-viewer-rss)")
    fanout.build()
    results = []
    print(f"# viewer RSS: {a.consoles} consoles at 115200 baud, {a.settle:g} s of traffic, "
          f"{time.strftime('%Y-%m-%d %H:%M %Z')}\n")
    print("| server | viewers | RSS before KiB | RSS after KiB | KiB per viewer |")
    print("|---|---|---|---|---|")
    for n in (int(x) for x in a.viewers.split(",")):
        for kind in a.servers.split(","):
            r = measure(kind, a.consoles, n, a.settle)
            results.append(r)
            print(f"| {kind} | {r['viewers']} | {r['rss_before_kib']} | {r['rss_after_kib']} "
                  f"| {r['kib_per_viewer']:.1f} |", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
