#!/usr/bin/env python3
"""Per-thread scheduler statistics for tests/bench/prof.sh, grouped by thread name.

    prof-sched.py snap FILE     # save the counters of every vsc-load, vhost and kworker thread
    prof-sched.py diff A B      # print what each kind of thread did between two snapshots

Threads are matched by id, then grouped by their name in B with digits folded
(vhost-1234-io0 -> vhost-N-ioN). iowait_* need kernel.sched_schedstats=1 (prof.sh sets it). Times are in ms.
"""
import json
import os
import re
import sys

KEYS = ("se.sum_exec_runtime", "nr_voluntary_switches", "nr_involuntary_switches",
        "iowait_count", "iowait_sum")


def snap(path):
    threads = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            tids = os.listdir("/proc/%s/task" % pid)
        except OSError:
            continue
        for tid in tids:
            base = "/proc/%s/task/%s/" % (pid, tid)
            try:
                comm = open(base + "comm").read().strip()
                sched = open(base + "sched").read()
            except OSError:
                continue
            if not re.match(r"(vsc-load|vhost-|kworker)", comm):
                continue
            t = threads[tid] = {"comm": comm}
            for k in KEYS:
                m = re.search(r"^\S*%s\s+:\s+([\d.]+)" % re.escape(k), sched, re.M)
                if m:
                    t[k] = float(m.group(1))
    json.dump(threads, open(path, "w"))


def diff(a_path, b_path):
    """Per thread present in both, grouped by its name at the end (a kworker's name
    follows the work it runs)."""
    a, b = json.load(open(a_path)), json.load(open(b_path))
    groups = {}
    for tid, tb in b.items():
        ta = a.get(tid)
        if not ta:
            continue
        g = groups.setdefault(re.sub(r"\d+", "N", tb["comm"]), [0.0] * len(KEYS))
        for i, k in enumerate(KEYS):
            g[i] += tb.get(k, 0.0) - ta.get(k, 0.0)
    print("%-40s %10s %8s %8s %8s %10s" % ("threads", "run ms", "vol sw", "invol sw",
                                           "io waits", "io wait ms"))
    for name in sorted(groups):
        d = groups[name]
        if any(x > 0 for x in d):
            print("%-40s %10.1f %8d %8d %8d %10.1f" % (name, d[0], d[1], d[2], d[3], d[4]))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "snap":
        snap(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "diff":
        diff(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
