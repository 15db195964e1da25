// SPDX-License-Identifier: GPL-2.0
/* fileio and iblock-on-loop backstores (groups with their own fixtures). */
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "ft.h"

#define Q0 VSC_VQ_REQ(0)
#define BLOCKS (RD16_BYTES / BS)

static void capacity_and_product(const char *product)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	uint8_t cdb[6], b[96];
	uint64_t blocks;
	uint32_t bs;

	if (!d || !ft_capacity(d, 1, 0, &blocks, &bs))
		return;
	ASSERT(blocks * bs == RD16_BYTES, "capacity %llu x %u, want %llu bytes",
	       (unsigned long long)blocks, bs, RD16_BYTES);
	if (!vt_cmd_good(d, Q0, 1, 0, cdb, vsc_cdb_inquiry(cdb, false, 0, sizeof(b)), NULL, 0, b,
			 sizeof(b), NULL))
		return;
	ASSERT(!memcmp(b + 16, product, strlen(product)), "product '%.16s', want %s", b + 16,
	       product);
}

static void integrity(void)
{
	static const uint32_t sizes[] = { 1, 8, 64, 255, 1024, 2048, 2052 };
	struct vsc_dev *d = ft_open_ep(NULL);
	struct vsc_layout split = { .data_split = 4096, .indirect = true };
	unsigned int i;

	if (!d)
		return;
	for (i = 0; i < 7 && !vt_failed(); i++) {
		uint64_t lba = vt_rand() % (BLOCKS - sizes[i]);

		ft_verify_rw(d, Q0, 1, 0, i & 1 ? 16 : 10, lba, sizes[i], NULL, NULL);
		if (!vt_failed())
			ft_verify_rw(d, Q0, 1, 0, 10, lba, sizes[i], &split, NULL);
	}
	if (!vt_failed())
		ft_verify_rw(d, Q0, 1, 0, 6, 17, 256, NULL, NULL);
	if (!vt_failed())	/* last blocks of the device */
		ft_verify_rw(d, Q0, 1, 0, 16, BLOCKS - 3, 3, NULL, NULL);
}

static void sync_cache(void)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	uint8_t cdb[10];

	if (d)
		vt_cmd_good(d, Q0, 1, 0, cdb, vsc_cdb_sync_cache10(cdb, 0, 0), NULL, 0, NULL, 0, NULL);
}

static void misaligned(void)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	struct vsc_layout l = { .misalign = 5, .data_split = 700 };

	if (!d)
		return;
	ft_verify_rw(d, Q0, 1, 0, 10, 4242, 16, &l, &l);
}

VT_TEST("fileio", capacity_and_inquiry)
{
	capacity_and_product("FILEIO");
}

VT_TEST("fileio", data_integrity)
{
	integrity();
}

VT_TEST("fileio", synchronize_cache)
{
	sync_cache();
}

VT_TEST("fileio", misaligned_segments)
{
	misaligned();
}

VT_TEST("fileio", unmap_zeroes_blocks)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	struct vsc_result res;
	uint8_t cdb[10], p[24], *buf, *zero;
	int e;

	if (!d)
		return;
	buf = vt_xmalloc(8 * BS);
	zero = calloc(8, BS);
	vt_fill(buf, 8 * BS);
	if (!vt_rw(d, Q0, 1, 0, true, 10, 800, 8, buf, NULL))
		goto out;
	e = vsc_cmd(d, Q0, 1, 0, cdb, vsc_cdb_unmap(cdb, 24), p, vsc_unmap_param(p, 800, 8), NULL, 0,
		    &res, TMO);
	if (e) {
		vt_fail(__LINE__, "UNMAP: %s", vt_errstr(e));
		goto out;
	}
	vt_note("UNMAP on fileio: %s", vt_res(&res));
	if (res.status == SAM_STAT_CHECK_CONDITION && res.key == ILLEGAL_REQUEST) {
		vt_skip("fileio UNMAP not enabled (emulate_tpu=0): %s", vt_res(&res));
		goto out;
	}
	if (res.response || res.status) {
		vt_fail(__LINE__, "UNMAP: %s", vt_res(&res));
		goto out;
	}
	if (vt_rw(d, Q0, 1, 0, false, 10, 800, 8, buf, NULL) && memcmp(buf, zero, 8 * BS))
		vt_fail(__LINE__, "unmapped blocks do not read back as zeroes");
out:
	free(buf);
	free(zero);
}

VT_TEST("iblock", capacity_and_inquiry)
{
	capacity_and_product("IBLOCK");
}

VT_TEST("iblock", data_integrity)
{
	integrity();
}

VT_TEST("iblock", synchronize_cache)
{
	sync_cache();
}

VT_TEST("iblock", misaligned_segments)
{
	misaligned();
}

/* ------------------------------------------------------- online resize */

#define CAP_ATTR VSC_CFS_TARGET "/vhost/" WWPN_A "/tpgt_1/capacity_changed"
#define UP_CHANGE "upstream offers no VIRTIO_SCSI_F_CHANGE and never sends PARAM_CHANGE"
#define CAPACITY_CHANGED (0x2a | 0x09 << 8)	/* ASC 2Ah ASCQ 09h, as the event's reason */

/* Grow or shrink the iblock group's loop device to @bytes, as an admin would. */
static bool loop_resize(uint64_t bytes)
{
	const char *dev = ft_iblock_dev();
	int fd, r;

	CHECK(dev[0] == '/', "no loop device for the iblock group");
	CHECK(!truncate(IBLOCK_PATH, (off_t)bytes), "truncate %s: %s", IBLOCK_PATH,
	      vt_errstr(-errno));
	fd = open(dev, O_RDONLY);
	CHECK(fd >= 0, "open %s: %s", dev, vt_errstr(-errno));
	r = ioctl(fd, LOOP_SET_CAPACITY, 0) ? -errno : 0;
	close(fd);
	CHECK(!r, "LOOP_SET_CAPACITY %s: %s", dev, vt_errstr(r));
	return true;
}

VT_TEST_BEYOND("iblock", capacity_change_event, UP_CHANGE)
{
	struct vsc_opts o = { .features = VSC_FEATURES_ALL | VSC_F(VIRTIO_SCSI_F_CHANGE) };
	struct vsc_dev *d = ft_open_ep(&o);
	struct vsc_evt ev[2];
	uint64_t blocks;
	uint32_t bs;
	int r;

	if (!d)
		return;
	ASSERT(vsc_has_feature(d, VIRTIO_SCSI_F_CHANGE), "F_CHANGE not offered");
	r = vsc_evt_post(d, ev, 2, sizeof(struct virtio_scsi_event));
	ASSERT(!r, "post: %s", vt_errstr(r));
	if (loop_resize(2 * RD16_BYTES)) {
		r = vsc_cfs_write(CAP_ATTR, "0");
		ASSERT(!r, "capacity_changed: %s", vt_errstr(r));
		if (ft_wait_event(d, ev, 2, VIRTIO_SCSI_T_PARAM_CHANGE, CAPACITY_CHANGED, 1, 0) &&
		    ft_capacity(d, 1, 0, &blocks, &bs))
			ASSERT(blocks * bs == 2 * RD16_BYTES,
			       "capacity after the event: %llu bytes, want %llu",
			       (unsigned long long)(blocks * bs), 2 * RD16_BYTES);
		r = vsc_cfs_write(CAP_ATTR, "7");
		ASSERT(r == -ENODEV, "capacity_changed for a LUN the nexus lacks: %s, want ENODEV",
		       vt_errstr(r));
	}
	loop_resize(RD16_BYTES);
	vsc_evt_release(d, ev, 2);
}

VT_TEST_BEYOND("iblock", capacity_change_needs_f_change, UP_CHANGE)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	struct vsc_evt ev[2], *x;
	int r;

	if (!d)
		return;
	ASSERT(vsc_has_feature(d, VIRTIO_SCSI_F_HOTPLUG) &&
	       !vsc_has_feature(d, VIRTIO_SCSI_F_CHANGE), "want HOTPLUG without CHANGE");
	r = vsc_evt_post(d, ev, 2, sizeof(struct virtio_scsi_event));
	ASSERT(!r, "post: %s", vt_errstr(r));
	r = vsc_cfs_write(CAP_ATTR, "0");
	ASSERT(!r, "capacity_changed: %s", vt_errstr(r));
	x = vsc_evt_next(d, ev, 2, 500);
	ASSERT(!x, "event %#x delivered to a guest that did not negotiate F_CHANGE",
	       x ? x->event : 0);
	vsc_evt_release(d, ev, 2);
}
