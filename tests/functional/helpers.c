// SPDX-License-Identifier: GPL-2.0
/* vsc-functional: SCSI helpers shared by the tests. */
#include <errno.h>
#include <stdlib.h>

#include "ft.h"

bool ft_verify_rw(struct vsc_dev *d, unsigned int vq, uint8_t tgt, uint16_t lun,
		  unsigned int sz, uint64_t lba, uint32_t blocks, const struct vsc_layout *wl,
		  const struct vsc_layout *rl)
{
	size_t len = (size_t)blocks * BS, i;
	uint8_t *w = vt_xmalloc(len), *rd = vt_xmalloc(len);
	bool ok = false;

	vt_fill(w, len);
	memset(rd, 0x5a, len);
	if (!vt_rw(d, vq, tgt, lun, true, sz, lba, blocks, w, wl))
		goto out;
	if (!vt_rw(d, vq, tgt, lun, false, sz, lba, blocks, rd, rl))
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

	if (!vt_cmd_good(d, VSC_VQ_REQ(0), tgt, lun, cdb, n, NULL, 0, buf, sizeof(buf), NULL))
		return false;
	*blocks = vsc_get_be64(buf) + 1;
	*bsize = vsc_get_be32(buf + 8);
	return true;
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
