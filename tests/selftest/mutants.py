#!/usr/bin/env python3
"""Does the suite catch a broken module?

Builds tcm_vhost with one deliberate bug at a time (a "mutant") and runs the
functional suite against it in the test VM.  Every mutant must make the suite
fail; a mutant the suite passes is a hole in the tests.

    tests/selftest/mutants.py [NAME...]      (default: all)

Prints PASS/FAIL lines (selftest/<name>) and "N passed, N failed".
Not part of make check (each mutant costs a VM run): make mutants.
"""
import os
import shutil
import subprocess
import sys

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SOURCES = ["Kbuild", "Makefile", "scripts", "tcm_vhost.c", "tcm_vhost_io.c",
           "tcm_vhost_ctl.c", "tcm_vhost_fabric.c", "tcm_vhost.h",
           "tcm_vhost_compat.h", "vhost_scsi_ioctl.h"]

# name: (file, text to replace, replacement, vsc-functional filter, VM timeout)
MUTANTS = {
    "wrong-residual": (
        "tcm_vhost_io.c",
        "resid = min(se_cmd->residual_count, cmd->data_len);",
        "resid = 0;",
        "scsi.", 600),
    "dropped-completion": (
        "tcm_vhost_io.c",
        "\tllist_for_each_entry(cmd, list, done_node) {\n"
        "\t\tused[n].id = cpu_to_vhost32(vq, cmd->head);\n",
        # every 50th answer never reaches the used ring
        "\tllist_for_each_entry(cmd, list, done_node) {\n"
        "\t\tstatic atomic_t dropped;\n\n"
        "\t\tif (!(atomic_inc_return(&dropped) % 50))\n"
        "\t\t\tcontinue;\n"
        "\t\tused[n].id = cpu_to_vhost32(vq, cmd->head);\n",
        "io.", 600),
    "leaked-command-on-teardown": (
        "tcm_vhost_io.c",
        "\tsbitmap_clear_bit(&tvq->tags, cmd->tag);\n",
        # the 10th command is never given back to its pool
        "\t{\n\t\tstatic atomic_t n;\n\n"
        "\t\tif (atomic_inc_return(&n) == 10)\n\t\t\treturn;\n\t}\n"
        "\tsbitmap_clear_bit(&tvq->tags, cmd->tag);\n",
        "io.", 300),
}


def build(name, spec):
    path, old, new = spec[0], spec[1], spec[2]
    work = os.path.join(TOP, "build", "mutants", name)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    for src in SOURCES:
        s, d = os.path.join(TOP, src), os.path.join(work, src)
        (shutil.copytree if os.path.isdir(s) else shutil.copy)(s, d)
    text = open(os.path.join(work, path)).read()
    if old not in text:
        return None, "the code to break is gone (update the mutant)"
    open(os.path.join(work, path), "w").write(text.replace(old, new, 1))
    r = subprocess.run(["make", "-s", "-C", work, "modules"],
                       capture_output=True, text=True)
    if r.returncode:
        return None, "does not build: " + r.stderr[-300:]
    return os.path.relpath(os.path.join(work, "tcm_vhost.ko"), TOP), None


def main():
    names = sys.argv[1:] or list(MUTANTS)
    passed = failed = 0
    for name in names:
        spec = MUTANTS[name]
        ko, err = build(name, spec)
        if err:
            print(f"FAIL: selftest/{name}: {err}")
            failed += 1
            continue
        log = os.path.join(TOP, "build", "mutants", name + ".log")
        r = subprocess.run(
            [os.path.join(TOP, "tests/vm/run"), "-t", str(spec[4]), "-l", log,
             "-e", "TCM_VHOST_KO=/project/" + ko, "--",
             "tests/functional/run.sh", "tcm_vhost", "--filter", spec[3]],
            capture_output=True, text=True, cwd=TOP)
        fails = [l for l in r.stdout.splitlines() if l.startswith("FAIL: ")]
        if r.returncode != 0:
            why = fails[0][6:] if fails else f"VM exit {r.returncode}"
            print(f"PASS: selftest/{name}: caught, {len(fails)} failures, "
                  f"first: {why[:160]}")
            passed += 1
        else:
            print(f"FAIL: selftest/{name}: the suite passed a broken module")
            failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
