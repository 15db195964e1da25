// SPDX-License-Identifier: GPL-2.0
/* Control queue (TMF, AN) and event queue (hotplug, events missed). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ft.h"

#define Q0 VSC_VQ_REQ(0)

/*
 * On a device of its own with the endpoint set, control request @c (@what in
 * messages) answered, the guards around its response intact: the device, else
 * NULL (the test failed).
 */
static struct vsc_dev *ctl_answered(struct vsc_ctl *c, const char *what)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	int e;

	if (!d)
		return NULL;
	e = vsc_ctl_sync(d, c, TMO);
	if (e == -EFAULT)
		vt_fail(__LINE__, "%s: answer overflowed the response buffer (canary damaged)",
			what);
	else if (e)
		vt_fail(__LINE__, "%s: %s", what, vt_errstr(e));
	return e ? NULL : d;
}

/* ctl_answered(), and the answer is response @want; else false (the test failed). */
static bool ctl_answers(struct vsc_ctl *c, const char *what, uint8_t want)
{
	if (!ctl_answered(c, what))
		return false;
	CHECK(c->response == want, "%s: %s, want %s", what, vsc_response_name(c->response),
	      vsc_response_name(want));
	return true;
}

VT_TEST("ctl", an_query_answered)
{
	struct vsc_ctl c;

	vsc_an_init(&c, false, 1, 0, 0xffff);
	if (!ctl_answers(&c, "AN query", VIRTIO_SCSI_S_OK))
		return;
	vt_note("AN query event_actual 0x%x", c.event_actual);
	ASSERT(!(c.event_actual & ~0xffffu), "event_actual 0x%x outside requested", c.event_actual);
}

VT_TEST("ctl", an_subscribe_answered)
{
	struct vsc_ctl c;

	vsc_an_init(&c, true, 1, 0, 1u << 1 /* operational change */);
	ctl_answers(&c, "AN subscribe", VIRTIO_SCSI_S_OK);
}

VT_TEST("ctl", tmf_lun_reset_succeeds)
{
	struct vsc_dev *d;
	uint8_t resp;

	FT_SKIP_LUN_RESET_ON_UPSTREAM();
	d = ft_open_ep(NULL);
	if (!d || !vt_tmf(d, VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, 1, 0, 0, &resp))
		return;
	ASSERT(resp == VIRTIO_SCSI_S_FUNCTION_SUCCEEDED || resp == 0,
	       "LUN RESET: %s, want FUNCTION_SUCCEEDED/COMPLETE", vsc_response_name(resp));
	/* the LU works afterwards (the reset raises a UNIT ATTENTION first) */
	vt_clear_ua(d, 1, 0);
	ft_verify_rw(d, Q0, 1, 0, 10, 50, 8, NULL, NULL);
}

VT_TEST("ctl", tmf_lun_reset_with_commands_in_flight)
{
	struct vsc_opts o = { .ring_size = 256, .num_req_queues = 2 };
	struct vsc_dev *d;
	struct vsc_req *r;
	unsigned int i, n = 128, ok = 0, other = 0;
	uint8_t cdb[16], resp;
	int e;

	FT_SKIP_LUN_RESET_ON_UPSTREAM();
	d = ft_open_ep(&o);
	if (!d)
		return;
	r = calloc(n, sizeof(*r));
	for (i = 0; i < n; i++) {
		vsc_req_init(d, &r[i], VSC_VQ_REQ(i & 1), 1, 0, cdb,
			     vsc_cdb_rw(cdb, false, 10, (i * 256) % 30000, 256));
		r[i].din_len = 256 * BS;
		r[i].layout.indirect = true;
		e = vsc_req_submit(d, &r[i]);
		if (e) {
			vt_fail(__LINE__, "submit %u: %s", i, vt_errstr(e));
			n = i;
			break;
		}
	}
	vsc_kick(d, VSC_VQ_REQ(0));
	vsc_kick(d, VSC_VQ_REQ(1));
	if (vt_tmf(d, VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, 1, 0, 0, &resp) &&
	    resp != VIRTIO_SCSI_S_FUNCTION_SUCCEEDED && resp != 0)
		vt_fail(__LINE__, "LUN RESET with I/O in flight: %s", vsc_response_name(resp));
	e = vsc_drain(d, VSC_VQ_REQ(0), TMO);
	if (!e)
		e = vsc_drain(d, VSC_VQ_REQ(1), TMO);
	if (e)
		vt_fail(__LINE__, "commands not completed after LUN RESET: %u+%u in flight",
			vsc_inflight(d, VSC_VQ_REQ(0)), vsc_inflight(d, VSC_VQ_REQ(1)));
	for (i = 0; i < n; i++) {
		if (r[i].op.done) {
			if (!r[i].res.response && !r[i].res.status)
				ok++;
			else
				other++;
			if (r[i].canary_err)
				vt_fail(__LINE__, "canary damaged on cmd %u", i);
		}
		vsc_req_release(d, &r[i]);
	}
	free(r);
	vt_note("LUN RESET vs %u READs: %u GOOD, %u aborted/other", n, ok, other);
	if (!vt_failed()) {
		vt_clear_ua(d, 1, 0);
		ft_verify_rw(d, Q0, 1, 0, 10, 60, 8, NULL, NULL);
	}
}

VT_TEST("ctl", tmf_every_subtype_answered)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	uint32_t s;
	uint8_t resp;

	if (!d)
		return;
	for (s = 0; s <= VIRTIO_SCSI_T_TMF_QUERY_TASK_SET && !vt_failed(); s++) {
		if (s == VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET && vt_upstream() && !ft_unsafe)
			continue;	/* FT_UPSTREAM_TMF_BUG */
		if (!vt_tmf(d, s, 1, 0, 0x1234, &resp))
			return;
		vt_note("TMF %s -> %s", vsc_tmf_name(s), vsc_response_name(resp));
		ASSERT(resp == 0 || resp == VIRTIO_SCSI_S_FUNCTION_SUCCEEDED ||
		       resp == VIRTIO_SCSI_S_FUNCTION_REJECTED || resp == VIRTIO_SCSI_S_FAILURE,
		       "TMF %s: response %u (%s) is not a TMF answer", vsc_tmf_name(s), resp,
		       vsc_response_name(resp));
	}
	vt_clear_ua(d, 1, 0);
	ft_verify_rw(d, Q0, 1, 0, 10, 70, 8, NULL, NULL);
}

VT_TEST("ctl", tmf_unknown_subtype_rejected)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	uint8_t resp;

	if (!d || !vt_tmf(d, 99, 1, 0, 0, &resp))
		return;
	ASSERT(resp == VIRTIO_SCSI_S_FUNCTION_REJECTED, "TMF subtype 99: %s, want REJECTED",
	       vsc_response_name(resp));
}

/* TMFs that upstream rejects; SAM gives them a real meaning. */
static void tmf_beyond(uint32_t sub, bool allow_rejected_never)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	uint8_t resp;

	(void)allow_rejected_never;
	if (!d || !vt_tmf(d, sub, 1, 0, 0xdead, &resp))
		return;
	/* no task 0xdead exists: COMPLETE (0) or SUCCEEDED are the right answers */
	ASSERT(resp == 0 || resp == VIRTIO_SCSI_S_FUNCTION_SUCCEEDED,
	       "TMF %s: %s, want FUNCTION_COMPLETE/SUCCEEDED", vsc_tmf_name(sub),
	       vsc_response_name(resp));
	vt_clear_ua(d, 1, 0);
}

#define UP_TMF "upstream answers only LOGICAL_UNIT_RESET; every other TMF is FUNCTION_REJECTED"
VT_TEST_BEYOND("ctl", tmf_abort_task_completes, UP_TMF)
{
	tmf_beyond(VIRTIO_SCSI_T_TMF_ABORT_TASK, false);
}

VT_TEST_BEYOND("ctl", tmf_abort_task_set_completes, UP_TMF)
{
	tmf_beyond(VIRTIO_SCSI_T_TMF_ABORT_TASK_SET, false);
}

VT_TEST_BEYOND("ctl", tmf_i_t_nexus_reset_completes, UP_TMF)
{
	tmf_beyond(VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET, false);
}

VT_TEST_BEYOND("ctl", tmf_query_task_completes, UP_TMF)
{
	tmf_beyond(VIRTIO_SCSI_T_TMF_QUERY_TASK, false);
}

VT_TEST_BEYOND("ctl", tmf_query_task_set_completes, UP_TMF)
{
	tmf_beyond(VIRTIO_SCSI_T_TMF_QUERY_TASK_SET, false);
}

VT_TEST_BEYOND("ctl", tmf_bad_target_answer_fits,
	       "upstream writes a 108-byte command response into the 1-byte TMF response")
{
	struct vsc_ctl c;

	vsc_tmf_init(&c, VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, 9, 0, 0);
	ctl_answers(&c, "TMF to target 9", VIRTIO_SCSI_S_BAD_TARGET);
}

VT_TEST_BEYOND("ctl", an_bad_lun_answer_fits,
	       "upstream writes a 108-byte command response into the 5-byte AN response")
{
	struct vsc_ctl c;

	vsc_an_init(&c, false, 1, 0, 0);
	c.lun[0] = 0;	/* must be 1 */
	ctl_answers(&c, "AN with lun[0]=0", VIRTIO_SCSI_S_BAD_TARGET);
}

/* The kernel log from now on: /dev/kmsg read from its end, or -1. */
static int kmsg_from_now(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/* Records of @fd (kmsg_from_now()) that contain @what, up to now. */
static int kmsg_count(int fd, const char *what)
{
	char rec[8192];
	int hits = 0;
	ssize_t n;

	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* records overwritten meanwhile */
		if (n <= 0)
			return hits;
		rec[n] = '\0';
		hits += !!strstr(rec, what);
	}
}

/* A guest's ABORT TASKs for tags it never used must not write the host's log. */
VT_TEST("ctl", abort_task_of_no_command_logs_nothing)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	int fd, i, lines;
	uint8_t resp;

	if (!d)
		return;
	fd = kmsg_from_now();
	ASSERT(fd >= 0, "/dev/kmsg: %s", vt_errstr(-errno));
	for (i = 0; i < 20; i++)
		if (!vt_tmf(d, VIRTIO_SCSI_T_TMF_ABORT_TASK, 1, 0, 0x7a000000 + i, &resp))
			break;
	usleep(100000);
	lines = kmsg_count(fd, "ABORT_TASK");
	close(fd);
	ASSERT(i == 20, "ABORT TASK %d not answered", i);
	/* TASK DOES NOT EXIST is FUNCTION COMPLETE; Debian's vhost_scsi rejects them all */
	ASSERT(resp == VIRTIO_SCSI_S_OK /* FUNCTION COMPLETE */ ||
	       (vt_upstream() && resp == VIRTIO_SCSI_S_FUNCTION_REJECTED),
	       "ABORT TASK of no command: %s", vsc_response_name(resp));
	ASSERT(!lines, "%d kernel log lines about ABORT_TASK for 20 ABORT TASKs of no command",
	       lines);
}

VT_TEST("ctl", tmf_split_request_header)
{
	struct vsc_dev *d;
	struct vsc_ctl c;
	int e;

	/* ABORT_TASK_SET: answered by every implementation, no LU state change */
	vsc_tmf_init(&c, VIRTIO_SCSI_T_TMF_ABORT_TASK_SET, 1, 0, 0);
	c.layout.hdr_split = 1;	/* 24 one-byte descriptors */
	d = ctl_answered(&c, "ABORT_TASK_SET with split header");
	if (!d)
		return;
	ASSERT(c.response == VIRTIO_SCSI_S_FUNCTION_SUCCEEDED || c.response == 0 ||
	       c.response == VIRTIO_SCSI_S_FUNCTION_REJECTED,
	       "ABORT_TASK_SET with split header: %s", vsc_response_name(c.response));
	vsc_an_init(&c, false, 1, 0, 0);
	c.layout.hdr_split = 3;
	c.layout.resp_split = 1;
	e = vsc_ctl_sync(d, &c, TMO);
	ASSERT(!e && c.response == VIRTIO_SCSI_S_OK, "AN split: %s %s", vt_errstr(e),
	       vsc_response_name(c.response));
	vt_clear_ua(d, 1, 0);
}

/* ---------------------------------------------------------------- events */

/*
 * @n event buffers of @size bytes posted on @d, then WWPN_A's tpgt_@tpgt
 * LUN @lun linked to HBA_RD/@name: the event the tests wait for.  False
 * (the test failed) if either step failed.
 */
static bool evt_post_link(struct vsc_dev *d, struct vsc_evt *ev, unsigned int n, size_t size,
			  unsigned int tpgt, unsigned int lun, const char *name)
{
	int e = vsc_evt_post(d, ev, n, size);

	CHECK(!e, "post: %s", vt_errstr(e));
	e = vsc_tgt_lun_link(WWPN_A, tpgt, lun, HBA_RD, name);
	CHECK(!e, "link lun %u: %s", lun, vt_errstr(e));
	return true;
}

VT_TEST("evt", hotplug_link_unlink_events)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	struct vsc_evt ev[4];
	int e;

	if (!d)
		return;
	ASSERT(vsc_has_feature(d, VIRTIO_SCSI_F_HOTPLUG), "HOTPLUG not negotiated");
	if (!evt_post_link(d, ev, 4, sizeof(struct virtio_scsi_event), 1, 3, "rd8"))
		return;
	if (ft_wait_event(d, ev, 4, VIRTIO_SCSI_T_TRANSPORT_RESET, VIRTIO_SCSI_EVT_RESET_RESCAN, 1, 3)) {
		vsc_kick(d, VSC_VQ_EVT);
		e = vsc_tgt_lun_unlink(WWPN_A, 1, 3);
		ASSERT(!e, "unlink lun 3: %s", vt_errstr(e));
		ft_wait_event(d, ev, 4, VIRTIO_SCSI_T_TRANSPORT_RESET, VIRTIO_SCSI_EVT_RESET_REMOVED, 1, 3);
	} else {
		vsc_tgt_lun_unlink(WWPN_A, 1, 3);
	}
	vt_clear_ua(d, 1, 0);
	vt_clear_ua(d, 1, 1);
	vsc_evt_release(d, ev, 4);
}

VT_TEST("evt", hotplug_high_lun_encoding)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	struct vsc_evt ev[2];

	if (!d)
		return;
	if (!evt_post_link(d, ev, 2, sizeof(struct virtio_scsi_event), 2, 300, "rd8"))
		return;
	if (ft_wait_event(d, ev, 2, VIRTIO_SCSI_T_TRANSPORT_RESET, VIRTIO_SCSI_EVT_RESET_RESCAN, 2, 300)) {
		uint64_t blocks;
		uint32_t bs;

		/* the new LUN answers at its flat-space address */
		vt_clear_ua(d, 2, 300);
		if (ft_capacity(d, 2, 300, &blocks, &bs) && blocks != RD8_BYTES / BS)
			vt_fail(__LINE__, "lun 300: %llu blocks", (unsigned long long)blocks);
	}
	vsc_kick(d, VSC_VQ_EVT);
	vsc_tgt_lun_unlink(WWPN_A, 2, 300);
	usleep(100000);
	vt_clear_ua(d, 2, 0);
	vsc_evt_release(d, ev, 2);
}

/*
 * LUN 4 linked and unlinked while @d cannot take the event: true once the
 * device says it missed events (the test failed otherwise).
 */
static bool evt_link_unlink_missed(struct vsc_dev *d)
{
	uint32_t missed = 0;
	int e, i;

	e = vsc_tgt_lun_link(WWPN_A, 1, 4, HBA_RD, "rd4");
	CHECK(!e, "link: %s", vt_errstr(e));
	for (i = 0; i < 50 && !missed; i++) {
		usleep(20000);
		vsc_get_events_missed(d, &missed);
	}
	vsc_tgt_lun_unlink(WWPN_A, 1, 4);
	CHECK(missed, "events_missed not set after an event the guest could not take");
	return true;
}

VT_TEST("evt", events_missed_then_flagged)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	struct vsc_evt ev[1], *x;
	int e;

	if (!d)
		return;
	/* no event buffers: the hotplug event can't be delivered */
	if (!evt_link_unlink_missed(d))
		return;
	/* posting a buffer now delivers an event carrying the EVENTS_MISSED flag */
	usleep(50000);
	e = vsc_evt_post(d, ev, 1, sizeof(struct virtio_scsi_event));
	ASSERT(!e, "post: %s", vt_errstr(e));
	x = vsc_evt_next(d, ev, 1, TMO);
	ASSERT(x, "no event after posting a buffer");
	vt_note("event after miss: %#x reason %u", x->event, x->reason);
	ASSERT(x->event & VIRTIO_SCSI_T_EVENTS_MISSED, "event %#x lacks EVENTS_MISSED", x->event);
	vsc_evt_release(d, ev, 1);
	vt_clear_ua(d, 1, 0);
	vt_clear_ua(d, 1, 1);
}

VT_TEST_BEYOND("evt", hotplug_while_event_ring_unset,
	       "upstream reads the event ring that was never set up, at address 0, and raises vq_err")
{
	/* QEMU while firmware drives the disk: the event ring is not set up */
	struct vsc_opts o = { .evt_ring_unset = true };
	struct vsc_dev *d = ft_open_ep(&o);

	if (!d)
		return;
	if (!evt_link_unlink_missed(d))
		return;
	ASSERT(vsc_vq_errors(d, VSC_VQ_EVT) == 0, "%llu vq_err signals on the event queue",
	       (unsigned long long)vsc_vq_errors(d, VSC_VQ_EVT));
	vt_clear_ua(d, 1, 0);
	vt_clear_ua(d, 1, 1);
	ft_verify_rw(d, Q0, 1, 1, 10, 90, 8, NULL, NULL);
}

VT_TEST("evt", no_hotplug_feature_no_event)
{
	struct vsc_opts o = { .features = VSC_FEATURES_ALL & ~VSC_F(VIRTIO_SCSI_F_HOTPLUG) };
	struct vsc_dev *d = ft_open_ep(&o);
	struct vsc_evt ev[2], *x;

	if (!d)
		return;
	if (!evt_post_link(d, ev, 2, sizeof(struct virtio_scsi_event), 1, 5, "rd4"))
		return;
	x = vsc_evt_next(d, ev, 2, 500);
	vsc_tgt_lun_unlink(WWPN_A, 1, 5);
	ASSERT(!x, "event %#x delivered without VIRTIO_SCSI_F_HOTPLUG", x ? x->event : 0);
	vsc_evt_release(d, ev, 2);
	vt_clear_ua(d, 1, 0);
	vt_clear_ua(d, 1, 1);
}

VT_TEST_BEYOND("ctl", lun_reset_then_lun_relink, FT_UPSTREAM_TMF_BUG)
{
	/* LUN RESET twice, then unlink and relink a LUN of the same TPG */
	struct vsc_dev *d;
	uint8_t resp;
	int e, i;

	FT_SKIP_LUN_RESET_ON_UPSTREAM();
	d = ft_open_ep(NULL);
	if (!d)
		return;
	for (i = 0; i < 2; i++) {
		if (!vt_tmf(d, VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, 1, 1, 0, &resp))
			return;
		ASSERT(resp == VIRTIO_SCSI_S_FUNCTION_SUCCEEDED || resp == 0, "LUN RESET: %s",
		       vsc_response_name(resp));
	}
	e = vsc_tgt_lun_unlink(WWPN_A, 1, 1);
	ASSERT(!e, "unlink lun 1: %s", vt_errstr(e));
	e = vsc_tgt_lun_link(WWPN_A, 1, 1, HBA_RD, "rd8");
	ASSERT(!e, "relink lun 1: %s", vt_errstr(e));
	vt_clear_ua(d, 1, 1);
	vt_clear_ua(d, 1, 0);
	ft_verify_rw(d, Q0, 1, 1, 10, 90, 8, NULL, NULL);
}

VT_TEST("ctl", control_request_before_endpoint)
{
	/* an AN query queued before SET_ENDPOINT (CVE-2024-49863 path): no crash,
	 * no answer without a target, answered once the endpoint is set */
	struct vsc_dev *d = ft_open(NULL);
	struct vsc_ctl c;
	int e;

	if (!d)
		return;
	vsc_an_init(&c, false, 1, 0, 0);
	e = vsc_ctl_submit(d, &c);
	ASSERT(!e, "submit: %s", vt_errstr(e));
	vsc_kick_force(d, VSC_VQ_CTL);
	e = vsc_wait(d, &c.op, 300);
	vt_note("AN before endpoint: %s", e ? "no answer" : vsc_response_name(c.response));
	if (e) {
		e = vsc_set_endpoint(d, WWPN_A);
		ASSERT(!e, "SET_ENDPOINT: %s", vt_errstr(e));
		vsc_kick_force(d, VSC_VQ_CTL);
		e = vsc_wait(d, &c.op, TMO);
		ASSERT(!e, "AN queued before SET_ENDPOINT never answered");
	}
	ASSERT(c.canary_err == 0, "canary damaged");
	ASSERT(c.response == VIRTIO_SCSI_S_OK || c.response == VIRTIO_SCSI_S_BAD_TARGET,
	       "AN response %s", vsc_response_name(c.response));
	vsc_ctl_release(d, &c);
}

VT_TEST_BEYOND("evt", event_buffer_larger_than_16_bytes,
	       "upstream requires exactly 16-byte event buffers; others are dropped as events_missed")
{
	struct vsc_dev *d = ft_open_ep(NULL);
	struct vsc_evt ev[2];

	if (!d)
		return;
	if (!evt_post_link(d, ev, 2, 32, 1, 6, "rd4"))
		return;
	ft_wait_event(d, ev, 2, VIRTIO_SCSI_T_TRANSPORT_RESET, VIRTIO_SCSI_EVT_RESET_RESCAN, 1, 6);
	vsc_tgt_lun_unlink(WWPN_A, 1, 6);
	usleep(100000);
	vsc_set_events_missed(d, 0);
	vsc_evt_release(d, ev, 2);
	vt_clear_ua(d, 1, 0);
	vt_clear_ua(d, 1, 1);
}
