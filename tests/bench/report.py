#!/usr/bin/env python3
"""Turn tests/bench raw results into results.md, results.json and a gnuplot chart.

    report.py OUTDIR

Reads OUTDIR/raw/{vsc,mem,fio}.jsonl (one JSON object a line, tagged with module and
round), takes the median over rounds of every point, and writes:
  results.json  every point: per-round values, medians, spread, ratios
  results.md    markdown tables (tcm_vhost/vhost_scsi and guest/native ratios)
  chart.dat, chart.gp  (chart.png is drawn by run.sh with gnuplot)
Performance is reported, never judged: no thresholds.
"""
import json
import os
import statistics
import sys

A, B = "tcm_vhost", "vhost_scsi"
# vhost_scsi with a vhost worker per request queue (QEMU's worker_per_virtqueue=on,
# vsc-load --worker-per-vq): libvsc matrix only, on kernels that offer it (6.5 on)
C = "vhost_scsi-wpv"


def load(path):
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return rows


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def spread(vals):
    """(max-min)/median over rounds, in percent: how much the rounds disagree."""
    vals = [v for v in vals if v is not None]
    if len(vals) < 2:
        return None
    m = statistics.median(vals)
    return round(100.0 * (max(vals) - min(vals)) / m, 1) if m else None


def ratio(a, b):
    if a is None or b is None or not b:
        return None
    return a / b


def fnum(v, unit=""):
    if v is None:
        return "-"
    if abs(v) >= 100:
        s = f"{v:,.0f}"
    elif abs(v) >= 10:
        s = f"{v:.1f}"
    else:
        s = f"{v:.2f}"
    return s + unit


def fpct(r):
    return "-" if r is None else f"{100.0 * r:.0f}%"


def fspread(s):
    return "" if s is None else f"±{s / 2:.0f}%"


def main():
    out = sys.argv[1]
    raw = os.path.join(out, "raw")
    res = {"libvsc": [], "memory": [], "fio": [], "settings": None}
    st = os.path.join(raw, "settings.txt")
    if os.path.exists(st):
        res["settings"] = open(st).read().strip().splitlines()

    # ---------------------------------------------------------------- libvsc matrix
    pts = {}
    for r in load(os.path.join(raw, "vsc.jsonl")):
        mod, _, rnd = r.get("label", "").partition("/")
        if mod == C and r.get("workers") != "per-vq":
            continue    # the kernel kept one worker: not this implementation
        key = (r["pattern"], r["read_pct"], r["queues"], r["iodepth"])
        pts.setdefault(key, {}).setdefault(mod, []).append(r)
    wpv = any(C in p for p in pts.values())
    mods = (A, B, C) if wpv else (A, B)
    md = []
    md.append("## libvsc in L1, no guest (tests/bin/vsc-load, 1 rd_mcp LUN)\n")
    md.append("Medians over rounds; ± is half the spread (max-min)/median of the IOPS over "
              "rounds. Ratio = tcm_vhost / vhost_scsi. CPU: busy time of all vCPUs per "
              "command, in brackets the load generator's own part (the rest is the kernel: "
              "the module, target_core, rd_mcp, interrupts); busy: share of all vCPUs busy "
              "(100% = the machine is saturated, so the CPU cost per command decides). "
              "From 6.10 on, vhost_scsi's workers are threads of the load generator's "
              "process, so its bracket includes them. ctx sw/cmd: context switches of all "
              "vCPUs per command.\n")
    if wpv:
        md.append(f"{C}: vhost_scsi with a vhost worker per request queue (QEMU's "
                  "worker_per_virtqueue=on), run in the same rounds; ratio wpv = tcm_vhost / "
                  f"{C}. With one request queue the two vhost_scsi modes are the same setup.\n")
    wh = f" {C} IOPS | ratio wpv |" if wpv else ""
    cw = " CPU us/cmd wpv (client) |" if wpv else ""
    md.append("| pattern | rd% | queues | QD/queue | tcm_vhost IOPS | vhost_scsi IOPS | "
              f"ratio |{wh} tcm_vhost MB/s | vhost_scsi MB/s | p50 us (tv/vs) | p99 us (tv/vs) | "
              f"CPU us/cmd tv (client) | CPU us/cmd vs (client) |{cw} busy % (tv/vs) | "
              f"ctx sw/cmd (tv/vs{'/wpv' if wpv else ''}) |")
    md.append("|" + " --- |" * (18 if wpv else 15))
    chart = []
    for key in sorted(pts, key=lambda k: (k[0], -k[1], k[2], k[3])):
        pat, pct, q, d = key
        e = {"pattern": pat, "read_pct": pct, "queues": q, "iodepth": d}
        for mod in mods:
            rows = pts[key].get(mod, [])
            e[mod] = {
                "rounds": [{k: x.get(k) for k in ("iops", "mbps", "lat_p50_us", "lat_p99_us",
                                                   "errors", "error")} for x in rows],
                "iops": med([x["iops"] for x in rows]),
                "mbps": med([x["mbps"] for x in rows]),
                "lat_p50_us": med([x["lat_p50_us"] for x in rows]),
                "lat_p99_us": med([x["lat_p99_us"] for x in rows]),
                "cpu_us_per_io": med([x.get("cpu_us_per_io", 0) for x in rows]),
                "client_us_per_io": med([x.get("client_us_per_io", 0) for x in rows]),
                "cpu_busy_pct": med([x.get("cpu_busy_pct", 0) for x in rows]),
                "ctxsw_per_io": med([x.get("ctxsw_per_io", 0) for x in rows]),
                "spread_pct": spread([x["iops"] for x in rows]),
                "errors": sum(x.get("errors", 0) for x in rows),
            }
        e["ratio_iops"] = ratio(e[A]["iops"], e[B]["iops"])
        wc = cc = ""
        if wpv:
            e["ratio_iops_wpv"] = ratio(e[A]["iops"], e[C]["iops"])
            c = e[C]
            wc = (f" {fnum(c['iops'])} {fspread(c['spread_pct'])} | "
                  f"**{fpct(e['ratio_iops_wpv'])}** |")
            cc = f" {fnum(c['cpu_us_per_io'])} ({fnum(c['client_us_per_io'])}) |"
        res["libvsc"].append(e)
        a, b = e[A], e[B]
        md.append(f"| {pat} | {pct} | {q} | {d} | {fnum(a['iops'])} {fspread(a['spread_pct'])} | "
                  f"{fnum(b['iops'])} {fspread(b['spread_pct'])} | **{fpct(e['ratio_iops'])}** |{wc} "
                  f"{fnum(a['mbps'])} | {fnum(b['mbps'])} | "
                  f"{fnum(a['lat_p50_us'])} / {fnum(b['lat_p50_us'])} | "
                  f"{fnum(a['lat_p99_us'])} / {fnum(b['lat_p99_us'])} | "
                  f"{fnum(a['cpu_us_per_io'])} ({fnum(a['client_us_per_io'])}) | "
                  f"{fnum(b['cpu_us_per_io'])} ({fnum(b['client_us_per_io'])}) |{cc} "
                  f"{fnum(a['cpu_busy_pct'])} / {fnum(b['cpu_busy_pct'])} | "
                  + " / ".join(fnum(e[m]["ctxsw_per_io"]) for m in mods) + " |")
        chart.append((f"{pat[:6]} r{pct} q{q} d{d}", e["ratio_iops"]))
    errs = sum(e[m]["errors"] for e in res["libvsc"] for m in mods)
    if errs:
        md.append(f"\n{errs} SCSI command(s) failed during the libvsc runs (see raw/vsc.err).")
    probe = load(os.path.join(raw, "wpv-probe.json"))
    if probe:
        res["wpv_probe"] = probe[0].get("workers")
        if res["wpv_probe"] != "per-vq":
            md.append(f"\n{C} not measured: this kernel's vhost_scsi has no worker per "
                      "virtqueue (VHOST_NEW_WORKER answered ENOTTY).")

    # ---------------------------------------------------------------- memory
    mem = {}
    for r in load(os.path.join(raw, "mem.jsonl")):
        mod, _, rnd = r.get("label", "").partition("/")
        mem.setdefault(r["queues"], {}).setdefault(mod, []).append(r)
    if mem:
        md.append("\n## Kernel memory per device (tests/bin/vsc-mem, ring 128)\n")
        md.append("endpoint = -ΔMemFree across VHOST_SCSI_SET_ENDPOINT (Slab part in brackets); "
                  "open = -ΔMemFree across open+SET_OWNER+rings minus the process's own pages; "
                  "medians over rounds of per-round averages. Ratio on the total.\n")
        md.append("| request queues | tcm_vhost endpoint KiB | vhost_scsi endpoint KiB | "
                  "tcm_vhost open KiB | vhost_scsi open KiB | tcm_vhost total KiB | "
                  "vhost_scsi total KiB | ratio |")
        md.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for q in sorted(mem):
            e = {"queues": q}
            for mod in (A, B):
                rows = mem[q].get(mod, [])
                e[mod] = {k: med([x[k] for x in rows]) for k in
                          ("endpoint_kb", "endpoint_slab_kb", "endpoint_vmalloc_kb", "open_kb",
                           "total_kb")}
                e[mod]["rounds"] = rows
            e["ratio_total"] = ratio(e[A]["total_kb"], e[B]["total_kb"])
            res["memory"].append(e)
            a, b = e[A], e[B]
            md.append(f"| {q} | {fnum(a['endpoint_kb'])} ({fnum(a['endpoint_slab_kb'])}) | "
                      f"{fnum(b['endpoint_kb'])} ({fnum(b['endpoint_slab_kb'])}) | "
                      f"{fnum(a['open_kb'])} | {fnum(b['open_kb'])} | {fnum(a['total_kb'])} | "
                      f"{fnum(b['total_kb'])} | **{fpct(e['ratio_total'])}** |")
            chart.append((f"mem q{q}", e["ratio_total"]))

    # ---------------------------------------------------------------- fio
    fio = {}
    for r in load(os.path.join(raw, "fio.jsonl")):
        key = (r["bs"], r["read_pct"], r["luns"])
        fio.setdefault(key, {}).setdefault(r["target"], []).append(r)
    if fio:
        ga, gb, nat = "guest-" + A, "guest-" + B, "native"
        md.append("\n## The seed's table: fio (libaio, direct) in a nested L2 guest vs native "
                  "(tcm_loop in L1)\n")
        md.append("4k: randrw QD32; 1M: sequential rw QD16; numjobs and LUN size in the "
                  "settings below. IOPS for 4k, MB/s for 1M; medians over rounds (± half-spread). "
                  "Ratios: guest/native for each module, and tcm_vhost/vhost_scsi.\n")
        md.append("| workload | LUNs | rd/wr | guest via tcm_vhost | guest via vhost_scsi | "
                  "native (tcm_loop) | tcm_vhost/native | vhost_scsi/native | "
                  "tcm_vhost/vhost_scsi |")
        md.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for key in sorted(fio, key=lambda k: (k[0] != "4k", -k[1], k[2])):
            bs, pct, n = key
            metric = "iops" if bs == "4k" else "mbps"
            e = {"bs": bs, "read_pct": pct, "luns": n, "metric": metric}
            for t in (ga, gb, nat):
                rows = fio[key].get(t, [])
                e[t] = {"rounds": rows, metric: med([x[metric] for x in rows]),
                        "spread_pct": spread([x[metric] for x in rows])}
            e["ratio_tcm_vhost_native"] = ratio(e[ga][metric], e[nat][metric])
            e["ratio_vhost_scsi_native"] = ratio(e[gb][metric], e[nat][metric])
            e["ratio_tcm_vhost_vhost_scsi"] = ratio(e[ga][metric], e[gb][metric])
            res["fio"].append(e)
            unit = " IOPS" if metric == "iops" else " MB/s"
            cell = lambda t: f"{fnum(e[t][metric], unit)} {fspread(e[t]['spread_pct'])}"
            md.append(f"| {bs} | {n} | {pct}/{100 - pct} | {cell(ga)} | {cell(gb)} | {cell(nat)} | "
                      f"{fpct(e['ratio_tcm_vhost_native'])} | {fpct(e['ratio_vhost_scsi_native'])} | "
                      f"**{fpct(e['ratio_tcm_vhost_vhost_scsi'])}** |")
            chart.append((f"fio {bs} r{pct} {n}L", e["ratio_tcm_vhost_vhost_scsi"]))

    ht = os.path.join(raw, "host.txt")
    if os.path.exists(ht):
        res["host"] = open(ht).read().strip().splitlines()
        res["settings"] = (res["settings"] or []) + res["host"]
    if res["settings"]:
        md.append("\n## Settings\n")
        md.append("```")
        md.extend(res["settings"])
        md.append("```")
    sl = os.path.join(raw, "steps.log")
    if os.path.exists(sl):
        ev = [l.split() for l in open(sl) if l.strip()]
        starts = [e[1] for e in ev if e[0] == "start"]
        vms = sum(1 for e in ev if e[0] == "end")
        again = sorted({x for x in starts if starts.count(x) > 1})
        lost = [e[1] for e in ev if e[0] == "lost"]
        res["steps"] = {"started": starts, "run_again": again, "lost": lost,
                        "failed": [e[1] for e in ev if e[0] == "done" and e[2] == "failed"]}
        md.append("\n## Steps\n")
        md.append(f"{len(set(starts))} steps started; VMs that reached the end of the plan: {vms} "
                  "(the VMs' wall times are under Settings).")
        if again:
            md.append(f"Run again in another VM after their VM stopped: {', '.join(again)}.")
        if lost:
            md.append(f"Given up after stopping two VMs: {', '.join(lost)}.")
    tl = os.path.join(raw, "timing.log")
    if os.path.exists(tl):
        fails = [l.strip() for l in open(tl) if "FAILED" in l]
        if fails:
            md.append("\n## Failures\n")
            md.extend(f"- {l}" for l in fails)

    text = "# tcm_vhost vs vhost_scsi\n\n" + "\n".join(md) + "\n"
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)

    # ---------------------------------------------------------------- chart
    with open(os.path.join(out, "chart.dat"), "w") as f:
        for i, (name, r) in enumerate(chart):
            f.write(f'{i} "{name}" {100.0 * r if r is not None else "NaN"}\n')
    w = max(900, 28 * len(chart) + 200)
    with open(os.path.join(out, "chart.gp"), "w") as f:
        f.write(f"""set terminal pngcairo size {w},600 noenhanced font ",10"
set output "{os.path.join(out, 'chart.png')}"
set title "tcm_vhost / vhost_scsi, median over rounds (100% = same; memory: lower is less)"
set ylabel "tcm_vhost / vhost_scsi (%)"
set style fill solid 0.6 border -1
set boxwidth 0.7
set grid ytics
set xtics rotate by -60 font ",8"
set yrange [0:*]
set key off
plot "{os.path.join(out, 'chart.dat')}" using 1:3:xtic(2) with boxes lc rgb "#3070b0", \\
     100 with lines lc rgb "#c03030" dt 2
""")
    print(text)


if __name__ == "__main__":
    main()
