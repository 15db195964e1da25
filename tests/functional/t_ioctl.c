// SPDX-License-Identifier: GPL-2.0
/* ioctl ABI: version, endpoint, features, events-missed. */
#include <errno.h>

#include "ft.h"

static bool tur_ok(struct vsc_dev *d, uint8_t tgt)
{
	uint8_t cdb[6];
	unsigned int n = vsc_cdb_tur(cdb);

	return vt_cmd_good(d, VSC_VQ_REQ(0), tgt, 0, cdb, n, NULL, 0, NULL, 0, NULL);
}

/* @r, the answer to the ioctl @what, is a refusal (noted); else false (the test failed). */
static bool refused(int r, const char *what)
{
	vt_note("%s: %s", what, vt_errstr(r));
	CHECK(r < 0, "%s succeeded", what);
	return true;
}

/* WWPN_C's tpgt_@tpgt with a nexus for @initiator: a second WWPN a device can use. */
static bool wwpn_c_tpg(unsigned int tpgt, const char *initiator)
{
	int r = vsc_tgt_tpg_create(WWPN_C, tpgt);

	CHECK(!r, "tpg create: %s", vt_errstr(r));
	r = vsc_tgt_nexus_set(WWPN_C, tpgt, initiator);
	CHECK(!r, "nexus: %s", vt_errstr(r));
	return true;
}

VT_TEST("ioctl", abi_version)
{
	struct vsc_opts o = { .stage = VSC_STAGE_OWNER };
	struct vsc_dev *d = ft_open(&o);
	int v, r;

	ASSERT(d, "open");
	r = vsc_get_abi_version(d, &v);
	ASSERT(!r, "GET_ABI_VERSION: %s", vt_errstr(r));
	ASSERT(v == VHOST_SCSI_ABI_VERSION, "abi version %d, want %d", v, VHOST_SCSI_ABI_VERSION);
}

VT_TEST("ioctl", endpoint_set_io_clear)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	int r;

	if (!d)
		return;
	if (!tur_ok(d, 1))
		return;
	r = vsc_clear_endpoint(d, WWPN_A);
	ASSERT(!r, "CLEAR_ENDPOINT: %s", vt_errstr(r));
	/* set again after clear: must work and serve I/O */
	r = vsc_set_endpoint(d, WWPN_A);
	ASSERT(!r, "SET_ENDPOINT after CLEAR: %s", vt_errstr(r));
	if (!tur_ok(d, 1))
		return;
	r = vsc_clear_endpoint(d, WWPN_A);
	ASSERT(!r, "second CLEAR_ENDPOINT: %s", vt_errstr(r));
}

VT_TEST("ioctl", endpoint_cleared_no_io)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	uint8_t cdb[6];
	struct vsc_req rq;
	int r;

	if (!d)
		return;
	r = vsc_clear_endpoint(d, WWPN_A);
	ASSERT(!r, "CLEAR_ENDPOINT: %s", vt_errstr(r));
	/* without an endpoint the device must not answer (no target) */
	vsc_req_init(d, &rq, VSC_VQ_REQ(0), 1, 0, cdb, vsc_cdb_tur(cdb));
	r = vsc_req_submit(d, &rq);
	ASSERT(!r, "submit: %s", vt_errstr(r));
	vsc_kick(d, VSC_VQ_REQ(0));
	r = vsc_wait(d, &rq.op, 300);
	ASSERT(r == -ETIMEDOUT, "TUR answered without endpoint: %s", vt_res(&rq.res));
	/* setting the endpoint again picks the pending request up on the next kick */
	r = vsc_set_endpoint(d, WWPN_A);
	ASSERT(!r, "SET_ENDPOINT: %s", vt_errstr(r));
	vsc_kick_force(d, VSC_VQ_REQ(0));
	r = vsc_wait(d, &rq.op, TMO);
	ASSERT(!r, "pending TUR not served after SET_ENDPOINT + kick: %s", vt_errstr(r));
	ASSERT(rq.res.response == VIRTIO_SCSI_S_OK && rq.res.status == SAM_STAT_GOOD, "%s", vt_res(&rq.res));
	vsc_req_release(d, &rq);
}

VT_TEST("ioctl", endpoint_double_set_refused)
{
	struct vsc_dev *d = ft_open_ep(NULL);

	if (!d)
		return;
	if (refused(vsc_set_endpoint(d, WWPN_A), "second SET_ENDPOINT (same WWPN)"))
		tur_ok(d, 1);	/* the first endpoint still works */
}

VT_TEST("ioctl", endpoint_second_wwpn_refused)
{
	struct vsc_dev *d = ft_open_ep(NULL);

	/* WWPN_B has no nexus; use a fresh one with a nexus */
	if (!d || !wwpn_c_tpg(1, INIT_1))
		return;
	if (!refused(vsc_set_endpoint(d, WWPN_C), "SET_ENDPOINT with a second WWPN"))
		return;
	tur_ok(d, 1);
	ft_close(d);
	vsc_tgt_nexus_drop(WWPN_C, 1);
	vsc_tgt_tpg_remove(WWPN_C, 1);
}

VT_TEST("ioctl", endpoint_wrong_wwpn)
{
	struct vsc_dev *d = ft_open(NULL);
	int r;

	if (!d)
		return;
	if (!refused(vsc_set_endpoint(d, "naa.5001405000000bad"),
		     "SET_ENDPOINT with an unknown WWPN") ||
	    !refused(vsc_set_endpoint(d, ""), "SET_ENDPOINT with an empty WWPN"))
		return;
	/* the device is still usable */
	r = vsc_set_endpoint(d, WWPN_A);
	ASSERT(!r, "SET_ENDPOINT after failures: %s", vt_errstr(r));
	tur_ok(d, 1);
}

VT_TEST("ioctl", endpoint_reserved_nonzero)
{
	struct vsc_dev *d = ft_open(NULL);
	struct vhost_scsi_target t;
	int r;

	if (!d)
		return;
	memset(&t, 0, sizeof(t));
	t.abi_version = VHOST_SCSI_ABI_VERSION;
	strcpy(t.vhost_wwpn, WWPN_A);
	t.reserved = 1;
	r = vsc_set_endpoint_raw(d, &t);
	ASSERT(r == -EOPNOTSUPP, "SET_ENDPOINT reserved=1: %s, want EOPNOTSUPP", vt_errstr(r));
	t.reserved = 0;
	t.vhost_tpgt = 77;	/* ignored by ABI 1 */
	r = vsc_set_endpoint_raw(d, &t);
	ASSERT(!r, "SET_ENDPOINT (tpgt ignored): %s", vt_errstr(r));
	t.reserved = 0x8000;
	r = vsc_clear_endpoint_raw(d, &t);
	ASSERT(r == -EOPNOTSUPP, "CLEAR_ENDPOINT reserved!=0: %s, want EOPNOTSUPP", vt_errstr(r));
	tur_ok(d, 2);
}

VT_TEST("ioctl", endpoint_tpg_without_nexus)
{
	struct vsc_dev *d = ft_open(NULL);

	if (!d)
		return;
	refused(vsc_set_endpoint(d, WWPN_B), "SET_ENDPOINT to a WWPN whose only TPG has no nexus");
}

VT_TEST("ioctl", endpoint_busy_in_other_device)
{
	struct vsc_dev *a = ft_open_ep(NULL), *b;
	int r;

	if (!a)
		return;
	b = ft_open(NULL);
	if (!b)
		return;
	/* two devices must not share the same TPGs */
	if (!refused(vsc_set_endpoint(b, WWPN_A), "SET_ENDPOINT of a second device, same WWPN"))
		return;
	ft_close(a);
	r = vsc_set_endpoint(b, WWPN_A);
	ASSERT(!r, "WWPN not released by close of the first device: %s", vt_errstr(r));
	tur_ok(b, 1);
}

VT_TEST("ioctl", clear_endpoint_wrong_wwpn)
{
	struct vsc_dev *d = ft_open_ep(NULL);

	if (!d)
		return;
	if (refused(vsc_clear_endpoint(d, WWPN_B), "CLEAR_ENDPOINT with a different WWPN"))
		tur_ok(d, 1);
}

VT_TEST("ioctl", close_releases_endpoint)
{
	int i, r;

	for (i = 0; i < 3; i++) {
		struct vsc_dev *d = ft_open_ep(NULL);

		if (!d)
			return;
		if (!tur_ok(d, 1))
			return;
		ft_close(d);	/* no CLEAR_ENDPOINT */
	}
	(void)r;
}

VT_TEST("ioctl", features_offered)
{
	struct vsc_opts o = { .stage = VSC_STAGE_FEATURES, .no_features = true };
	struct vsc_dev *d = ft_open(&o);
	uint64_t f, need = VSC_F(VIRTIO_F_VERSION_1) | VSC_F(VIRTIO_F_ANY_LAYOUT) |
			   VSC_F(VIRTIO_RING_F_INDIRECT_DESC) | VSC_F(VIRTIO_RING_F_EVENT_IDX) |
			   VSC_F(VIRTIO_SCSI_F_HOTPLUG) | VSC_F(VIRTIO_SCSI_F_T10_PI);

	if (!d)
		return;
	f = vsc_features_offered(d);
	vt_note("offered 0x%llx", (unsigned long long)f);
	ASSERT((f & need) == need, "offered 0x%llx lacks 0x%llx", (unsigned long long)f,
	       (unsigned long long)(need & ~f));
	ASSERT(!(f & VSC_F(VIRTIO_F_RING_PACKED)), "packed ring offered");
	ASSERT(!(f & VSC_F(VIRTIO_F_ACCESS_PLATFORM)), "ACCESS_PLATFORM offered without IOTLB");
}

VT_TEST("ioctl", features_t10pi_accepted)
{
	struct vsc_opts o = {
		.features = VSC_FEATURES_ALL | VSC_F(VIRTIO_SCSI_F_T10_PI),
		.features_exact = true,
	};
	struct vsc_dev *d = ft_open_ep(&o);
	uint8_t cdb[6];

	if (!d)
		return;
	ASSERT(vsc_has_feature(d, VIRTIO_SCSI_F_T10_PI), "T10_PI not acked");
	/* with T10_PI acked, requests use the _pi header (lib does it) */
	vt_cmd_good(d, VSC_VQ_REQ(0), 1, 0, cdb, vsc_cdb_tur(cdb), NULL, 0, NULL, 0, NULL);
	if (vt_failed())
		return;
	ft_verify_rw(d, VSC_VQ_REQ(0), 1, 0, 10, 100, 8, NULL, NULL);
}

VT_TEST("ioctl", features_unknown_refused)
{
	struct vsc_opts o = { .stage = VSC_STAGE_OWNER };
	struct vsc_dev *d = ft_open(&o);
	uint64_t f;
	int r;

	if (!d)
		return;
	f = VSC_F(VIRTIO_F_VERSION_1) | VSC_F(VIRTIO_SCSI_F_INOUT);
	r = vsc_ioctl(d, VHOST_SET_FEATURES, &f);
	ASSERT(r == -EOPNOTSUPP, "SET_FEATURES with F_INOUT: %s, want EOPNOTSUPP", vt_errstr(r));
	f = VSC_F(VIRTIO_F_VERSION_1) | VSC_F(VIRTIO_F_RING_PACKED);
	r = vsc_ioctl(d, VHOST_SET_FEATURES, &f);
	ASSERT(r == -EOPNOTSUPP, "SET_FEATURES with RING_PACKED: %s, want EOPNOTSUPP", vt_errstr(r));
	f = VSC_F(VIRTIO_F_VERSION_1);
	r = vsc_ioctl(d, VHOST_SET_FEATURES, &f);
	ASSERT(!r, "SET_FEATURES VERSION_1: %s", vt_errstr(r));
}

VT_TEST("ioctl", events_missed_roundtrip)
{
	struct vsc_dev *d = ft_open(NULL);
	uint32_t v = 7;
	int r;

	if (!d)
		return;
	r = vsc_get_events_missed(d, &v);
	ASSERT(!r && v == 0, "initial events_missed %u (%s), want 0", v, vt_errstr(r));
	r = vsc_set_events_missed(d, 1);
	ASSERT(!r, "SET_EVENTS_MISSED: %s", vt_errstr(r));
	r = vsc_get_events_missed(d, &v);
	ASSERT(!r && v == 1, "events_missed %u after set 1 (%s)", v, vt_errstr(r));
	r = vsc_set_events_missed(d, 0);
	ASSERT(!r, "SET_EVENTS_MISSED 0: %s", vt_errstr(r));
	r = vsc_get_events_missed(d, &v);
	ASSERT(!r && v == 0, "events_missed %u after set 0", v);
}

VT_TEST("ioctl", endpoint_before_rings)
{
	/* Without rings the endpoint may be refused or accepted, but no crash,
	 * and a normal device opened afterwards must work. */
	struct vsc_opts o = { .stage = VSC_STAGE_MEM };
	struct vsc_dev *d = ft_open(&o);
	int r;

	if (!d)
		return;
	r = vsc_set_endpoint(d, WWPN_A);
	vt_note("SET_ENDPOINT without rings: %s", vt_errstr(r));
	ft_close(d);
	d = ft_open_ep(NULL);
	if (d)
		tur_ok(d, 1);
}

VT_TEST("ioctl", two_devices_two_wwpns)
{
	/* two vhost devices, each on its own WWPN, serve their own LUNs */
	struct vsc_dev *a = ft_open_ep(NULL), *b;
	uint64_t blocks;
	uint32_t bs;
	int r;

	if (!a || !wwpn_c_tpg(3, INIT_2))
		return;
	r = vsc_tgt_lun_link(WWPN_C, 3, 0, HBA_RD, "rd8");
	ASSERT(!r, "lun: %s", vt_errstr(r));
	b = ft_open(NULL);
	if (!b)
		return;
	r = vsc_set_endpoint(b, WWPN_C);
	ASSERT(!r, "SET_ENDPOINT %s: %s", WWPN_C, vt_errstr(r));
	if (!vt_clear_ua(b, 3, 0) || !ft_capacity(b, 3, 0, &blocks, &bs))
		return;
	ASSERT(blocks == RD8_BYTES / BS, "device B tgt 3: %llu blocks", (unsigned long long)blocks);
	/* device A has no target 3, device B has no target 1 */
	{
		struct vsc_result res;
		uint8_t cdb[6];
		int e = vsc_cmd(a, VSC_VQ_REQ(0), 3, 0, cdb, vsc_cdb_tur(cdb), NULL, 0, NULL, 0, &res, TMO);

		ASSERT(!e && res.response == VIRTIO_SCSI_S_BAD_TARGET, "A tgt 3: %s", vt_res(&res));
		e = vsc_cmd(b, VSC_VQ_REQ(0), 1, 0, cdb, vsc_cdb_tur(cdb), NULL, 0, NULL, 0, &res, TMO);
		ASSERT(!e && res.response == VIRTIO_SCSI_S_BAD_TARGET, "B tgt 1: %s", vt_res(&res));
	}
	ft_verify_rw(a, VSC_VQ_REQ(0), 1, 0, 10, 123, 8, NULL, NULL);
	ft_verify_rw(b, VSC_VQ_REQ(0), 3, 0, 10, 123, 8, NULL, NULL);
	ft_close(b);
	vsc_tgt_lun_unlink(WWPN_C, 3, 0);
	vsc_tgt_nexus_drop(WWPN_C, 3);
	vsc_tgt_tpg_remove(WWPN_C, 3);
}

/*
 * QEMU's worker_per_virtqueue=on: VHOST_NEW_WORKER and
 * VHOST_ATTACH_VRING_WORKER for each request queue after the first, going
 * on with one worker after -ENOTTY.  tcm_vhost answers -ENOTTY (its request
 * queues have threads of their own); 6.12's vhost_scsi serves them, 6.1's
 * has no such ioctls.  Either way I/O works on every queue.
 */
VT_TEST("ioctl", worker_per_virtqueue_client)
{
	struct vsc_opts o = { .num_req_queues = 2, .worker_per_vq = true };
	struct vsc_dev *d = ft_open_ep(&o);

	if (!d)
		return;
	if (!vt_upstream())
		ASSERT(!vsc_workers_attached(d),
		       "VHOST_NEW_WORKER served; tcm_vhost answers it -ENOTTY");
	else
		vt_note("vhost_scsi: %s", vsc_workers_attached(d) ?
			"a worker per request queue" : "worker ioctls refused (one worker)");
	if (ft_verify_rw(d, VSC_VQ_REQ(0), 1, 0, 10, 15000, 8, NULL, NULL))
		ft_verify_rw(d, VSC_VQ_REQ(1), 1, 0, 10, 15100, 8, NULL, NULL);
}
