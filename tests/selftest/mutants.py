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
SOURCES = (["Kbuild", "Makefile", "scripts"]
           + subprocess.run([os.path.join(TOP, "scripts", "sources.sh")],
                            capture_output=True, text=True,
                            check=True).stdout.split())

# name: (file, text to replace, replacement, [suite:]filter (default suite:
# functional), VM timeout); or ([(file, text, replacement), ...], filter,
# timeout) for a break that takes more than one edit.
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
    # From 6.10 on: the dead owner's vhost worker runs nothing, and the TMF
    # answered after kill -9 must still be finished (default KV is 6.12).
    "dead-worker-work-lost": (
        "tcm_vhost.c",
        "\t\tqueue_work(system_wq, &vdev->reap_work);\n",
        "",
        "badinput:owner_killed_tmf_inflight", 300),
    "aborted-tmf-unanswered": (
        "tcm_vhost_ctl.c",
        "\tif (!tmf->answered) {\n",
        "\tif (0) {\n",
        "tmf:abort_set_then_lun_reset", 400),
    # An event for a LUN past 14 bits would name another LUN (#12).
    "evt-lun-beyond-14-bits": (
        "tcm_vhost_ctl.c",
        "\tif (lun > TVH_MAX_LUN) {\n",
        "\tif (0) {\n",
        "tmf:hotplug_lun_beyond_14_bits", 400),
    # #14: hotplug events for TPG LUNs the nexus' ACL does not map.
    "evt-lun-tpg-number": (
        "tcm_vhost_fabric.c",
        "\tif (tpg->vdev && tvh_nexus_lun(tpg, lun->unpacked_lun, false, &mapped))\n"
        "\t\ttvh_evt_post(tpg->vdev, VIRTIO_SCSI_T_TRANSPORT_RESET, tpg->tag,\n"
        "\t\t\t     mapped, reason);\n",
        "\tif (tpg->vdev)\n"
        "\t\ttvh_evt_post(tpg->vdev, VIRTIO_SCSI_T_TRANSPORT_RESET, tpg->tag,\n"
        "\t\t\t     lun->unpacked_lun, reason);\n",
        "acl_hotplug_no_event_for_unmapped_lun", 300),
    # #14: an ACL made after the nexus (targetcli's restoreconfig) is not the nexus'.
    "acl-not-taken-by-nexus": (
        "tcm_vhost_fabric.c",
        "\tif (tpg->vdev)\n"
        "\t\ttpg->sess_closed = true;\n"
        "\telse\n"
        "\t\ttvh_nexus_renew_locked(tpg);\n",
        "\tif (tpg->vdev)\n"
        "\t\ttpg->sess_closed = true;\n",
        "acl_made_after_the_nexus_applies_to_it", 300),
    # #12.3: target_core's inserted PI goes into the guest's own PI pages.
    "pi-out-not-bounced": (
        "tcm_vhost_io.c",
        "\t\t\t       NULL, 0, cmd->prot_bounce_sgl,\n"
        "\t\t\t       cmd->prot_bounce_nents,\n",
        "\t\t\t       NULL, 0, cmd->prot.sgl ? : cmd->prot_bounce_sgl,\n"
        "\t\t\t       cmd->prot.sgl ? cmd->prot.nents : cmd->prot_bounce_nents,\n",
        "badinput:pi_insert_leaves_guest_pi_alone", 300),
    # A freed PI copy leaves its count behind: the slot's next command
    # hands target_core a NULL PI list with a count (host oops).
    "prot-bounce-count-kept": (
        "tcm_vhost_map.c",
        "\tatomic_sub(*nents, &cmd->tvq->vdev->bounce_pages);\n\t*nents = 0;\n",
        "\tatomic_sub(*nents, &cmd->tvq->vdev->bounce_pages);\n",
        "badinput:pi_insert_leaves_guest_pi_alone", 300),
    # The executor thread (offload) left in the root cgroup.
    "exec-outside-cgroup": (
        "tcm_vhost_vq.c",
        "\tthread->start_ret = cgroup_attach_task_all(thread->owner, current);\n"
        "\tcomplete(&thread->started);\n"
        "\ttvh_charge_begin(&charge, thread->vdev->dev.mm);\n",
        "\tthread->start_ret = 0;\n"
        "\tcomplete(&thread->started);\n"
        "\ttvh_charge_begin(&charge, thread->vdev->dev.mm);\n",
        "queue.threads_join_the_owners_cgroup", 300),
    "pi-partial-tuples": (
        "tcm_vhost_io.c",
        "\tif ((req->pi_out | req->pi_in) % TVH_PI_TUPLE_SIZE)\n\t\treturn false;\n",
        "",
        "badinput:pi_not_whole_tuples", 300),
    # #12.6: no bound on the bounce copies one device holds.
    "bounce-unbounded": (
        "tcm_vhost_map.c",
        "\tif (atomic_add_return(n, held) > TVH_MAX_BOUNCE_PAGES) {",
        "\tif (atomic_add_return(n, held) > TVH_MAX_BOUNCE_PAGES && 0) {",
        "badinput:bounce_bound_busy", 300),
    # #12 (also checked): a nexus keeps the initiator's first PI type.
    "fabric-prot-type-stale": (
        "tcm_vhost_fabric.c",
        "\tsess->se_node_acl->saved_prot_type = tpg->prot_type;\n"
        "\tsess->sess_prot_type = tpg->prot_type;\n",
        "",
        "cfg.fabric_prot_type_new_nexus", 300),
    # #12.7: used length and dirty log without the data-in PI.
    "pi-in-not-logged": (
        "tcm_vhost_io.c",
        "\t\t\t tvh_io_log_len(cmd, sizeof(resp) + pi_written +\n"
        "\t\t\t\t\tdata_written));\n"
        "\treturn sizeof(resp) + pi_written + data_written;",
        "\t\t\t tvh_io_log_len(cmd, sizeof(resp) + data_written));\n"
        "\treturn sizeof(resp) + data_written;",
        "badinput:log_covers_pi_in", 300),
    # #12.10: bad event buffers consumed without a bound on one pass.
    "evt-bad-buffers-unbounded": (
        "tcm_vhost_ctl.c",
        "\t\tif (++bad >= TVH_WEIGHT || bad_descs >= TVH_EVT_DESC_WEIGHT) {",
        "\t\tif ((++bad >= TVH_WEIGHT || bad_descs >= TVH_EVT_DESC_WEIGHT) && 0) {",
        "badinput:evt_bad_buffers_endless", 300),
    # Teardown's drain under the global TPG list lock again (the lock made
    # visible outside tcm_vhost_fabric.c for it).
    "teardown-under-list-lock": (
        [("tcm_vhost_fabric.c",
          "static DEFINE_MUTEX(tvh_tpg_list_lock);",
          "DEFINE_MUTEX(tvh_tpg_list_lock);"),
         ("tcm_vhost.c",
          "\tmutex_lock(&vdev->dev.mutex);\n\ttvh_endpoint_teardown(vdev);\n"
          "\tmutex_unlock(&vdev->dev.mutex);\n",
          "\tmutex_lock(&tvh_tpg_list_lock);\n"
          "\tmutex_lock(&vdev->dev.mutex);\n\ttvh_endpoint_teardown(vdev);\n"
          "\tmutex_unlock(&vdev->dev.mutex);\n"
          "\tmutex_unlock(&tvh_tpg_list_lock);\n"),
         ("tcm_vhost.h", "int tvh_fabric_register(void);",
          "extern struct mutex tvh_tpg_list_lock;\nint tvh_fabric_register(void);")],
        "badinput:teardown_stuck_others_attach", 300),
    # completions of data-out commands counted as data-in
    "stats-direction-swapped": (
        "tcm_vhost_io.c",
        "\telse if (test_bit(TVH_CMD_DATA_IN, &cmd->flags))\n"
        "\t\ttvh_stat_add(vq, TVH_STAT_BYTES_IN, transferred);\n",
        "\telse if (1)\n"
        "\t\ttvh_stat_add(vq, TVH_STAT_BYTES_IN, transferred);\n",
        "queue.stats_count_what_the_guest_sent", 300),
    "leaked-command-on-teardown": (
        "tcm_vhost_io.c",
        "\tsbitmap_clear_bit(&tvq->tags, cmd->tag);\n",
        # the 10th command is never given back to its pool
        "\t{\n\t\tstatic atomic_t n;\n\n"
        "\t\tif (atomic_inc_return(&n) == 10)\n\t\t\treturn;\n\t}\n"
        "\tsbitmap_clear_bit(&tvq->tags, cmd->tag);\n",
        "io.", 300),
    # target_core closing the nexus' session (its ACL removed) is ignored:
    # the rmdir waits forever, as with vhost_scsi.
    "acl-close-ignored": (
        "tcm_vhost_fabric.c",
        "\t.close_session\t\t\t= tvh_close_session,\n",
        "",
        "cfg.acl_removed_nexus_stays", 200),
    # PARAM_CHANGE delivered whatever the guest negotiated.
    "change-event-ungated": (
        "tcm_vhost_ctl.c",
        "\tif (event == VIRTIO_SCSI_T_PARAM_CHANGE)\n"
        "\t\treturn vhost_has_feature(vq, VIRTIO_SCSI_F_CHANGE);\n",
        "",
        "iblock.capacity_change_needs_f_change", 300),
    # Host polling ends without turning the guest's kicks back on.
    "poll-kicks-stay-off": (
        "tcm_vhost_vq.c",
        "\tmore = vhost_enable_notify(vq->dev, vq);\n",
        "\tmore = false;\n",
        "queue.polling_takes_requests_without_kicks", 200),
    # Polling cut short by a runnable task turns the kicks back on: the
    # guest's next request is kicked (EVENT_IDX re-armed).
    "poll-cut-short-kicks-on": (
        "tcm_vhost_vq.c",
        "\tif (now < end && !kthread_should_stop())\n",
        "\tif (false)\n",
        "queue.polling_takes_requests_without_kicks", 200),
    # Host polling for a guest that waits for each answer (QD1): the window
    # only takes CPU from it.
    "poll-lone-commands": (
        "tcm_vhost_vq.c",
        "\t\t\t    tvq->taken_since_kick >= TVH_POLL_MIN_BATCH) {\n",
        "\t\t\t    tvq->taken_since_kick >= 1) {\n",
        "queue.polling_skips_lone_commands", 200),
    # #12.4: tpgt_01 and tpgt_+1 taken for tpgt_1, and a second TPG with
    # a tag already taken accepted.
    "tpgt-aliases": (
        [("tcm_vhost_fabric.c",
          "!isdigit(n[0]) ||\n\t    (n[0] == '0' && n[1]) || ",
          ""),
         ("tcm_vhost_fabric.c",
          "\tif (tvh_tpg_tag_used(tport, tag)) {",
          "\tif (0) {")],
        "cfg.tpgt_one_spelling", 200),
    # #12 (also checked): a group TMF to a LUN that does not exist answered
    # FUNCTION_COMPLETE instead of INCORRECT_LUN.
    "group-tmf-lun-unchecked": (
        "tcm_vhost_ctl.c",
        "\tif (((tmr == -1 && subtype != VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET) ||",
        "\tif (0 && ((tmr == -1 && subtype != VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET) ||",
        "tmf:bad_lun_groups", 300),
    # #12.1: a data-in bounce copy allocated without zeroing (what the
    # core does not write of it reaches the guest).
    "bounce-datain-not-zeroed": (
        "tcm_vhost_map.c",
        "\t\t\t\t   cmd->data_len, dir == DMA_FROM_DEVICE);",
        "\t\t\t\t   cmd->data_len, false);",
        "badinput:bounce_datain_no_host_bytes", 300),
    # #12.6: queue threads allocate bounce copies charged to no memcg.
    "bounce-uncharged": (
        [("tcm_vhost_vq.c", "\tkthread_use_mm(mm);\n\ttvh_charge_begin(&charge, mm);",
          "\tkthread_use_mm(mm);"),
         ("tcm_vhost_vq.c", "\ttvh_vq_thread_signal_due(thread, true);\n\ttvh_charge_end(&charge);",
          "\ttvh_vq_thread_signal_due(thread, true);")],
        "badinput:bounce_charged_to_the_owners_memcg", 300),
    # #12 (also checked): QUERY TASK SET counts a command whose answer is
    # being written.
    "query-counts-answered": (
        "tcm_vhost_ctl.c",
        "\t\tif (!test_bit(TVH_CMD_ANSWER_QUEUED, &cmd->flags))\n"
        "\t\t\tscan->found = true;\n",
        "\t\tscan->found = true;\n",
        "badinput:query_task_set_skips_answer_on_its_way", 300),
    # A TMF answered while commands it found in flight have no answer
    # queued yet (target_core finishes a reset without them).
    "tmf-answer-not-parked": (
        "tcm_vhost_ctl.c",
        "\tif (atomic_read(&vdev->tmf_owed) > 0)\n\t\treturn NULL;\n",
        "",
        "tmf:tmf_answer_follows_completions", 400),
    # A guest's ORDERED command handed to target_core as ORDERED: after an
    # abort it waits for ever (the test process is left unkillable).
    "ordered-passed-through": (
        "tcm_vhost_io.c",
        "\tcase VIRTIO_SCSI_S_HEAD:\n\t\treturn TCM_HEAD_TAG;\n",
        "\tcase VIRTIO_SCSI_S_ORDERED:\n\t\treturn TCM_ORDERED_TAG;\n"
        "\tcase VIRTIO_SCSI_S_HEAD:\n\t\treturn TCM_HEAD_TAG;\n",
        "tmf:ordered_after_abort", 400),
    # #12.8: the pool carved reading inline_sg at every use (as before the
    # fix): a write in between sizes the arrays with one value and cuts
    # them with another.  Shown by KASAN: run it on the debug kernel.
    "inline-sg-read-again": (
        "tcm_vhost_io.c",
        "\tunsigned int inline_sg = READ_ONCE(tvh_inline_sg);\n",
        "#define inline_sg READ_ONCE(tvh_inline_sg)\n",
        "badinput:inline_sg_changed_during_attach", 600),
    # A backstore's I/O error (target_core's LOGICAL UNIT COMMUNICATION
    # FAILURE, from a failed bio) answered GOOD: an acknowledged write lost.
    "backend-error-answered-good": (
        "tcm_vhost_io.c",
        "\t\tresp.status = se_cmd->scsi_status;\n",
        "\t\tresp.status = se_cmd->sense_reason == TCM_LOGICAL_UNIT_COMMUNICATION_FAILURE ?\n"
        "\t\t\t      SAM_STAT_GOOD : se_cmd->scsi_status;\n"
        "\t\tif (!resp.status)\n"
        "\t\t\tsense_len = 0;\n",
        "badinput:backend_errors_reach_the_guest", 400),
    # #13(d): nothing holds the module while a device or the fabric uses
    # it, so rmmod unloads it under the test's I/O.
    "rmmod-while-in-use": (
        [("tcm_vhost.c", "\t.owner\t\t= THIS_MODULE,\n", ""),
         ("tcm_vhost_fabric.c", "\t.module\t\t\t\t= THIS_MODULE,\n", "")],
        "badinput:rmmod_refused_while_in_use", 300),
    # #12.9: the last recycling wakes release through the device after its
    # queue's count reached 0, with nothing keeping the device (as before
    # the fix).  Shown by KASAN once tests/kmod/tvh_wake_delay.c holds that
    # window open.
    "recycle-window-unprotected": (
        [("tcm_vhost_io.c",
          "\trcu_read_lock();\n"
          "\tif (atomic_dec_and_test(&tvq->inflight) && wq_has_sleeper(&vdev->idle_wq))\n"
          "\t\twake_up(&vdev->idle_wq);\n"
          "\trcu_read_unlock();\n",
          "\tif (atomic_dec_and_test(&tvq->inflight) && wq_has_sleeper(&vdev->idle_wq))\n"
          "\t\twake_up(&vdev->idle_wq);\n"),
         ("tcm_vhost.c",
          "\tsynchronize_rcu();\n\tflush_work(&vdev->reap_work);\n",
          "\tflush_work(&vdev->reap_work);\n")],
        "badinput:close_while_last_recycle_waits", 600),
    # #12.7: SET_FEATURES(LOG_ALL) does not wait for TMFs taken unlogged.
    "log-all-ignores-tmfs": (
        "tcm_vhost_io.c",
        "\t\treturn atomic_read(&vdev->tmf_unlogged);",
        "\t\treturn false;",
        "badinput:log_all_waits_for_tmf_taken_before", 300),
    # A data-out buffer target_core may write into is used in place: an
    # INQUIRY sent with one is answered into the guest's read-only pages.
    "data-out-written-in-place": (
        "tcm_vhost_map.c",
        "\t\treturn !tvh_map_out_is_only_read(cmd->cdb);\n",
        "\t\treturn !tvh_map_out_is_only_read(cmd->cdb) &&\n"
        "\t\t       cmd->cdb[0] != INQUIRY;\n",
        "io.data_out_stays", 300),
    # An answer buffer in pieces of separate pages is used in place:
    # target_core maps it as whole pages and answers at the wrong offsets.
    "data-in-pieces-in-place": (
        "tcm_vhost_map.c",
        "\t\treturn cmd->data.nents > 1 &&\n",
        "\t\treturn cmd->data.nents > 1 && cmd->cdb[0] != INQUIRY &&\n",
        "io.data_in_pieces", 300),
    # The PI copy goes to target_core at its full size: fileio then moves
    # eight times the PI of a LUN of 4096-byte blocks and fails the command.
    "pi-copy-untrimmed": (
        "tcm_vhost_io.c",
        "\ttvh_map_trim_prot(cmd);\n",
        "",
        "fileio.pi_round_trip", 300),
    # A slot's sense keeps the last command's bytes that target_core does
    # not set (the INFORMATION field of an earlier PI check).
    "sense-not-cleared": (
        "tcm_vhost_io.c",
        "\tmemset(cmd->sense, 0, sizeof(cmd->sense));\n",
        "",
        "fileio.sense_has_nothing", 300),
    # Commands taken while dirty logging was on write the log after it is
    # off: into memory the VMM freed when it cancelled the migration.
    "log-written-after-log-off": (
        "tcm_vhost_vq.c",
        "\tif (!vhost_has_feature(vq, VHOST_F_LOG_ALL))\n\t\treturn;\n",
        "",
        "badinput:log_all_switched_off_inflight", 300),
    # SET_MEM_TABLE returns before the commands taken under the old table
    # have written their answers through it.
    "mem-table-no-wait": (
        "tcm_vhost.c",
        "\t\t\ttvh_io_wait_taken(vdev);\n",
        "",
        "badinput:mem_table_change_waits_for_inflight", 300),
    # A command that sends data is executed from a device-writable buffer.
    "direction-unchecked": (
        "tcm_vhost_io.c",
        "\tif (tvh_io_direction_refused(cmd)) {\n",
        "\tif (0) {\n",
        "fileio.write_same_with_a_device", 300),
    # fabric_prot_type written under a nexus (targetcli) never applies.
    "prot-type-nexus-kept": (
        "tcm_vhost_fabric.c",
        "\t\tif (tpg->sess)\n\t\t\ttvh_nexus_renew_locked(tpg);\n",
        "",
        "cfg.fabric_prot_type_new_nexus", 300),
    # capacity_changed reads "08" as bad octal.
    "capacity-lun-base-0": (
        "tcm_vhost_fabric.c",
        "\tret = kstrtou64(page, 10, &lun);",
        "\tret = kstrtou64(page, 0, &lun);",
        "iblock.capacity_changed_lun_is_decimal", 300),
    # An fc. WWN keeps its prefix in QEMU's wwpn= (upstream drops it).
    "fc-prefix-kept": (
        "tcm_vhost_fabric.c",
        "\tstrscpy(tport->name, tvh_wwn_port_name(name, proto), sizeof(tport->name));",
        "\tstrscpy(tport->name, name, sizeof(tport->name));",
        "cfg.fc_wwn_goes_by", 300),
    # Queue threads take the SET_ENDPOINT caller (a vCPU) for their owner.
    "owner-is-endpoint-caller": (
        "tcm_vhost_vq.c",
        "\tif (!owner || (READ_ONCE(owner->flags) & PF_EXITING))\n",
        "\tif (1)\n",
        "queue.threads_belong_to_the_set_owner_caller", 300),
    # An ABORT TASK of no command goes to target_core, which logs it.
    "abort-no-task-to-core": (
        "tcm_vhost_ctl.c",
        "\t\tif (tmr == TMR_ABORT_TASK && !scan.found) {\n",
        "\t\tif (0) {\n",
        "ctl.abort_task_of_no_command", 300),
    # TMFs held back behind commands pile up without bound.
    "tmfs-unbounded": (
        "tcm_vhost_ctl.c",
        "\tif (atomic_read(&vdev->tmf_taken[0]) + atomic_read(&vdev->tmf_taken[1]) >=\n\t    vq->num) {\n",
        "\tif (0) {\n",
        "badinput:tmfs_in_flight_bounded", 300),
    # An event due while the guest has no event ring reads a ring at 0.
    "event-ring-unset-read": (
        "tcm_vhost_ctl.c",
        "\treturn vhost_vq_is_setup(vq);\n",
        "\treturn true;\n",
        "evt.hotplug_while_event_ring_unset", 300),
    # signal_delay_us holds back a lone command's signal too (QD1 latency).
    "signal-held-at-qd1": (
        "tcm_vhost_vq.c",
        "\tif (may_delay && delay_us && vq->last_avail_idx != vq->last_used_idx) {\n",
        "\tif (may_delay && delay_us) {\n",
        "queue.signal_delay_spares", 300),
    # A held signal waits for the next completion instead of its deadline.
    "held-signal-without-deadline": (
        "tcm_vhost_vq.c",
        "\tif (due)\n\t\tschedule_hrtimeout_range(",
        "\tif (0)\n\t\tschedule_hrtimeout_range(",
        "tmf:held_signal_comes", 400),
}


# Mutants whose harm KASAN sees first (an access out of bounds or after a
# free that lands in memory still mapped): run on the debug kernel
# (KV=<release of scripts/debug-kernel.sh>), skipped on others.
KASAN_ONLY = {"inline-sg-read-again", "recycle-window-unprotected"}

# Mutants whose test loads the helper module of tests/kmod, built against
# KDIR (the debug kernel's tree, as for make check-debug).
NEEDS_KMOD = {"recycle-window-unprotected"}


def kasan_kernel():
    """Whether the kernel the VMs boot (KV) has KASAN."""
    kv = os.environ.get("KV", "")
    cache = os.environ.get("TCM_VHOST_CACHE", "/var/cache/tcm_vhost")
    base = os.path.realpath(os.path.join(cache, kv)) if kv else ""
    for cfg in (os.path.join(base, "build", ".config"),
                os.path.join(base, "image", "boot", f"config-{kv}")):
        if kv and os.path.isfile(cfg):
            return "CONFIG_KASAN=y" in open(cfg).read().split("\n")
    return False


def edits(spec):
    """The mutant's edits, and the rest of its spec (filter, timeout)."""
    if isinstance(spec[0], list):
        return spec[0], spec[1:]
    return [spec[:3]], spec[3:]


def stands(root, path, old):
    """How many times a mutant's text stands in @path below @root."""
    return open(os.path.join(root, path)).read().count(old)


def build(name, spec):
    work = os.path.join(TOP, "build", "mutants", name)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    for src in SOURCES:
        s, d = os.path.join(TOP, src), os.path.join(work, src)
        (shutil.copytree if os.path.isdir(s) else shutil.copy)(s, d)
    for path, old, new in edits(spec)[0]:
        if stands(work, path, old) != 1:
            return None, f"the code to break in {path} is not there once (update the mutant)"
        text = open(os.path.join(work, path)).read()
        open(os.path.join(work, path), "w").write(text.replace(old, new))
    r = subprocess.run(["make", "-s", "-C", work, "modules"],
                       capture_output=True, text=True)
    if r.returncode:
        return None, "does not build: " + r.stderr[-300:]
    return os.path.relpath(os.path.join(work, "tcm_vhost.ko"), TOP), None


def build_kmod():
    """tests/kmod's modules for KDIR: the VM's path of the .ko, or an error."""
    r = subprocess.run([os.path.join(TOP, "tests", "kmod", "build.sh"),
                        os.path.join(TOP, "build", "mutants", "kmod")],
                       capture_output=True, text=True)
    if r.returncode:
        return None, "the helper module does not build: " + r.stderr[-300:]
    return "/project/" + os.path.relpath(r.stdout.strip(), TOP), None


def applies():
    """--applies: each mutant's text stands exactly once in today's tree.

    Silent when so (make check's static step wants no output); otherwise
    one line per stale mutant, and exit status 1.
    """
    stale = 0
    for name, spec in MUTANTS.items():
        for path, old, _ in edits(spec)[0]:
            n = stands(TOP, path, old)
            if n != 1:
                print(f"{name}: its text stands {n} times in {path} "
                      "(update the mutant)")
                stale += 1
    return 1 if stale else 0


def main():
    if sys.argv[1:] == ["--applies"]:
        return applies()
    names = sys.argv[1:] or list(MUTANTS)
    passed = failed = 0
    kasan = kasan_kernel()
    kmod = None
    for name in names:
        spec = MUTANTS[name]
        if name in KASAN_ONLY and not kasan:
            print(f"SKIP: selftest/{name}: only KASAN shows it "
                  "(KV=<the debug kernel>, see tests/check-debug.sh)")
            continue
        ko, err = build(name, spec)
        if not err and name in NEEDS_KMOD and not kmod:
            kmod, err = build_kmod()
        if err:
            print(f"FAIL: selftest/{name}: {err}")
            failed += 1
            continue
        log = os.path.join(TOP, "build", "mutants", name + ".log")
        where, timeout = edits(spec)[1]
        suite, filt = (where.split(":", 1) if ":" in where
                       else ("functional", where))
        # as make check boots the badinput VM: stale pages show as 0xaa
        env = dict(os.environ)
        if suite == "badinput":
            env["VM_APPEND"] = "init_on_alloc=0 page_poison=1"
        if name in NEEDS_KMOD:
            env["TCMV_WAKE_DELAY_KO"] = kmod
        r = subprocess.run(
            [os.path.join(TOP, "tests/vm/run"), "-t", str(timeout), "-l", log,
             "-e", "TCM_VHOST_KO=/project/" + ko, "--",
             f"tests/{suite}/run.sh", "tcm_vhost", "--filter", filt],
            capture_output=True, text=True, cwd=TOP, env=env)
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
