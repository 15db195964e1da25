// SPDX-License-Identifier: GPL-2.0
/*
 * Malformed virtio-scsi requests: headers, LUNs, CDBs, PI, layouts,
 * control queue, endpoints and configfs names (REFERENCE.md section 5).
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bi.h"

#define REQ VSC_VQ_REQ(0)
#define RESP_SZ sizeof(struct virtio_scsi_cmd_resp)

/* One request with full control: returns 0 and fills res, or -errno. */
static int req_sync(struct vsc_dev *d, struct vsc_req *r, struct vsc_result *res,
		    uint32_t *used_len, int ms)
{
	int ret = vsc_req_submit(d, r);

	if (ret)
		return ret;
	vsc_kick(d, r->op.vq);
	ret = vsc_wait(d, &r->op, ms);
	if (ret) {
		vsc_req_release(d, r);	/* abandons: the device owns the buffers */
		return ret;
	}
	*res = r->res;
	if (used_len)
		*used_len = r->op.used_len;
	ret = r->canary_err;
	vsc_req_release(d, r);
	return ret;
}

static void tur_cdb(uint8_t *cdb)
{
	memset(cdb, 0, 16);
	vsc_cdb_tur(cdb);
}

/* In @q a TEST UNIT READY to BI_LUN_RD, for the caller to spoil before sending it. */
static void tur_init(struct vsc_dev *d, struct vsc_req *q)
{
	uint8_t cdb[16];

	tur_cdb(cdb);
	vsc_req_init(d, q, REQ, BI_TGT, BI_LUN_RD, cdb, 6);
}

/* 1. AN request on the control queue while no endpoint is set */
VT_TEST(NULL, ctl_an_no_endpoint)
{
	struct vsc_dev *d = bi_open(NULL);
	struct vsc_ctl c, t;
	int r;

	ASSERT(d, "open");
	vsc_an_init(&c, false, BI_TGT, 0, 0xff);
	ASSERT(!vsc_ctl_submit(d, &c), "submit AN");
	vsc_tmf_init(&t, VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, BI_TGT, 0, 0);
	ASSERT(!vsc_ctl_submit(d, &t), "submit TMF");
	vsc_kick_force(d, VSC_VQ_CTL);
	r = vsc_wait(d, &c.op, 500);
	/* Without a backend nothing may be touched; an answer is tolerated if sane. */
	if (!r)
		ASSERT(!c.canary_err && (c.response == VIRTIO_SCSI_S_OK ||
					 c.response == VIRTIO_SCSI_S_BAD_TARGET),
		       "AN answered without endpoint: response %u", c.response);
	ASSERT(!vsc_canary_check_all(d), "canary damaged while no endpoint");
	r = vsc_set_endpoint(d, BI_WWPN_A);
	ASSERT(!r, "SET_ENDPOINT after the queued AN: %s", vt_errstr(r));
	vsc_kick_force(d, VSC_VQ_CTL);
	r = vsc_wait(d, &c.op, BI_TMO);
	ASSERT(!r, "queued AN never answered after SET_ENDPOINT: %s", vt_errstr(r));
	ASSERT(c.response == VIRTIO_SCSI_S_OK, "AN response %u, want OK", c.response);
	ASSERT(!c.canary_err, "AN canary");
	r = vsc_wait(d, &t.op, BI_TMO);
	ASSERT(!r, "queued TMF never answered: %s", vt_errstr(r));
	ASSERT(t.response == VIRTIO_SCSI_S_OK || t.response == VIRTIO_SCSI_S_FUNCTION_SUCCEEDED ||
	       t.response == VIRTIO_SCSI_S_FUNCTION_REJECTED,
	       "LUN RESET response %u", t.response);
	vsc_ctl_release(d, &c);
	vsc_ctl_release(d, &t);
	bi_healthy(d, "after");
}

/* Control request @c, addressed to target 7 (no TPG there), is answered BAD_TARGET. */
static void ctl_to_bad_target(struct vsc_ctl *c, const char *what)
{
	struct vsc_dev *d = bi_open_ep(NULL, BI_WWPN_A);
	int r;

	ASSERT(d, "open");
	r = vsc_ctl_sync(d, c, BI_TMO);
	ASSERT(r != -ETIMEDOUT, "%s to target 7 not answered", what);
	ASSERT(!r, "%s to target 7: %s (canary damaged: error reply too big?)", what,
	       vt_errstr(r));
	EXPECT_OR_DIFF(c->response == VIRTIO_SCSI_S_BAD_TARGET,
		       "%s to target 7: response %u, want BAD_TARGET", what, c->response);
	bi_healthy(d, "after");
}

/* 1b. AN request addressing a target byte without TPG */
VT_TEST(NULL, ctl_an_bad_target)
{
	struct vsc_ctl c;

	vsc_an_init(&c, true, 7, 0, 0xff);
	ctl_to_bad_target(&c, "AN");
}

/* 2. I/O to a target byte with no TPG */
VT_TEST(NULL, io_bad_target)
{
	struct vsc_dev *d = bi_open_ep(NULL, BI_WWPN_A);
	static const uint8_t tgts[] = { 0, 3, 7, 200, 255 };
	struct vsc_result res;
	uint8_t cdb[16], buf[512];
	unsigned int k;
	int r;

	ASSERT(d, "open");
	tur_cdb(cdb);
	for (k = 0; k < sizeof(tgts); k++) {
		r = vsc_cmd(d, REQ, tgts[k], 0, cdb, 6, NULL, 0, NULL, 0, &res, BI_TMO);
		ASSERT(!r, "TUR target %u: %s", tgts[k], vt_errstr(r));
		ASSERT(res.response == VIRTIO_SCSI_S_BAD_TARGET, "TUR target %u: %s", tgts[k],
		       vt_res(&res));
	}
	r = vsc_cmd(d, REQ, 9, 0, cdb, vsc_cdb_rw(cdb, false, 10, 0, 1), NULL, 0, buf, 512,
		    &res, BI_TMO);
	ASSERT(!r && res.response == VIRTIO_SCSI_S_BAD_TARGET, "READ target 9: %s %s",
	       vt_errstr(r), vt_res(&res));
	/* target 2 exists: must work */
	tur_cdb(cdb);
	r = vsc_cmd(d, REQ, 2, 0, cdb, 6, NULL, 0, NULL, 0, &res, BI_TMO);
	ASSERT(!r && res.response == VIRTIO_SCSI_S_OK, "TUR target 2: %s %s", vt_errstr(r),
	       vt_res(&res));
	bi_healthy(d, "after");
}

/* 2b. TMF to a target byte with no TPG */
VT_TEST(NULL, tmf_bad_target)
{
	struct vsc_ctl c;

	vsc_tmf_init(&c, VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, 7, 0, 0);
	ctl_to_bad_target(&c, "TMF");
}

/* 3. SET_ENDPOINT twice, and with a second WWPN */
VT_TEST(NULL, set_endpoint_twice)
{
	struct vsc_dev *d = bi_open_ep(NULL, BI_WWPN_A);
	int r;

	ASSERT(d, "open");
	r = vsc_set_endpoint(d, BI_WWPN_A);
	EXPECT_OR_DIFF(r < 0, "second SET_ENDPOINT (same WWPN) accepted");
	vt_note("same wwpn: %s", vt_errstr(r));
	r = vsc_set_endpoint(d, BI_WWPN_B);
	EXPECT_OR_DIFF(r < 0, "SET_ENDPOINT with a second WWPN accepted");
	vt_note("second wwpn: %s", vt_errstr(r));
	if (!bi_healthy(d, "after refused SET_ENDPOINTs"))
		return;
	r = vsc_clear_endpoint(d, BI_WWPN_A);
	ASSERT(!r, "CLEAR_ENDPOINT: %s", vt_errstr(r));
	/* with upstream a second WWPN may have been attached: clear that too */
	vsc_clear_endpoint(d, BI_WWPN_B);
	r = vsc_set_endpoint(d, BI_WWPN_B);
	ASSERT(!r, "SET_ENDPOINT B after CLEAR: %s", vt_errstr(r));
	r = vsc_clear_endpoint(d, BI_WWPN_B);
	ASSERT(!r, "CLEAR_ENDPOINT B: %s", vt_errstr(r));
	r = vsc_set_endpoint(d, BI_WWPN_A);
	ASSERT(!r, "SET_ENDPOINT A again: %s", vt_errstr(r));
	bi_healthy(d, "after re-set");
}

/* 4. configfs tpgt_N with N >= 256 */
VT_TEST(NULL, tpgt_256)
{
	static const char *const bad[] = { "tpgt_256", "tpgt_1000", "tpgt_65536", "tpgt_-1",
					   "tpgt_", "tpgt_4294967297" };
	char p[256];
	unsigned int k;
	struct vsc_dev *d;

	ASSERT(!vsc_cfs_mkdir(VSC_CFS_TARGET "/vhost/" BI_WWPN_C), "mkdir wwpn");
	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		snprintf(p, sizeof(p), VSC_CFS_TARGET "/vhost/" BI_WWPN_C "/%s", bad[k]);
		if (!mkdir(p, 0755)) {
			rmdir(p);
			ASSERT(0, "mkdir %s succeeded", bad[k]);
		}
	}
	snprintf(p, sizeof(p), VSC_CFS_TARGET "/vhost/" BI_WWPN_C "/tpgt_255");
	ASSERT(!mkdir(p, 0755), "mkdir tpgt_255: %s", strerror(errno));
	ASSERT(!rmdir(p), "rmdir tpgt_255: %s", strerror(errno));
	ASSERT(!rmdir(VSC_CFS_TARGET "/vhost/" BI_WWPN_C), "rmdir wwpn: %s", strerror(errno));
	d = bi_open_ep(NULL, BI_WWPN_A);
	ASSERT(d, "open");
	bi_healthy(d, "after");
}

/* 6. response header split in 1-byte descriptors (direct and indirect) */
VT_TEST(NULL, resp_split_1byte)
{
	struct vsc_opts o = bi_opts(512, 0);
	struct vsc_dev *d = bi_open_ep(&o, BI_WWPN_A);
	uint8_t w[4096], rd[4096];
	struct vsc_layout l;
	int ind;

	ASSERT(d, "open");
	for (ind = 0; ind < 2; ind++) {
		memset(&l, 0, sizeof(l));
		l.resp_split = 1;
		l.hdr_split = 1;
		l.indirect = ind;
		vt_fill(w, sizeof(w));
		if (!vt_rw(d, VSC_VQ_REQ(0), BI_TGT, BI_LUN_RD, true, 16, 64, 8, w, &l))
			return;
		memset(rd, 0, sizeof(rd));
		if (!vt_rw(d, VSC_VQ_REQ(0), BI_TGT, BI_LUN_RD, false, 16, 64, 8, rd, &l))
			return;
		ASSERT(!memcmp(w, rd, sizeof(w)), "data mismatch (indirect=%d)", ind);
	}
	/* an error answer (bad target) through 1-byte descriptors */
	{
		struct vsc_req r;
		struct vsc_result res;
		uint8_t cdb[16];
		int ret;

		tur_cdb(cdb);
		vsc_req_init(d, &r, REQ, 9, 0, cdb, 6);
		r.layout.resp_split = 1;
		ret = req_sync(d, &r, &res, NULL, BI_TMO);
		ASSERT(!ret, "bad-target TUR, 1-byte response descriptors: %s", vt_errstr(ret));
		ASSERT(res.response == VIRTIO_SCSI_S_BAD_TARGET, "%s", vt_res(&res));
	}
	bi_healthy(d, "after");
}

/*
 * 7. The response location of one chain must not be reused for the next:
 * after a good command completes, bad ones (no response room, bad LUN,
 * short header) must not write into its buffers.
 */
VT_TEST(NULL, resp_no_leak_across_chains)
{
	struct vsc_dev *d = bi_open_ep(NULL, BI_WWPN_A);
	struct vsc_req a, c, e;
	struct vsc_op bop;
	struct vsc_buf *bh, *bw;
	uint8_t snap_resp[RESP_SZ], snap_data[512], cdb[16];
	struct bi_desc ds[2];
	int ret;

	ASSERT(d, "open");
	vsc_req_init(d, &a, REQ, BI_TGT, BI_LUN_RD, cdb, vsc_cdb_rw(cdb, false, 10, 5, 1));
	a.din_len = 512;
	ASSERT(!vsc_req_submit(d, &a), "submit A");
	vsc_kick(d, REQ);
	ASSERT(!vsc_wait(d, &a.op, BI_TMO), "A not answered");
	ASSERT(a.res.response == VIRTIO_SCSI_S_OK && !a.res.status, "A: %s", vt_res(&a.res));
	memcpy(snap_resp, a.bufs[2]->p, RESP_SZ);
	memcpy(snap_data, a.din, 512);

	/* B: request with only 4 writable bytes */
	tur_cdb(cdb);
	bh = bi_req_hdr(d, BI_TGT, BI_LUN_RD, cdb, 6, 0);
	bw = bi_wbuf(d, 4);
	ASSERT(bh && bw, "alloc");
	ds[0] = (struct bi_desc){ (uintptr_t)bh->p, (uint32_t)bh->len, VRING_DESC_F_NEXT, BI_NEXT_AUTO };
	ds[1] = (struct bi_desc){ (uintptr_t)bw->p, 4, VRING_DESC_F_WRITE, BI_NEXT_AUTO };
	memset(&bop, 0, sizeof(bop));
	ASSERT(!bi_post_raw(d, REQ, ds, 2, &bop), "post B");
	/* C: lun[0] = 2 */
	vsc_req_init(d, &c, REQ, BI_TGT, BI_LUN_RD, cdb, 6);
	c.lun[0] = 2;
	ASSERT(!vsc_req_submit(d, &c), "submit C");
	/* E: request header of 10 bytes */
	vsc_req_init(d, &e, REQ, BI_TGT, BI_LUN_RD, cdb, 6);
	e.hdr_len = 10;
	ASSERT(!vsc_req_submit(d, &e), "submit E");
	vsc_kick(d, REQ);
	ret = vsc_wait(d, &c.op, BI_TMO);
	ASSERT(!ret, "C (lun[0]=2) not answered");
	ret = vsc_wait(d, &e.op, BI_TMO);
	ASSERT(!ret, "E (short header) not answered");
	ret = vsc_wait(d, &bop, 1000);
	ASSERT(!memcmp(snap_resp, a.bufs[2]->p, RESP_SZ),
	       "response buffer of the previous (completed) chain was rewritten");
	ASSERT(!memcmp(snap_data, a.din, 512), "data-in of the previous chain was rewritten");
	ASSERT(!vsc_buf_check(bw, NULL), "4-byte response buffer: canary damaged");
	ASSERT(c.res.response == VIRTIO_SCSI_S_BAD_TARGET, "C: %s", vt_res(&c.res));
	ASSERT(e.res.response != VIRTIO_SCSI_S_OK, "E (short header) answered OK: %s",
	       vt_res(&e.res));
	if (ret)
		vt_differs(__LINE__, "chain with 4 response bytes: no used entry (dropped, descriptor lost)");
	else
		ASSERT(bop.used_len == 0, "chain with 4 response bytes: used len %u", bop.used_len);
	ASSERT(!c.canary_err && !e.canary_err, "canaries");
	vsc_req_release(d, &a);
	vsc_req_release(d, &c);
	vsc_req_release(d, &e);
	bi_healthy(d, "after");
}

/*
 * 8. Control-queue error replies must fit the control response sizes
 * (1 byte for TMF, 8 for AN): exact-size guarded buffers.
 */
VT_TEST(NULL, ctl_error_reply_size)
{
	struct vsc_dev *d = bi_open_ep(NULL, BI_WWPN_A);
	struct {
		const char *what;
		bool an;
		uint32_t subtype;
		uint8_t target;
		uint32_t req_len;
	} cs[] = {
		{ "TMF bad target", false, VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, 7, 0 },
		{ "TMF unknown subtype", false, 77, BI_TGT, 0 },
		{ "TMF short request", false, VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, BI_TGT, 8 },
		{ "AN bad target", true, 0, 7, 0 },
		{ "AN short request", true, 0, BI_TGT, 6 },
	};
	unsigned int k;
	struct vsc_ctl c;
	int r;

	ASSERT(d, "open");
	for (k = 0; k < sizeof(cs) / sizeof(cs[0]); k++) {
		if (cs[k].an)
			vsc_an_init(&c, false, cs[k].target, 0, 0);
		else
			vsc_tmf_init(&c, cs[k].subtype, cs[k].target, 0, 0);
		c.req_len = cs[k].req_len;
		r = vsc_ctl_submit(d, &c);
		ASSERT(!r, "%s: submit %s", cs[k].what, vt_errstr(r));
		vsc_kick(d, VSC_VQ_CTL);
		r = vsc_wait(d, &c.op, 3000);
		if (r) {
			vsc_ctl_release(d, &c);
			ASSERT(!vsc_canary_check_all(d), "%s: canary damaged", cs[k].what);
			vt_differs(__LINE__, "%s: no answer", cs[k].what);
			continue;
		}
		ASSERT(!c.canary_err, "%s: reply overran the %u-byte response buffer", cs[k].what,
		       c.resp_len);
		ASSERT(c.op.used_len <= c.resp_len, "%s: used len %u > response size %u",
		       cs[k].what, c.op.used_len, c.resp_len);
		ASSERT(c.response != VIRTIO_SCSI_S_OK || cs[k].an || c.op.used_len == 0,
		       "%s: answered OK", cs[k].what);
		vt_note("%s: response %u used %u", cs[k].what, c.response, c.op.used_len);
		vsc_ctl_release(d, &c);
	}
	bi_healthy(d, "after");
}

/* 9a. response buffer shorter than the response header */
VT_TEST(NULL, resp_shorter_than_header)
{
	struct vsc_dev *d = bi_open_ep(NULL, BI_WWPN_A);
	static const uint32_t lens[] = { RESP_SZ - 1, 1 };
	struct vsc_op op;
	struct vsc_buf *h;
	struct bi_desc ds[1];
	uint8_t cdb[16];
	unsigned int k;
	int r;

	ASSERT(d, "open");
	for (k = 0; k < 2; k++) {
		struct vsc_req q;

		tur_init(d, &q);
		q.resp_len = lens[k];
		r = vsc_req_submit(d, &q);
		ASSERT(!r, "submit");
		vsc_kick(d, REQ);
		r = vsc_wait(d, &q.op, 2000);
		if (r) {
			vsc_req_release(d, &q);
			vt_differs(__LINE__, "%u-byte response buffer: no used entry (dropped)", lens[k]);
		} else {
			ASSERT(!q.canary_err, "%u-byte response: canary damaged", lens[k]);
			ASSERT(q.op.used_len == 0, "%u-byte response: used len %u", lens[k],
			       q.op.used_len);
			ASSERT(bi_all_cc(q.bufs[2]->p, lens[k]),
			       "%u-byte response buffer written", lens[k]);
			vsc_req_release(d, &q);
		}
	}
	/* no device-writable descriptor at all */
	tur_cdb(cdb);
	h = bi_req_hdr(d, BI_TGT, BI_LUN_RD, cdb, 6, 0);
	ASSERT(h, "alloc");
	ds[0] = (struct bi_desc){ (uintptr_t)h->p, (uint32_t)h->len, 0, BI_NEXT_AUTO };
	memset(&op, 0, sizeof(op));
	ASSERT(!bi_post_raw(d, REQ, ds, 1, &op), "post");
	vsc_kick(d, REQ);
	r = vsc_wait(d, &op, 2000);
	if (r)
		vt_differs(__LINE__, "chain without writable part: no used entry (dropped)");
	else
		ASSERT(op.used_len == 0, "chain without writable part: used len %u", op.used_len);
	bi_healthy(d, "after");
}

/* 9b. request shorter than the request header */
VT_TEST(NULL, req_shorter_than_header)
{
	struct vsc_dev *d = bi_open_ep(NULL, BI_WWPN_A);
	static const uint32_t lens[] = { 1, 20, sizeof(struct virtio_scsi_cmd_req) - 1 };
	struct vsc_result res;
	struct vsc_op op;
	struct vsc_buf *w;
	struct bi_desc ds[1];
	unsigned int k;
	int r;

	ASSERT(d, "open");
	for (k = 0; k < 3; k++) {
		struct vsc_req q;

		tur_init(d, &q);
		q.hdr_len = lens[k];
		r = req_sync(d, &q, &res, NULL, BI_TMO);
		ASSERT(!r, "%u-byte header: %s", lens[k], vt_errstr(r));
		ASSERT(res.response != VIRTIO_SCSI_S_OK, "%u-byte header answered OK", lens[k]);
		EXPECT_OR_DIFF(res.response == VIRTIO_SCSI_S_FAILURE,
			       "%u-byte header: response %s, tcm_vhost gives FAILURE", lens[k],
			       vsc_response_name(res.response));
	}
	/* no device-readable descriptor at all */
	w = bi_wbuf(d, RESP_SZ);
	ASSERT(w, "alloc");
	ds[0] = (struct bi_desc){ (uintptr_t)w->p, RESP_SZ, VRING_DESC_F_WRITE, BI_NEXT_AUTO };
	memset(&op, 0, sizeof(op));
	ASSERT(!bi_post_raw(d, REQ, ds, 1, &op), "post");
	vsc_kick(d, REQ);
	r = vsc_wait(d, &op, BI_TMO);
	ASSERT(!r, "chain without request header not answered");
	bi_resp_decode(w->p, &res);
	ASSERT(!vsc_buf_check(w, NULL), "canary");
	ASSERT(op.used_len == RESP_SZ && res.response != VIRTIO_SCSI_S_OK,
	       "no header: used %u %s", op.used_len, vt_res(&res));
	bi_healthy(d, "after");
}

/* 10a. lun[0] != 1 */
VT_TEST(NULL, lun0_not_1)
{
	struct vsc_dev *d = bi_open_ep(NULL, BI_WWPN_A);
	static const uint8_t v[] = { 0, 2, 0x40, 0xff };
	struct vsc_result res;
	unsigned int k;
	int r;

	ASSERT(d, "open");
	for (k = 0; k < sizeof(v); k++) {
		struct vsc_req q;

		tur_init(d, &q);
		q.lun[0] = v[k];
		r = req_sync(d, &q, &res, NULL, BI_TMO);
		ASSERT(!r, "lun[0]=%#x: %s", v[k], vt_errstr(r));
		ASSERT(res.response == VIRTIO_SCSI_S_BAD_TARGET, "lun[0]=%#x: %s", v[k],
		       vt_res(&res));
	}
	bi_healthy(d, "after");
}

/* 10a'. bytes 4..7 of the LUN not zero, LUN above 16383 */
VT_TEST(NULL, lun_tail_nonzero)
{
	struct vsc_dev *d = bi_open_ep(NULL, BI_WWPN_A);
	struct vsc_result res;
	unsigned int k;
	int r;

	ASSERT(d, "open");
	for (k = 4; k < 8; k++) {
		struct vsc_req q;

		tur_init(d, &q);
		q.lun[k] = 0x5a;
		r = req_sync(d, &q, &res, NULL, BI_TMO);
		ASSERT(!r, "lun[%u]!=0: %s", k, vt_errstr(r));
		ASSERT(res.response == VIRTIO_SCSI_S_BAD_TARGET ||
		       (res.response == VIRTIO_SCSI_S_OK && res.status == SAM_STAT_CHECK_CONDITION),
		       "lun[%u]!=0 reached LUN 0 as if valid: %s", k, vt_res(&res));
		EXPECT_OR_DIFF(res.response == VIRTIO_SCSI_S_BAD_TARGET, "lun[%u]!=0: %s", k,
			       vt_res(&res));
	}
	bi_healthy(d, "after");
}

/* 10b. variable-length CDB announcing more than 32 bytes */
VT_TEST(NULL, cdb_varlen_over_32)
{
	struct vsc_dev *d = bi_open_ep(NULL, BI_WWPN_A);
	static const uint8_t addl[] = { 25, 200, 255 };	/* 8 + n bytes */
	struct vsc_result res;
	uint8_t cdb[32], buf[512];
	unsigned int k;
	int r;

	ASSERT(d, "open");
	for (k = 0; k < sizeof(addl); k++) {
		memset(cdb, 0, sizeof(cdb));
		cdb[0] = 0x7f;
		cdb[7] = addl[k];
		cdb[9] = 0x09;	/* READ(32) service action */
		r = vsc_cmd(d, REQ, BI_TGT, BI_LUN_RD, cdb, 32, NULL, 0, buf, 512, &res, BI_TMO);
		ASSERT(!r, "varlen %u: %s", 8 + addl[k], vt_errstr(r));
		ASSERT(res.response != VIRTIO_SCSI_S_OK || res.status == SAM_STAT_CHECK_CONDITION,
		       "varlen CDB of %u bytes accepted: %s", 8 + addl[k], vt_res(&res));
		EXPECT_OR_DIFF(res.response == VIRTIO_SCSI_S_OK &&
			       vt_sense_is(&res, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB),
			       "varlen %u: %s, tcm_vhost gives CHECK CONDITION 5/24/00", 8 + addl[k],
			       vt_res(&res));
	}
	bi_healthy(d, "after");
}

/* 11. T10 PI byte counts against the data direction */
static void pi_case(bool write, uint32_t pi_out, uint32_t pi_in, uint32_t data)
{
	struct vsc_opts o = bi_opts(0, VSC_F(VIRTIO_SCSI_F_T10_PI));
	struct vsc_dev *d = bi_open_ep(&o, BI_WWPN_A);
	struct vsc_result res;
	struct vsc_req q;
	uint8_t cdb[16], *buf;
	int r;

	ASSERT(d, "open");
	if (!vsc_has_feature(d, VIRTIO_SCSI_F_T10_PI))
		SKIP("T10_PI not offered");
	buf = calloc(1, data + 8192);
	ASSERT(buf, "alloc");
	vsc_req_init(d, &q, REQ, BI_TGT, BI_LUN_RD, cdb, vsc_cdb_rw(cdb, write, 10, 8, data / 512));
	q.pi_bytesout = pi_out;
	q.pi_bytesin = pi_in;
	if (write) {
		q.dout = buf;
		q.dout_len = data;
	} else {
		q.din_len = data;
	}
	r = req_sync(d, &q, &res, NULL, BI_TMO);
	free(buf);
	ASSERT(!r, "%s", vt_errstr(r));
	ASSERT(res.response != VIRTIO_SCSI_S_OK || res.status != SAM_STAT_GOOD, "accepted: %s", vt_res(&res));
	EXPECT_OR_DIFF(res.response == VIRTIO_SCSI_S_OK &&
		       vt_sense_is(&res, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB),
		       "%s, tcm_vhost gives CHECK CONDITION 5/24/00", vt_res(&res));
	bi_healthy(d, "after");
}

VT_TEST(NULL, pi_bytesout_on_read)
{
	pi_case(false, 8, 0, 4096);
}

VT_TEST(NULL, pi_bytesin_on_write)
{
	pi_case(true, 0, 8, 4096);
}

VT_TEST_F(NULL, pi_larger_than_data, VT_F_UPSTREAM_SKIP,
	  "pi_bytesout > data underflows the expected data length")
{
	pi_case(true, 8192, 0, 4096);
}

/*
 * target_core's DIF code writes whole 8-byte tuples per scatterlist entry:
 * 4 bytes of PI at the end of a page would be overrun into the next one.
 */
VT_TEST_F(NULL, pi_not_whole_tuples_write, VT_F_UPSTREAM_SKIP,
	  "upstream takes PI that is not a whole number of 8-byte tuples")
{
	pi_case(true, 4, 0, 4096);
}

VT_TEST_F(NULL, pi_not_whole_tuples_read, VT_F_UPSTREAM_SKIP,
	  "upstream takes PI that is not a whole number of 8-byte tuples")
{
	pi_case(false, 0, 12, 4096);
}

VT_TEST(NULL, pi_both_directions)
{
	pi_case(true, 8, 8, 4096);
}

/*
 * #12.3: a WRITE with WRPROTECT=0 to a LUN formatted with Type 1 PI.
 * target_core then generates the PI itself (DOUT_INSERT), into the PI
 * buffer it was handed.  A guest that sends PI all the same must find its
 * device-readable buffer as it left it: the host does not write there.
 * The data must land as usual, and the READs after it (with no PI) must
 * not trip over the WRITE's PI copy.
 */
VT_TEST_F(NULL, pi_insert_leaves_guest_pi_alone, VT_F_BEYOND,
	  "refuses a WRITE with PI and WRPROTECT=0 (CHECK CONDITION 5/0e/03)")
{
	const uint32_t data = 8 * 512, pi = 8 * 8;
	struct vsc_opts o = bi_opts(0, VSC_F(VIRTIO_SCSI_F_T10_PI));
	struct vsc_buf *wb = NULL;
	struct vsc_dev *d = NULL;
	struct vsc_result res;
	struct vsc_req q;
	uint8_t cdb[16], rd[8 * 512];
	uint32_t i, changed = 0;
	int r;

	r = vsc_tgt_rd_create(BI_HBA_RD, "rdpi", 1ULL << 20);
	if (!r)
		r = vsc_cfs_write(VSC_CFS_TARGET "/core/" BI_HBA_RD "/rdpi/attrib/pi_prot_type", "1");
	if (!r)
		r = vsc_tgt_lun_link(BI_WWPN_A, 1, BI_LUN_PI, BI_HBA_RD, "rdpi");
	if (r) {
		vt_fail(__LINE__, "a Type 1 PI RAM disk as LUN %d: %s", BI_LUN_PI, vt_errstr(r));
		goto out;
	}
	d = bi_open_ep(&o, BI_WWPN_A);
	if (!d || !vsc_has_feature(d, VIRTIO_SCSI_F_T10_PI) || !vt_clear_ua(d, BI_TGT, BI_LUN_PI)) {
		vt_fail(__LINE__, "open with T10_PI and clear LUN %d's unit attention", BI_LUN_PI);
		goto out;
	}
	wb = vsc_buf_alloc(d, pi + data, 0, 0);
	if (!wb) {
		vt_fail(__LINE__, "alloc");
		goto out;
	}
	memset(wb->p, 0x5a, pi);
	vt_fill(wb->p + pi, data);
	vsc_req_init(d, &q, REQ, BI_TGT, BI_LUN_PI, cdb, vsc_cdb_rw(cdb, true, 10, 16, 8));
	q.pi_bytesout = pi;
	q.dout_buf = wb;
	r = vsc_cmd_layout(d, &q, NULL, &res, BI_TMO);
	if (r || res.response || res.status) {
		vt_fail(__LINE__, "WRITE(10) WRPROTECT=0 with %u bytes of PI: %s %s", pi, vt_errstr(r),
			vt_res(&res));
		goto out;
	}
	for (i = 0; i < pi; i++)
		changed += wb->p[i] != 0x5a;
	if (changed)
		FAIL("%u of the %u PI bytes the guest sent were written by the host", changed, pi);
	/*
	 * Read it back, over and over: plain READs reuse the WRITE's command
	 * slot sooner or later, and must find nothing of its PI copy there.
	 */
	for (i = 0; i < 256; i++) {
		if (!vt_rw(d, REQ, BI_TGT, BI_LUN_PI, false, 10, 16, 8, rd, NULL))
			break;
		if (memcmp(rd, wb->p + pi, data)) {
			FAIL("READ %u: data read back differs from the data written", i);
			break;
		}
	}
out:
	if (wb)
		vsc_buf_free(d, wb);
	if (d)
		bi_close(d);
	vsc_tgt_lun_unlink(BI_WWPN_A, 1, BI_LUN_PI);
	vsc_tgt_backstore_remove(BI_HBA_RD, "rdpi");
}

/* 12. many segments, and more than the supported bytes */
VT_TEST(NULL, segs_1000)
{
	struct vsc_dev *d = bi_open_ep(NULL, BI_WWPN_A);
	static uint8_t w[1000 * 512], rd[1000 * 512];
	struct vsc_layout l = { .data_split = 512, .indirect = true };

	ASSERT(d, "open");
	vt_fill(w, sizeof(w));
	if (!vt_rw(d, VSC_VQ_REQ(0), BI_TGT, BI_LUN_RD, true, 16, 4096, 1000, w, &l))
		return;
	l.data_split = 256;	/* 2000 descriptors won't fit: keep 1000 */
	l.data_split = 512;
	if (!vt_rw(d, VSC_VQ_REQ(0), BI_TGT, BI_LUN_RD, false, 16, 4096, 1000, rd, &l))
		return;
	ASSERT(!memcmp(w, rd, sizeof(w)), "data mismatch");
	bi_healthy(d, "after");
}

/* More descriptors than the vhost core's iovec array: a vq error, no crash */
VT_TEST(NULL, segs_over_uiomaxiov)
{
	struct vsc_dev *d = bi_open_ep(NULL, BI_WWPN_A);
	struct vsc_layout l = { .data_split = 512, .indirect = true };
	struct vsc_req q;
	uint8_t cdb[16];
	uint64_t e0;
	int r;

	ASSERT(d, "open");
	e0 = vsc_vq_errors(d, REQ);
	vsc_req_init(d, &q, REQ, BI_TGT, BI_LUN_RD, cdb, vsc_cdb_rw(cdb, false, 16, 0, 1100));
	q.din_len = 1100 * 512;
	q.layout = l;
	ASSERT(!vsc_req_submit(d, &q), "submit");
	vsc_kick(d, REQ);
	r = vsc_wait(d, &q.op, 3000);
	if (!r) {
		/* answered: then it must be a sane answer */
		ASSERT(!q.canary_err, "canary");
		vt_note("1100 segments answered: %s", vt_res(&q.res));
		vsc_req_release(d, &q);
		bi_healthy(d, "after");
		return;
	}
	vsc_req_release(d, &q);
	ASSERT(bi_wait_vq_err(d, REQ, e0, 2000), "no answer and no vq error");
	bi_fresh_healthy(&d, BI_WWPN_A);
}

VT_TEST(NULL, io_over_max_bytes)
{
	struct vsc_dev *d = bi_open_ep(NULL, BI_WWPN_A);
	struct vsc_layout l = { .data_split = 1 << 20, .indirect = true };
	struct vsc_result res;
	struct vsc_req q;
	uint8_t cdb[16];
	uint32_t blocks = (33u << 20) / 512;
	int r;

	ASSERT(d, "open");
	vsc_req_init(d, &q, REQ, BI_TGT, BI_LUN_RD, cdb, vsc_cdb_rw(cdb, false, 16, 0, blocks));
	q.din_len = (size_t)blocks * 512;
	q.layout = l;
	r = req_sync(d, &q, &res, NULL, 5000);
	if (r == -ETIMEDOUT) {
		vt_differs(__LINE__, "33 MiB READ: no answer");
	} else {
		ASSERT(!r, "%s", vt_errstr(r));
		EXPECT_OR_DIFF(res.response == VIRTIO_SCSI_S_OK &&
			       vt_sense_is(&res, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB),
			       "33 MiB READ: %s, tcm_vhost gives CHECK CONDITION 5/24/00",
			       vt_res(&res));
	}
	bi_healthy(d, "after");
}

/* 13. misaligned iovecs with many segments */
VT_TEST(NULL, misaligned_many_segs)
{
	struct vsc_dev *d = bi_open_ep(NULL, BI_WWPN_A);
	static uint8_t w[512 * 1024], rd[512 * 1024];
	struct vsc_layout l = { .data_split = 1000, .misalign = 13, .indirect = true };

	ASSERT(d, "open");
	vt_fill(w, sizeof(w));
	if (!vt_rw(d, VSC_VQ_REQ(0), BI_TGT, BI_LUN_RD, true, 16, 8192, 1024, w, &l))
		return;
	l.data_split = 777;
	l.misalign = 61;
	l.resp_split = 7;
	if (!vt_rw(d, VSC_VQ_REQ(0), BI_TGT, BI_LUN_RD, false, 16, 8192, 1024, rd, &l))
		return;
	ASSERT(!memcmp(w, rd, sizeof(w)), "data mismatch");
	/* odd lengths crossing pages, direct */
	l.indirect = false;
	l.data_split = 4093;
	l.misalign = 3;
	if (!vt_rw(d, VSC_VQ_REQ(0), BI_TGT, BI_LUN_RD, false, 16, 8192, 128, rd, &l))
		return;
	ASSERT(!memcmp(w, rd, 128 * 512), "data mismatch (direct)");
	bi_healthy(d, "after");
}

/*
 * Submits @cdb with a @len-byte data-in buffer at @misalign, in pieces of
 * 3000 bytes (so the module bounces it), and waits for its answer in @q.
 */
static bool din_bounced(struct vsc_dev *d, struct vsc_req *q, const uint8_t *cdb,
			unsigned int cdb_len, uint32_t len, unsigned int misalign)
{
	int r;

	vsc_req_init(d, q, REQ, BI_TGT, BI_LUN_RD, cdb, cdb_len);
	q->din_len = len;
	q->layout.misalign = misalign;
	q->layout.data_split = 3000;
	r = vsc_req_submit(d, q);
	CHECK(!r, "submit: %s", vt_errstr(r));
	vsc_kick(d, REQ);
	CHECK(!vsc_wait(d, &q->op, BI_TMO), "opcode 0x%02x not answered", cdb[0]);
	CHECK(!q->canary_err, "canary");
	return true;
}

/*
 * #12.1: a control CDB's short answer through a bounced (misaligned)
 * data-in buffer.  PERSISTENT RESERVE IN (READ KEYS) fills 8 bytes of a
 * 16 KiB buffer; target_core zeroes only the first scatterlist entry of a
 * control CDB, and the module zeroes its data-in copies.  Past the 8 bytes
 * the guest must see its own fill (0xcc) or zeros, never host memory: make
 * check boots this VM with init_on_alloc=0 page_poison=1, so a page nobody
 * cleared holds 0xaa (or older host data).  On 6.1 and 6.12 target_core
 * also reports READ KEYS' real length (target_set_cmd_data_length), so the
 * module copies back only 8 bytes: this guards the pair, residual and
 * zeroing, and no longer fails when only the zeroing is removed.  The
 * second rounds do not have that residual: RECEIVE COPY RESULTS
 * (operating parameters) writes 46 bytes and completes GOOD with the whole
 * allocation length (target_complete_cmd, 6.1 and 6.12), so the module
 * copies back all of its bounce pages, and only its zeroing keeps the
 * pages past the first (which target_core zeroes) from the guest.
 */
VT_TEST(NULL, bounce_datain_no_host_bytes)
{
	struct vsc_dev *d = bi_open_ep(NULL, BI_WWPN_A);
	const uint32_t len = 4 * 4096 + 100;
	struct vsc_result res;
	struct vsc_req q;
	uint8_t cdb[16];
	size_t i;
	int k;

	ASSERT(d, "open");
	for (k = 0; k < 8; k++) {	/* reuse freed (poisoned) pages */
		memset(cdb, 0, sizeof(cdb));
		cdb[0] = 0x5e;		/* PERSISTENT RESERVE IN, READ KEYS */
		cdb[7] = len >> 8;
		cdb[8] = len & 0xff;
		if (!din_bounced(d, &q, cdb, 10, len, 13 + k))
			return;
		res = q.res;
		ASSERT(res.response == VIRTIO_SCSI_S_OK && res.status == SAM_STAT_GOOD,
		       "PR IN READ KEYS: %s", vt_res(&res));
		for (i = 8; i < len - res.resid; i++)
			if (q.din[i] != 0 && q.din[i] != 0xcc)
				break;
		ASSERT(i >= len - res.resid,
		       "round %d: data-in byte %zu of %u is 0x%02x: host memory reached the guest",
		       k, i, len, q.din[i]);
		vsc_req_release(d, &q);
	}
	for (k = 0; k < 8; k++) {
		memset(cdb, 0, sizeof(cdb));
		cdb[0] = 0x84;		/* RECEIVE COPY RESULTS */
		cdb[1] = 0x03;		/* OPERATING PARAMETERS */
		cdb[10] = len >> 24;
		cdb[11] = len >> 16;
		cdb[12] = len >> 8;
		cdb[13] = len & 0xff;
		if (!din_bounced(d, &q, cdb, 16, len, 29 + k))
			return;
		res = q.res;
		ASSERT(res.response == VIRTIO_SCSI_S_OK && res.status == 0,
		       "RECEIVE COPY RESULTS (operating parameters): %s", vt_res(&res));
		ASSERT(q.din[0] == 0 && q.din[1] == 0 && q.din[2] == 0 && q.din[3] == 42,
		       "RECEIVE COPY RESULTS: available data %02x%02x%02x%02x, want 42",
		       q.din[0], q.din[1], q.din[2], q.din[3]);
		/* with a residual this round would not test the zeroing */
		ASSERT(res.resid == 0, "RECEIVE COPY RESULTS: residual %u, want 0",
		       (unsigned int)res.resid);
		for (i = 54; i < len; i++)
			if (q.din[i] != 0 && q.din[i] != 0xcc)
				break;
		ASSERT(i >= len,
		       "RCR round %d: data-in byte %zu of %u is 0x%02x: host memory reached the guest",
		       k, i, len, q.din[i]);
		vsc_req_release(d, &q);
	}
	bi_healthy(d, "after");
}

/* 15. data-out and data-in in one request */
VT_TEST(NULL, bidirectional)
{
	struct vsc_dev *d = bi_open_ep(NULL, BI_WWPN_A);
	struct vsc_result res;
	struct vsc_req q;
	uint8_t cdb[16], w[4096];
	int r, k;

	ASSERT(d, "open");
	for (k = 0; k < 2; k++) {
		vt_fill(w, sizeof(w));
		vsc_req_init(d, &q, REQ, BI_TGT, BI_LUN_RD, cdb,
			     vsc_cdb_rw(cdb, k == 0, 10, 16, 8));
		q.dout = w;
		q.dout_len = 4096;
		q.din_len = 4096;
		r = vsc_req_submit(d, &q);
		ASSERT(!r, "submit");
		vsc_kick(d, REQ);
		r = vsc_wait(d, &q.op, BI_TMO);
		ASSERT(!r, "bidirectional %s not answered", k ? "READ" : "WRITE");
		res = q.res;
		ASSERT(!q.canary_err, "canary");
		ASSERT(res.response != VIRTIO_SCSI_S_OK || res.status != SAM_STAT_GOOD,
		       "bidirectional %s accepted", k ? "READ" : "WRITE");
		EXPECT_OR_DIFF(res.response == VIRTIO_SCSI_S_OK &&
			       vt_sense_is(&res, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB),
			       "bidirectional: %s, tcm_vhost gives CHECK CONDITION 5/24/00",
			       vt_res(&res));
		ASSERT(bi_all_cc(q.din, 4096), "data-in written for a refused bidi command");
		vsc_req_release(d, &q);
	}
	bi_healthy(d, "after");
}

/*
 * A control request of @len readable bytes, the first @tlen of them those
 * of type @type and zeros after, and a response buffer of @wlen bytes (in
 * *@w), both with canaries around: posted, kicked and waited for up to 2 s
 * as @op.  False (failed) if it could not be posted, else true with
 * vsc_wait()'s result in *@r.
 */
static bool ctl_raw(struct vsc_dev *d, uint32_t type, uint32_t tlen, uint32_t len,
		    uint32_t wlen, struct vsc_buf **w, struct vsc_op *op, int *r)
{
	struct vsc_buf *h = vsc_buf_alloc(d, len, VSC_BUF_GUARD | VSC_BUF_ZERO, 0);
	uint32_t t = htole32(type);
	struct bi_desc ds[2];

	*w = bi_wbuf(d, wlen);
	CHECK(h && *w, "alloc");
	memcpy(h->p, &t, tlen);
	ds[0] = (struct bi_desc){ (uintptr_t)h->p, len, VRING_DESC_F_NEXT, BI_NEXT_AUTO };
	ds[1] = (struct bi_desc){ (uintptr_t)(*w)->p, wlen, VRING_DESC_F_WRITE, BI_NEXT_AUTO };
	memset(op, 0, sizeof(*op));
	CHECK(!bi_post_raw(d, VSC_VQ_CTL, ds, 2, op), "post");
	vsc_kick(d, VSC_VQ_CTL);
	*r = vsc_wait(d, op, 2000);
	return true;
}

/* 17. unknown control type; control request shorter than its header */
VT_TEST(NULL, ctl_unknown_type)
{
	struct vsc_dev *d = bi_open_ep(NULL, BI_WWPN_A);
	static const uint32_t types[] = { 3, 99, 0x80000000u };
	struct vsc_buf *w;
	struct vsc_op op;
	unsigned int k;
	int r;

	ASSERT(d, "open");
	for (k = 0; k < 3; k++) {
		if (!ctl_raw(d, types[k], 4, 51, 8, &w, &op, &r))
			return;
		ASSERT(!vsc_buf_check(w, NULL), "type %#x: canary damaged", types[k]);
		if (r) {
			vt_differs(__LINE__, "type %#x: no used entry", types[k]);
			continue;
		}
		ASSERT(op.used_len <= 8, "type %#x: used len %u", types[k], op.used_len);
		vt_note("type %#x: used %u", types[k], op.used_len);
	}
	bi_healthy(d, "after");
}

/*
 * Control request @c sent with only @len of its bytes (@what: "8-byte TMF"):
 * no answer is a difference, an error fails, so does OK if @never_ok, and
 * anything but FAILURE is a difference.  False if it failed the test.
 */
static bool ctl_cut(struct vsc_dev *d, struct vsc_ctl *c, uint32_t len, bool never_ok,
		    const char *what)
{
	int r;

	c->req_len = len;
	r = vsc_ctl_sync(d, c, 2000);
	if (r == -ETIMEDOUT) {
		vt_differs(__LINE__, "%s: no answer", what);
		return true;
	}
	CHECK(!r, "%s: %s", what, vt_errstr(r));
	CHECK(!never_ok || c->response != VIRTIO_SCSI_S_OK, "%s answered OK", what);
	EXPECT_OR_DIFF(c->response == VIRTIO_SCSI_S_FAILURE, "%s: response %u", what,
		       c->response);
	return true;
}

VT_TEST(NULL, ctl_short_request)
{
	struct vsc_dev *d = bi_open_ep(NULL, BI_WWPN_A);
	struct vsc_ctl c;
	struct vsc_buf *w;
	struct vsc_op op;
	int r;

	ASSERT(d, "open");
	/* TMF with only its type and subtype */
	vsc_tmf_init(&c, VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, BI_TGT, 0, 0);
	if (!ctl_cut(d, &c, 8, true, "8-byte TMF"))
		return;
	/* AN with 12 of its 16 bytes */
	vsc_an_init(&c, false, BI_TGT, 0, 0);
	if (!ctl_cut(d, &c, 12, false, "12-byte AN"))
		return;
	/* two bytes: not even a type */
	if (!ctl_raw(d, VIRTIO_SCSI_T_TMF, 2, 2, 1, &w, &op, &r))
		return;
	ASSERT(!vsc_buf_check(w, NULL), "2-byte request: canary");
	if (r)
		vt_differs(__LINE__, "2-byte control request: no used entry");
	else
		ASSERT(op.used_len <= 1, "2-byte control request: used %u", op.used_len);
	bi_healthy(d, "after");
}

/* 18. TMFs other than the supported ones */
VT_TEST(NULL, tmf_unsupported)
{
	struct vsc_dev *d = bi_open_ep(NULL, BI_WWPN_A);
	static const uint32_t st[] = { VIRTIO_SCSI_T_TMF_QUERY_TASK,
				       VIRTIO_SCSI_T_TMF_QUERY_TASK_SET,
				       VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET, 8, 1000 };
	struct vsc_ctl c;
	unsigned int k;
	int r;

	ASSERT(d, "open");
	for (k = 0; k < sizeof(st) / sizeof(st[0]); k++) {
		vsc_tmf_init(&c, st[k], BI_TGT, 0, 1234);
		r = vsc_ctl_sync(d, &c, BI_TMO);
		ASSERT(!r, "TMF subtype %u: %s", st[k], vt_errstr(r));
		ASSERT(c.response == VIRTIO_SCSI_S_FUNCTION_REJECTED ||
		       c.response == VIRTIO_SCSI_S_OK || c.response == VIRTIO_SCSI_S_FUNCTION_SUCCEEDED,
		       "TMF subtype %u: response %u", st[k], c.response);
		vt_note("subtype %u -> %u", st[k], c.response);
	}
	bi_healthy(d, "after");
}

/*
 * 16a. event buffers not exactly 16 bytes: a shorter one is returned
 * unwritten (used len 0), a longer one carries the event (used len 16).
 */
VT_TEST(NULL, evt_buffer_not_16)
{
	struct vsc_dev *d = bi_open_ep(NULL, BI_WWPN_A);
	struct vsc_evt e[4];
	struct vsc_evt *got;
	int r, k;

	ASSERT(d, "open");
	if (!vsc_has_feature(d, VIRTIO_SCSI_F_HOTPLUG))
		SKIP("HOTPLUG not offered");
	bi_evt_link(false, BI_LUN_EVT);
	memset(e, 0, sizeof(e));
	e[0].len = 8;
	e[1].len = 15;
	e[2].len = 32;
	e[3].len = 16;
	for (k = 0; k < 4; k++)
		ASSERT(!vsc_evt_repost(d, &e[k]), "post");
	vsc_kick(d, VSC_VQ_EVT);
	r = bi_evt_link(true, BI_LUN_EVT);
	ASSERT(!r, "link lun_%d: %s", BI_LUN_EVT, vt_errstr(r));
	got = vsc_evt_next(d, e, 4, 3000);
	while (got && got->len < 16) {
		ASSERT(got->op.used_len == 0, "%u-byte event buffer: used len %u", got->len,
		       got->op.used_len);
		ASSERT(bi_all_cc(got->buf->p, got->len), "%u-byte event buffer written", got->len);
		got = vsc_evt_next(d, e, 4, 3000);
	}
	bi_evt_link(false, BI_LUN_EVT);
	ASSERT(!vsc_canary_check_all(d), "event buffer canary damaged");
	if (!got) {
		vt_differs(__LINE__, "no event delivered after short buffers (8: %s, 15: %s)",
			   e[0].op.done ? "returned" : "kept", e[1].op.done ? "returned" : "kept");
	} else {
		ASSERT(got == &e[2], "event landed in the %u-byte buffer, expected the 32-byte one",
		       got->len);
		ASSERT(got->op.used_len == 16, "event in a 32-byte buffer: used len %u",
		       got->op.used_len);
		ASSERT(bi_all_cc(got->buf->p + 16, 16), "32-byte event buffer written past 16 bytes");
		ASSERT(got->event == VIRTIO_SCSI_T_TRANSPORT_RESET &&
		       got->reason == VIRTIO_SCSI_EVT_RESET_RESCAN && got->lun[0] == 1 &&
		       got->lun[1] == BI_TGT && got->lun[3] == BI_LUN_EVT,
		       "event %#x reason %u lun %02x%02x%02x%02x", got->event, got->reason,
		       got->lun[0], got->lun[1], got->lun[2], got->lun[3]);
		EXPECT_OR_DIFF(e[0].op.done && e[1].op.done, "short event buffers not returned");
	}
	vsc_evt_release(d, e, 4);
	bi_fresh_healthy(&d, BI_WWPN_A);
}

/*
 * 16c. #12.10: a guest that keeps publishing the same bad event buffer,
 * always ahead of the device (never more than a ring's worth, so the vhost
 * core sees nothing wrong), while an event is pending.  Each buffer is
 * returned unused; the device must still get to its other work (control
 * requests are served by the same worker) instead of spending itself on the
 * event queue.  The buffer is an indirect table of EVT_DESCS readable
 * bytes: a pass over the ring costs the device a good fraction of a second
 * and the feeder (on another CPU) a store per entry, so the ring never runs
 * dry and only the module's bound on one pass lets the TMF through
 * (mutant evt-bad-buffers-unbounded).
 */
#define EVT_RING 1024
#define EVT_DESCS 512

/* Thread @tid (0: this one) onto CPU @cpu alone. */
static int pin_to_cpu(pid_t tid, int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(tid, sizeof(set), &set);
}

/*
 * This process's vhost workers ("vhost-PID": our own threads from 6.4 on,
 * kernel threads before) onto CPU @cpu; how many were moved.
 */
static int pin_vhost_workers(int cpu)
{
	char want[32], path[300], comm[32];
	const char *dirs[] = { "/proc/self/task", "/proc" };
	int moved = 0;
	unsigned int i;

	snprintf(want, sizeof(want), "vhost-%d\n", (int)getpid());
	for (i = 0; i < 2; i++) {
		DIR *dir = opendir(dirs[i]);
		struct dirent *de;

		while (dir && (de = readdir(dir))) {
			FILE *f;

			if (de->d_name[0] < '1' || de->d_name[0] > '9')
				continue;
			snprintf(path, sizeof(path), "%s/%s/comm", dirs[i], de->d_name);
			f = fopen(path, "r");
			if (!f)
				continue;
			if (fgets(comm, sizeof(comm), f) && !strcmp(comm, want) &&
			    !pin_to_cpu(atoi(de->d_name), cpu))
				moved++;
			fclose(f);
		}
		if (dir)
			closedir(dir);
	}
	return moved;
}

struct evt_feeder {
	struct vsc_dev *d;
	uint16_t head;
	bool pinned;
	volatile bool stop;
};

static void *evt_feed_thread(void *p)
{
	struct evt_feeder *f = p;
	uint16_t a = vsc_raw_avail_idx(f->d, VSC_VQ_EVT);

	/* never on the worker's CPU: it would wait for the worker's pass */
	if (f->pinned)
		pin_to_cpu(0, 1);

	while (!f->stop) {
		uint16_t u = vsc_raw_used_idx(f->d, VSC_VQ_EVT), n = 0;

		/* whole batches: a store per entry and one index update */
		while ((uint16_t)(a + n - u) < EVT_RING) {
			vsc_raw_put_avail(f->d, VSC_VQ_EVT, a + n, f->head);
			n++;
		}
		if (n) {
			a += n;
			vsc_raw_set_avail_idx(f->d, VSC_VQ_EVT, a);
		}
	}
	return NULL;
}

VT_TEST(NULL, evt_bad_buffers_endless)
{
	struct vsc_opts o = bi_opts(EVT_RING, 0);
	static struct vsc_iov iov[EVT_DESCS];
	struct evt_feeder f = { 0 };
	struct vsc_op op = { 0 };
	struct vsc_buf *bytes;
	cpu_set_t cpus;
	struct vsc_dev *d;
	struct vsc_ctl c;
	uint16_t used0, used1;
	uint64_t t0, worst = 0;
	pthread_t th;
	int k, moved, r = 0;

	ASSERT(!sched_getaffinity(0, sizeof(cpus), &cpus), "sched_getaffinity");
	/*
	 * The worker on CPU 0, the feeder on CPU 1: a pass over the ring then
	 * never finds it empty, only the module's bound ends it.  (A worker
	 * started by SET_OWNER inherits this thread's CPU from 6.4 on.)
	 */
	f.pinned = sysconf(_SC_NPROCESSORS_ONLN) >= 2 && !pin_to_cpu(0, 0);
	d = bi_open_ep(&o, BI_WWPN_A);
	if (f.pinned) {
		moved = pin_vhost_workers(0);
		sched_setaffinity(0, sizeof(cpus), &cpus);
		vt_note("%d vhost workers moved to CPU 0", moved);
	}
	ASSERT(d, "open");
	if (!vsc_has_feature(d, VIRTIO_SCSI_F_HOTPLUG))
		SKIP("HOTPLUG not offered");
	bi_evt_link(false, BI_LUN_EVT);
	bytes = vsc_buf_alloc(d, EVT_DESCS, VSC_BUF_ZERO, 0);
	ASSERT(bytes, "arena");
	for (k = 0; k < EVT_DESCS; k++)
		iov[k] = (struct vsc_iov){ bytes->p + k, 1, false };
	ASSERT(!vsc_submit_chain(d, VSC_VQ_EVT, iov, EVT_DESCS, true, &op), "post");
	f.d = d;
	f.head = vsc_raw_avail(d, VSC_VQ_EVT)->ring[(vsc_raw_avail_idx(d, VSC_VQ_EVT) - 1) %
						    EVT_RING];
	used0 = vsc_raw_used_idx(d, VSC_VQ_EVT);
	ASSERT(!pthread_create(&th, NULL, evt_feed_thread, &f), "thread");
	vsc_kick_force(d, VSC_VQ_EVT);
	r = bi_evt_link(true, BI_LUN_EVT);
	for (k = 0; !r && k < 10; k++) {
		usleep(100000);
		vsc_tmf_init(&c, VIRTIO_SCSI_T_TMF_ABORT_TASK, BI_TGT, BI_LUN_RD, 0x7777);
		t0 = vsc_now_ns();
		r = vsc_ctl_sync(d, &c, 3000);
		if (vsc_now_ns() - t0 > worst)
			worst = vsc_now_ns() - t0;
	}
	f.stop = true;
	pthread_join(th, NULL);
	used1 = vsc_raw_used_idx(d, VSC_VQ_EVT);
	ASSERT(!r && k == 10, "TMF %d while the event queue is flooded with bad buffers: %s", k,
	       vt_errstr(r));
	vt_note("%u bad event buffers returned; slowest TMF %llu ms", (uint16_t)(used1 - used0),
		(unsigned long long)(worst / 1000000));
	bi_evt_link(false, BI_LUN_EVT);
	/* libvsc's bookkeeping of the event queue is off now: a fresh device */
	bi_fresh_healthy(&d, BI_WWPN_A);
}

/* 16b. more events than buffers: events_missed, then the flag */
VT_TEST(NULL, evt_more_than_buffers)
{
	struct vsc_dev *d = bi_open_ep(NULL, BI_WWPN_A);
	struct vsc_evt e[1], *got;
	uint32_t missed = 0;
	int r, k;

	ASSERT(d, "open");
	if (!vsc_has_feature(d, VIRTIO_SCSI_F_HOTPLUG))
		SKIP("HOTPLUG not offered");
	for (k = 0; k < 3; k++)
		bi_evt_link(false, BI_LUN_EVT + k);
	ASSERT(!vsc_evt_post(d, e, 1, 16), "post");
	for (k = 0; k < 3; k++) {
		r = bi_evt_link(true, BI_LUN_EVT + k);
		ASSERT(!r, "link: %s", vt_errstr(r));
		r = bi_evt_link(false, BI_LUN_EVT + k);
		ASSERT(!r, "unlink: %s", vt_errstr(r));
	}
	got = vsc_evt_next(d, e, 1, 3000);
	ASSERT(got, "first event not delivered");
	ASSERT(got->op.used_len == 16 && (got->event & 0x7fffffff) == VIRTIO_SCSI_T_TRANSPORT_RESET,
	       "first event %#x len %u", got->event, got->op.used_len);
	usleep(300000);
	r = vsc_get_events_missed(d, &missed);
	ASSERT(!r, "GET_EVENTS_MISSED: %s", vt_errstr(r));
	EXPECT_OR_DIFF(missed, "events_missed not set after 6 events on 1 buffer");
	ASSERT(!vsc_evt_repost(d, &e[0]), "repost");
	vsc_kick_force(d, VSC_VQ_EVT);
	got = vsc_evt_next(d, e, 1, 3000);
	ASSERT(got, "no event after re-posting a buffer with events missed");
	ASSERT(got->event & VIRTIO_SCSI_T_EVENTS_MISSED, "event %#x lacks EVENTS_MISSED",
	       got->event);
	r = vsc_get_events_missed(d, &missed);
	ASSERT(!r && !missed, "events_missed still %u after the flag was sent", missed);
	vsc_evt_release(d, e, 1);
	ASSERT(!vsc_canary_check_all(d), "canary");
	vt_clear_ua(d, BI_TGT, BI_LUN_RD);
	bi_healthy(d, "after");
}
