#!/usr/bin/env python3
"""Line coverage of the module's sources from the gcov data of test VMs.

  coverage.py KO_DIR GCDA_ROOT SOURCE...

KO_DIR holds the module build (its .gcno files, TVH_GCOV=1); GCDA_ROOT one
directory per VM run with the .gcda files tests/vm/stage2.sh copied out of
/sys/kernel/debug/gcov.  Counts of all runs are summed per source line.
Prints "coverage: NN.N% of lines (NNNN/NNNN)", one line per source file,
and, per function, the lines never executed.  Exit status 1 without data.
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile


def gcov_json(gcno_dir, gcda_dir, unit):
    """gcov's JSON for one compilation unit, with gcda_dir's counts."""
    with tempfile.TemporaryDirectory() as tmp:
        os.symlink(os.path.join(gcno_dir, unit + ".gcno"),
                   os.path.join(tmp, unit + ".gcno"))
        gcda = os.path.join(gcda_dir, unit + ".gcda") if gcda_dir else ""
        if gcda and os.path.exists(gcda):
            shutil.copy(gcda, tmp)
        res = subprocess.run(["gcov", "-j", "-t", "-o", tmp, unit + ".c"],
                             cwd=tmp, capture_output=True, text=True,
                             check=False)
        return [json.loads(doc) for doc in res.stdout.splitlines()
                if doc.startswith("{")]


def ranges(nums):
    out, start, prev = [], None, None
    for n in sorted(nums):
        if start is None:
            start = prev = n
        elif n == prev + 1:
            prev = n
        else:
            out.append((start, prev))
            start = prev = n
    if start is not None:
        out.append((start, prev))
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in out)


def main():
    if len(sys.argv) < 4:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    ko_dir, gcda_root = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    sources = sys.argv[3:]
    ours = {os.path.basename(s) for s in sources}
    units = sorted(os.path.basename(g)[:-5]
                   for g in glob.glob(os.path.join(ko_dir, "*.gcno")))
    runs = sorted(d for d in glob.glob(os.path.join(gcda_root, "*"))
                  if glob.glob(os.path.join(d, "*.gcda")))
    if not units or not runs:
        return 1
    counts = {}     # (file, line) -> executions, all runs and units summed
    func_of = {}    # (file, line) -> function name
    func_start = {}  # (file, function) -> first line
    for run in runs:
        for unit in units:
            for doc in gcov_json(ko_dir, run, unit):
                for f in doc.get("files", []):
                    name = os.path.basename(f["file"])
                    if name not in ours:
                        continue
                    for fn in f.get("functions", []):
                        func_start[(name, fn["name"])] = fn["start_line"]
                    for ln in f.get("lines", []):
                        key = (name, ln["line_number"])
                        counts[key] = counts.get(key, 0) + ln["count"]
                        if ln.get("function_name"):
                            func_of[key] = ln["function_name"]
    total = len(counts)
    hit = sum(1 for c in counts.values() if c)
    if not total:
        return 1
    print(f"coverage: {100.0 * hit / total:.1f}% of lines ({hit}/{total}),"
          f" {len(runs)} VM runs")
    for name in sorted({k[0] for k in counts}):
        lines = [c for k, c in counts.items() if k[0] == name]
        print(f"  {name}: {sum(1 for c in lines if c)}/{len(lines)}")
    missed = {}
    for key, c in counts.items():
        if not c:
            fn = func_of.get(key, "?")
            missed.setdefault((key[0], fn), []).append(key[1])
    if missed:
        print("never executed (function: lines):")
    for (name, fn), lines in sorted(
            missed.items(), key=lambda kv: (kv[0][0], func_start.get(kv[0], 0))):
        n_fn = sum(1 for k in counts if k[0] == name and func_of.get(k) == fn)
        whole = " (never called)" if n_fn == len(lines) else ""
        print(f"  {name}: {fn}: {ranges(lines)}{whole}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
