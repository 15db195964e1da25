// SPDX-License-Identifier: GPL-2.0
/* vsc-functional: SCSI helpers shared by the tests. */
#include <errno.h>
#include <stdlib.h>

#include "ft.h"

bool ft_cmd_good(struct vsc_dev *d, unsigned int vq, uint8_t tgt, uint16_t lun,
		 const uint8_t *cdb, unsigned int cdblen, const void *dout, size_t doutlen,
		 void *din, size_t dinlen, struct vsc_result *res)
{
	struct vsc_result rr;
	int r;

	if (!res)
		res = &rr;
	/* a UNIT ATTENTION is retried, as any initiator does */
	for (int k = 0; k < 4; k++) {
		r = vsc_cmd(d, vq, tgt, lun, cdb, cdblen, dout, doutlen, din, dinlen, res, TMO);
		if (r || res->status != 2 || res->key != 6)
			break;
	}
	CHECK(!r, "opcode 0x%02x: vsc_cmd: %s", cdb[0], vt_errstr(r));
	CHECK(res->response == VIRTIO_SCSI_S_OK && res->status == 0,
		 "opcode 0x%02x tgt %u lun %u: %s", cdb[0], tgt, lun, vt_res(res));
	return true;
}

bool ft_rw(struct vsc_dev *d, unsigned int vq, uint8_t tgt, uint16_t lun, bool write,
	   unsigned int sz, uint64_t lba, uint32_t blocks, void *buf,
	   const struct vsc_layout *l)
{
	struct vsc_result res;
	struct vsc_req r;
	uint8_t cdb[16];
	unsigned int n;
	size_t len = (size_t)blocks * BS;
	int e;

	n = vsc_cdb_rw(cdb, write, sz, lba, blocks);
	CHECK(n, "cannot encode RW%u lba %llu blocks %u", sz, (unsigned long long)lba, blocks);
	vsc_req_init(d, &r, vq, tgt, lun, cdb, n);
	if (l)
		r.layout = *l;
	if (write) {
		r.dout = buf;
		r.dout_len = len;
	} else {
		r.din_len = len;
	}
	for (int k = 0; k < 4; k++) {
		struct vsc_req c = r;

		e = vsc_cmd_layout(d, &c, write ? NULL : buf, &res, TMO);
		if (e || res.status != 2 || res.key != 6)
			break;
	}
	CHECK(!e, "%s%u lba %llu x%u: %s", write ? "WRITE" : "READ", sz,
		 (unsigned long long)lba, blocks, e == -EFAULT ? "canary damaged" : vt_errstr(e));
	CHECK(res.response == VIRTIO_SCSI_S_OK && res.status == 0 && res.resid == 0,
		 "%s%u lba %llu x%u: %s", write ? "WRITE" : "READ", sz, (unsigned long long)lba,
		 blocks, vt_res(&res));
	return true;
}

bool ft_verify_rw(struct vsc_dev *d, unsigned int vq, uint8_t tgt, uint16_t lun,
		  unsigned int sz, uint64_t lba, uint32_t blocks, const struct vsc_layout *wl,
		  const struct vsc_layout *rl)
{
	size_t len = (size_t)blocks * BS, i;
	uint8_t *w = vt_xmalloc(len), *rd = vt_xmalloc(len);
	bool ok = false;

	vt_fill(w, len);
	memset(rd, 0x5a, len);
	if (!ft_rw(d, vq, tgt, lun, true, sz, lba, blocks, w, wl))
		goto out;
	if (!ft_rw(d, vq, tgt, lun, false, sz, lba, blocks, rd, rl))
		goto out;
	if (memcmp(w, rd, len)) {
		for (i = 0; i < len && w[i] == rd[i]; i++)
			;
		vt_fail(__LINE__, "RW%u lba %llu x%u: data mismatch at byte %zu (wrote 0x%02x read 0x%02x)",
			sz, (unsigned long long)lba, blocks, i, w[i], rd[i]);
		goto out;
	}
	ok = true;
out:
	free(w);
	free(rd);
	return ok;
}

bool ft_capacity(struct vsc_dev *d, uint8_t tgt, uint16_t lun, uint64_t *blocks,
		 uint32_t *bsize)
{
	uint8_t cdb[16], buf[32];
	unsigned int n = vsc_cdb_read_capacity16(cdb, sizeof(buf));

	if (!ft_cmd_good(d, VSC_VQ_REQ(0), tgt, lun, cdb, n, NULL, 0, buf, sizeof(buf), NULL))
		return false;
	*blocks = vsc_get_be64(buf) + 1;
	*bsize = vsc_get_be32(buf + 8);
	return true;
}

bool ft_clear_ua(struct vsc_dev *d, uint8_t tgt, uint16_t lun)
{
	struct vsc_result res;
	uint8_t cdb[6];
	int k, r;

	for (k = 0; k < 8; k++) {
		r = vsc_cmd(d, VSC_VQ_REQ(0), tgt, lun, cdb, vsc_cdb_tur(cdb), NULL, 0, NULL, 0, &res,
			    TMO);
		CHECK(!r, "TUR: %s", vt_errstr(r));
		if (res.response == VIRTIO_SCSI_S_OK && res.status == 0)
			return true;
	}
	CHECK(false, "TUR tgt %u lun %u never GOOD: %s", tgt, lun, vt_res(&res));
}

bool ft_wait_event(struct vsc_dev *d, struct vsc_evt *e, unsigned int n, uint32_t event,
		   uint32_t reason, uint8_t tgt, uint16_t lun)
{
	struct vsc_evt *x = vsc_evt_next(d, e, n, TMO);

	CHECK(x, "no event (want event %u reason %u)", event, reason);
	CHECK(vsc_buf_check(x->buf, NULL) == 0, "event buffer canary damaged");
	CHECK(x->event == event && x->reason == reason,
		 "event %#x reason %u, want %#x reason %u", x->event, x->reason, event, reason);
	CHECK(x->lun[0] == 1 && x->lun[1] == tgt && (((x->lun[2] & 0x3f) << 8) | x->lun[3]) == lun,
		 "event lun %02x %02x %02x %02x, want 01 %02x for lun %u", x->lun[0], x->lun[1],
		 x->lun[2], x->lun[3], tgt, lun);
	return vsc_evt_repost(d, x) == 0;
}
