// SPDX-License-Identifier: GPL-2.0
/*
 * vsc-badinput: malformed guest input against a vhost-scsi fabric module
 * (tcm_vhost or upstream vhost_scsi), run inside L1 with the module loaded.
 *
 *   vsc-badinput --module tcm_vhost|vhost_scsi [--filter SUBSTR]... [--list] [-v]
 *
 * Lines: PASS/FAIL/SKIP/XFAIL: badinput/<name>[: reason], then
 * "N passed, N failed, N skipped, N xfail" (tests/client/vtest.h). Exit 1
 * on any FAIL.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bi.h"

bool bi_have_hold;

/* ------------------------------------------------------------ devices */

struct vsc_opts bi_opts(unsigned int ring, uint64_t extra)
{
	struct vsc_opts o = { 0 };

	o.ring_size = ring ? ring : 128;
	o.features = VSC_FEATURES_ALL | extra;
	o.arena_size = 128UL << 20;
	return o;
}

struct vsc_dev *bi_open(const struct vsc_opts *o)
{
	struct vsc_opts def = bi_opts(0, 0);
	struct vsc_dev *d = vsc_open(o ? o : &def);

	if (!d) {
		vt_fail(0, "vsc_open: %s", vt_errstr(-errno));
		return NULL;
	}
	return vt_track(d);
}

struct vsc_dev *bi_open_ep(const struct vsc_opts *o, const char *wwpn)
{
	struct vsc_dev *d = bi_open(o);
	int r;

	if (!d)
		return NULL;
	r = vsc_set_endpoint(d, wwpn ? wwpn : BI_WWPN_A);
	if (r) {
		vt_fail(0, "SET_ENDPOINT %s: %s", wwpn ? wwpn : BI_WWPN_A, vt_errstr(r));
		bi_close(d);
		return NULL;
	}
	return d;
}

void bi_close(struct vsc_dev *d)
{
	if (!d)
		return;
	vt_untrack(d);
	vsc_close(d);
}

bool bi_healthy(struct vsc_dev *d, const char *what)
{
	uint8_t w[8192], r[8192];
	uint64_t lba = 2048 + vt_rand() % 1024;
	int bad;

	CHECK(d, "%s: no device", what);
	/* configfs LUN changes leave UNIT ATTENTIONs on the nexus */
	if (!vt_clear_ua(d, BI_TGT, BI_LUN_RD))
		return false;
	vt_fill(w, sizeof(w));
	memset(r, 0, sizeof(r));
	if (!vt_rw(d, VSC_VQ_REQ(0), BI_TGT, BI_LUN_RD, true, 16, lba, 16, w, NULL) ||
	    !vt_rw(d, VSC_VQ_REQ(0), BI_TGT, BI_LUN_RD, false, 16, lba, 16, r, NULL)) {
		vt_fail(0, "%s: health check (WRITE+READ) failed: %s", what, vt_reason());
		return false;
	}
	CHECK(!memcmp(w, r, sizeof(w)), "%s: health check read back different data", what);
	bad = vsc_canary_check_all(d);
	CHECK(!bad, "%s: %d guarded buffer(s) damaged", what, bad);
	return true;
}

bool bi_fresh_healthy(struct vsc_dev **d, const char *wwpn)
{
	int bad = vsc_canary_check_all(*d);

	CHECK(!bad, "%d guarded buffer(s) damaged before reopening", bad);
	bi_close(*d);
	*d = bi_open_ep(NULL, wwpn);
	if (!*d)
		return false;
	return bi_healthy(*d, "fresh device");
}

bool bi_wait_vq_err(struct vsc_dev *d, unsigned int vq, uint64_t before, int ms)
{
	uint64_t end = vsc_now_ns() + (uint64_t)ms * 1000000;

	while (vsc_vq_errors(d, vq) <= before) {
		if (vsc_now_ns() > end)
			return false;
		usleep(2000);
	}
	return true;
}

/* ---------------------------------------------------------------- raw */

int bi_post_raw(struct vsc_dev *d, unsigned int vq, const struct bi_desc *ds, unsigned int n,
		struct vsc_op *op)
{
	uint16_t idx[1024];
	unsigned int k;
	int r;

	if (n > 1024)
		return -EINVAL;
	r = vsc_raw_take(d, vq, n, idx);
	if (r)
		return r;
	for (k = 0; k < n; k++) {
		uint16_t nx = 0;

		if (ds[k].next == BI_NEXT_AUTO)
			nx = k + 1 < n ? idx[k + 1] : 0;
		else if (ds[k].next >= 1000)
			nx = (uint16_t)(ds[k].next - 1000);
		else
			nx = idx[ds[k].next];
		vsc_raw_set_desc(d, vq, idx[k], ds[k].addr, ds[k].len, ds[k].flags, nx);
	}
	vsc_raw_publish(d, vq, idx[0], op, n, idx);
	return 0;
}

struct vsc_buf *bi_req_hdr(struct vsc_dev *d, uint8_t target, uint16_t lun, const uint8_t *cdb,
			   unsigned int cdblen, size_t len)
{
	struct virtio_scsi_cmd_req_pi h;
	struct vsc_buf *b;
	size_t full = vsc_has_feature(d, VIRTIO_SCSI_F_T10_PI) ? sizeof(h) :
		      sizeof(struct virtio_scsi_cmd_req);

	memset(&h, 0, sizeof(h));
	vsc_lun_encode(h.lun, target, lun);
	h.tag = htole64(vt_rand());
	h.task_attr = VIRTIO_SCSI_S_SIMPLE;
	if (full == sizeof(h)) {
		memcpy(h.cdb, cdb, cdblen > VSC_CDB_MAX ? VSC_CDB_MAX : cdblen);
	} else {
		struct virtio_scsi_cmd_req *p = (void *)&h;

		memcpy(p->cdb, cdb, cdblen > VSC_CDB_MAX ? VSC_CDB_MAX : cdblen);
	}
	if (!len)
		len = full;
	b = vsc_buf_alloc(d, len, VSC_BUF_GUARD | VSC_BUF_ZERO, 0);
	if (b)
		memcpy(b->p, &h, len < full ? len : full);
	return b;
}

struct vsc_buf *bi_wbuf(struct vsc_dev *d, size_t len)
{
	return vsc_buf_alloc(d, len, VSC_BUF_GUARD | VSC_BUF_FILL, 0);
}

void bi_resp_decode(const uint8_t *p, struct vsc_result *r)
{
	struct virtio_scsi_cmd_resp rsp;

	memcpy(&rsp, p, sizeof(rsp));
	memset(r, 0, sizeof(*r));
	r->response = rsp.response;
	r->status = rsp.status;
	r->sense_len = le32toh(rsp.sense_len);
	r->resid = le32toh(rsp.resid);
	memcpy(r->sense, rsp.sense, sizeof(r->sense));
	if (r->sense_len && r->sense_len <= VSC_SENSE_MAX)
		vsc_sense_decode(r->sense, r->sense_len, &r->key, &r->asc, &r->ascq);
}

bool bi_all_cc(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != 0xcc)
			return false;
	return true;
}

/* ------------------------------------------------------------ fixture */

static int run(const char *cmd)
{
	char buf[600];

	snprintf(buf, sizeof(buf), "%s >/dev/null 2>&1", cmd);
	return system(buf);
}

int bi_hold(bool on)
{
	if (!bi_have_hold)
		return -ENODEV;
	return run(on ? "dmsetup suspend --noudevsync --noflush --nolockfs " BI_DM_NAME
		      : "dmsetup resume --noudevsync " BI_DM_NAME) ? -EIO : 0;
}

int bi_evt_link(bool link, unsigned int lun)
{
	if (link)
		return vsc_tgt_lun_link(BI_WWPN_A, 1, lun, BI_HBA_RD, "rdevt");
	return vsc_tgt_lun_unlink(BI_WWPN_A, 1, lun);
}

/* A dm "zero" device: suspended (noflush), it keeps every I/O queued until resumed. */
static bool hold_setup(void)
{
	run("dmsetup remove --noudevsync " BI_DM_NAME);
	if (run("modprobe dm_mod") ||
	    run("dmsetup create " BI_DM_NAME " --noudevsync --table '0 16384 zero'") ||
	    run("dmsetup mknodes " BI_DM_NAME))
		return false;
	if (vsc_tgt_iblock_create(BI_HBA_IB, "hold", "/dev/mapper/" BI_DM_NAME))
		return false;
	return true;
}

bool bi_relink_hold(void)
{
	int r = vsc_tgt_lun_link(BI_WWPN_A, 1, BI_LUN_HOLD, BI_HBA_IB, "hold");

	CHECK(!r, "relink hold LUN: %s", vt_errstr(r));
	return true;
}

/*
 * The error-window LUN: iblock "errdev" on dm device BI_DM_ERR, a linear
 * map of a loop device on a file in /tmp (so written data can be read
 * back), whose table a test swaps for one with an "error" segment.
 * Set up by the test that uses it, torn down by bi_errdev_down() (after
 * the test, and at the end of the suite).
 */
#define ERR_FILE "/tmp/vsc-bi-err.img"
static char err_loop[64];
static bool err_dm, err_bs, err_lun;

static int dm_err_cmd(const char *args)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "dmsetup %s --noudevsync " BI_DM_ERR, args);
	return run(cmd) ? -EIO : 0;
}

int bi_errdev_suspend(void)
{
	return dm_err_cmd("suspend --noflush --nolockfs");
}

int bi_errdev_resume(void)
{
	return dm_err_cmd("resume");
}

int bi_errdev_load(uint64_t start, uint64_t len)
{
	FILE *f;
	int st;

	if (!err_dm)
		return -ENODEV;
	f = popen("dmsetup load " BI_DM_ERR " >/dev/null 2>&1", "w");
	if (!f)
		return -errno;
	if (!len) {
		fprintf(f, "0 %u linear %s 0\n", BI_ERR_SECTORS, err_loop);
	} else {
		fprintf(f, "0 %llu linear %s 0\n", (unsigned long long)start, err_loop);
		fprintf(f, "%llu %llu error\n", (unsigned long long)start, (unsigned long long)len);
		fprintf(f, "%llu %llu linear %s %llu\n", (unsigned long long)(start + len),
			(unsigned long long)(BI_ERR_SECTORS - start - len), err_loop,
			(unsigned long long)(start + len));
	}
	st = pclose(f);
	return st ? -EIO : 0;
}

int bi_errdev_up(void)
{
	char table[160];
	int fd, r;

	bi_errdev_down();
	fd = open(ERR_FILE, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	r = ftruncate(fd, (off_t)BI_ERR_SECTORS * 512) ? -errno : 0;
	close(fd);
	if (!r)
		r = vsc_loop_attach(ERR_FILE, err_loop, sizeof(err_loop));
	if (r) {
		err_loop[0] = 0;
		goto fail;
	}
	snprintf(table, sizeof(table), "dmsetup create " BI_DM_ERR " --noudevsync --table '0 %u linear %s 0'",
		 BI_ERR_SECTORS, err_loop);
	run("dmsetup remove --noudevsync " BI_DM_ERR);	/* left by a run that crashed */
	if (run("modprobe dm_mod") || run(table)) {
		r = -EIO;
		goto fail;
	}
	err_dm = true;
	if (run("dmsetup mknodes " BI_DM_ERR)) {
		r = -EIO;
		goto fail;
	}
	r = vsc_tgt_iblock_create(BI_HBA_IB, "errdev", "/dev/mapper/" BI_DM_ERR);
	if (r)
		goto fail;
	err_bs = true;
	r = vsc_tgt_lun_link(BI_WWPN_A, 1, BI_LUN_ERR, BI_HBA_IB, "errdev");
	if (r)
		goto fail;
	err_lun = true;
	return 0;
fail:
	bi_errdev_down();
	return r;
}

void bi_errdev_down(void)
{
	if (err_dm)
		bi_errdev_resume();	/* a suspended device would hold up the unlink */
	if (err_lun)
		vsc_tgt_lun_unlink(BI_WWPN_A, 1, BI_LUN_ERR);
	if (err_bs)
		vsc_tgt_backstore_remove(BI_HBA_IB, "errdev");
	if (err_dm)
		run("dmsetup remove --noudevsync " BI_DM_ERR);
	if (err_loop[0])
		vsc_loop_detach(err_loop);
	if (err_dm || err_loop[0])
		unlink(ERR_FILE);
	err_lun = err_bs = err_dm = false;
	err_loop[0] = 0;
}

static void hold_teardown(void)
{
	run("dmsetup resume --noudevsync " BI_DM_NAME);
	bi_errdev_down();
	vsc_tgt_teardown_all(false);
	run("dmsetup remove --noudevsync " BI_DM_NAME);
}

static bool fixture(void)
{
	struct vsc_dev *d;
	int r;

#define STEP(x) do { r = (x); if (r) { vt_fail(__LINE__, "fixture: %s: %s", #x, vt_errstr(r)); return false; } } while (0)
	vsc_tgt_teardown_all(false);
	STEP(vsc_tgt_rd_create(BI_HBA_RD, "rd16", 16ULL << 20));
	STEP(vsc_tgt_rd_create(BI_HBA_RD, "rd4", 4ULL << 20));
	STEP(vsc_tgt_rd_create(BI_HBA_RD, "rd4b", 4ULL << 20));
	STEP(vsc_tgt_rd_create(BI_HBA_RD, "rdevt", 1ULL << 20));
	STEP(vsc_tgt_tpg_create(BI_WWPN_A, 1));
	STEP(vsc_tgt_nexus_set(BI_WWPN_A, 1, BI_INIT_1));
	STEP(vsc_tgt_lun_link(BI_WWPN_A, 1, BI_LUN_RD, BI_HBA_RD, "rd16"));
	STEP(vsc_tgt_tpg_create(BI_WWPN_A, 2));
	STEP(vsc_tgt_nexus_set(BI_WWPN_A, 2, BI_INIT_2));
	STEP(vsc_tgt_lun_link(BI_WWPN_A, 2, 0, BI_HBA_RD, "rd4"));
	STEP(vsc_tgt_tpg_create(BI_WWPN_B, 1));
	STEP(vsc_tgt_nexus_set(BI_WWPN_B, 1, BI_INIT_3));
	STEP(vsc_tgt_lun_link(BI_WWPN_B, 1, 0, BI_HBA_RD, "rd4b"));
#undef STEP
	bi_have_hold = hold_setup();
	if (bi_have_hold && vsc_tgt_lun_link(BI_WWPN_A, 1, BI_LUN_HOLD, BI_HBA_IB, "hold"))
		bi_have_hold = false;
	if (!bi_have_hold)
		fprintf(stderr, "# no dm hold LUN: in-flight tests will be skipped\n");

	d = bi_open_ep(NULL, BI_WWPN_A);
	if (!d)
		return false;
	if (!vt_clear_ua(d, 1, 0) || !vt_clear_ua(d, 2, 0) ||
	    (bi_have_hold && !vt_clear_ua(d, 1, BI_LUN_HOLD)))
		return false;
	bi_close(d);
	d = bi_open_ep(NULL, BI_WWPN_B);
	if (!d)
		return false;
	if (!vt_clear_ua(d, 1, 0))
		return false;
	bi_close(d);
	return true;
}

/* ------------------------------------------------------------- runner */

/* A test left the dm hold LUN suspended: resume it, or teardown would hang. */
static void release_hold(void)
{
	if (system("dmsetup resume --noudevsync " BI_DM_NAME " >/dev/null 2>&1")) {
		/* best effort */
	}
	if (system("dmsetup resume --noudevsync " BI_DM_ERR " >/dev/null 2>&1")) {
		/* best effort: the error-window device may not exist */
	}
}

static void before(const struct vt_test *t)
{
	if ((t->flags & BI_F_NEEDS_HOLD) && !bi_have_hold)
		vt_skip("needs the dm hold LUN (dmsetup/loop unavailable)");
}

static void after(const struct vt_test *t)
{
	(void)t;
	if (bi_have_hold)
		bi_hold(false);
	bi_errdev_down();
}

static bool option(int c, const char *arg)
{
	if (c != 't')
		return false;
	vt_timeout = (unsigned int)atoi(arg);
	return true;
}

static const char *const files[] = { "t_proto.c", "t_vring.c", "t_flight.c", NULL };

const struct vt_suite vt_suite = {
	.name = "badinput",
	.usage = "[--timeout S]",
	.files = files,
	.timeout = 90,
	/* The upstream run is a comparison: any failure there is XFAIL. */
	.flags = VT_S_ALL_BEYOND,
	.opts = { "t:", (const struct option[]){
		{ "timeout", required_argument, NULL, 't' },
		{ 0 } }, option },
	.watchdog_cleanup = release_hold,
	.fixture = { fixture, hold_teardown },
	.test = { before, after },
};
