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

/* ----------------------------------------------- T10 PI on fileio */

/*
 * A fileio LUN with Type 1 PI and 4096-byte blocks, as LUN 1 of the fileio
 * fixture's TPG: a tuple per 4096 bytes, where a copy sized for 512-byte
 * blocks holds eight times as much.
 */
#define PI_LUN		1
#define PI_BS		4096u
#define PI_PATH		"/tmp/vsc-functional-fileio-pi.img"
#define PI_DEV		VSC_CFS_TARGET "/core/fileio_102/fpi"
#define PI_TUPLE	8u

/* CRC of T10-DIF's guard tag: polynomial 0x8bb7, no reflection. */
static uint16_t crc_t10dif(const uint8_t *p, size_t n)
{
	uint16_t crc = 0;
	int i;

	while (n--) {
		crc ^= (uint16_t)(*p++ << 8);
		for (i = 0; i < 8; i++)
			crc = crc & 0x8000 ? (uint16_t)(crc << 1) ^ 0x8bb7 : (uint16_t)(crc << 1);
	}
	return crc;
}

/* Type 1 tuples for @blocks blocks of @data from @lba, into @pi. */
static void pi_tuples(uint8_t *pi, const uint8_t *data, uint64_t lba, uint32_t blocks)
{
	uint32_t i;

	for (i = 0; i < blocks; i++, pi += PI_TUPLE) {
		vsc_put_be16(pi, crc_t10dif(data + (size_t)i * PI_BS, PI_BS));
		vsc_put_be16(pi + 2, 0);	/* application tag */
		vsc_put_be32(pi + 4, (uint32_t)(lba + i));
	}
}

/* Make the PI LUN and open a device with T10_PI on it; NULL: failed or skipped. */
static struct vsc_dev *pi_lun_open(void)
{
	struct vsc_opts o = { .features = VSC_FEATURES_ALL | VSC_F(VIRTIO_SCSI_F_T10_PI) };
	struct vsc_dev *d;
	int r;

	r = vsc_tgt_fileio_create("fileio_102", "fpi", PI_PATH, 4ULL << 20);
	if (!r)
		r = vsc_cfs_write(PI_DEV "/attrib/block_size", "4096");
	if (!r)
		r = vsc_cfs_write(PI_DEV "/attrib/pi_prot_type", "1");
	if (!r)
		r = vsc_tgt_lun_link(WWPN_A, 1, PI_LUN, "fileio_102", "fpi");
	if (r) {
		vt_fail(__LINE__, "a fileio LUN with Type 1 PI and 4096-byte blocks: %s",
			vt_errstr(r));
		return NULL;
	}
	d = ft_open_ep(&o);
	if (!d)
		return NULL;
	if (!vsc_has_feature(d, VIRTIO_SCSI_F_T10_PI)) {
		vt_skip("T10_PI not offered");
		return NULL;
	}
	return vt_clear_ua(d, 1, PI_LUN) ? d : NULL;
}

static void pi_lun_remove(void)
{
	vsc_tgt_lun_unlink(WWPN_A, 1, PI_LUN);
	vsc_tgt_backstore_remove("fileio_102", "fpi");
	unlink(PI_PATH);
	unlink(PI_PATH ".protection");
}

/*
 * WRITE(10) or READ(10) of @blocks at @lba with W/RDPROTECT=1: @buf holds
 * the PI, then the data.
 */
static int pi_rw(struct vsc_dev *d, bool write, uint64_t lba, uint32_t blocks, uint8_t *buf,
		 struct vsc_result *res)
{
	uint32_t pi = blocks * PI_TUPLE, len = pi + blocks * PI_BS;
	uint8_t cdb[16];
	struct vsc_req q;

	vsc_req_init(d, &q, Q0, 1, PI_LUN, cdb, vsc_cdb_rw(cdb, write, 10, lba, blocks));
	q.cdb[1] |= 1 << 5;
	if (write) {
		q.pi_bytesout = pi;
		q.dout = buf;
		q.dout_len = len;
	} else {
		q.pi_bytesin = pi;
		q.din_len = len;
	}
	return vsc_cmd_layout(d, &q, write ? NULL : buf, res, TMO);
}

/*
 * A guest's PI, sized for the LUN's 4096-byte blocks, is written and read
 * back with its data.  fileio moves exactly the PI list it is handed and
 * fails a command whose list is longer than the command's PI.
 */
VT_TEST_BEYOND("fileio", write_same_with_a_device_writable_buffer_writes_nothing,
	       "upstream hands the guest's direction to target_core, which executes the WRITE SAME from the data-in buffer, past a write-protected LUN's check (data-out only)")
{
	struct vsc_dev *d = ft_open_ep(NULL);
	uint8_t cdb[10] = { 0x41 };	/* WRITE SAME(10) */
	uint8_t *blocks, *back, pattern[BS];
	struct vsc_result res;
	int e;

	if (!d)
		return;
	blocks = vt_xmalloc(8 * BS);
	back = vt_xmalloc(8 * BS);
	vt_fill(blocks, 8 * BS);
	if (!vt_rw(d, Q0, 1, 0, true, 10, 900, 8, blocks, NULL))
		goto out;
	memset(pattern, 0xa5, sizeof(pattern));
	vsc_put_be32(cdb + 2, 900);
	vsc_put_be16(cdb + 7, 8);
	/* the block to repeat, in a buffer the device may write: data-in */
	e = vsc_cmd(d, Q0, 1, 0, cdb, sizeof(cdb), NULL, 0, pattern, sizeof(pattern), &res, TMO);
	if (e) {
		vt_fail(__LINE__, "WRITE SAME with a data-in buffer: %s", vt_errstr(e));
		goto out;
	}
	vt_note("WRITE SAME with a data-in buffer: %s", vt_res(&res));
	if (vt_rw(d, Q0, 1, 0, false, 10, 900, 8, back, NULL) && memcmp(blocks, back, 8 * BS))
		vt_fail(__LINE__, "WRITE SAME with a data-in buffer wrote the blocks (%s)",
			vt_res(&res));
	else if (!vt_sense_is(&res, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB))
		vt_fail(__LINE__, "WRITE SAME with a data-in buffer: %s, want CHECK CONDITION 5/0x24",
			vt_res(&res));
out:
	free(blocks);
	free(back);
}

VT_TEST("fileio", pi_round_trip_4096_byte_blocks)
{
	const uint32_t blocks = 3, pi = blocks * PI_TUPLE, len = pi + blocks * PI_BS;
	uint8_t *w = vt_xmalloc(len), *rd = vt_xmalloc(len);
	struct vsc_result res;
	struct vsc_dev *d;
	int r;

	d = pi_lun_open();
	if (!d)
		goto out;
	vt_fill(w + pi, len - pi);
	pi_tuples(w, w + pi, 40, blocks);
	r = pi_rw(d, true, 40, blocks, w, &res);
	if (r || res.response || res.status) {
		FAIL("WRITE(10) WRPROTECT=1 of %u blocks with their PI: %s %s", blocks,
		     vt_errstr(r), vt_res(&res));
		goto out;
	}
	memset(rd, 0xee, len);
	r = pi_rw(d, false, 40, blocks, rd, &res);
	if (r || res.response || res.status) {
		FAIL("READ(10) RDPROTECT=1 of %u blocks: %s %s", blocks, vt_errstr(r),
		     vt_res(&res));
		goto out;
	}
	if (memcmp(rd, w, pi))
		FAIL("the PI read back differs from the PI written");
	else if (memcmp(rd + pi, w + pi, len - pi))
		FAIL("the data read back differs from the data written");
out:
	free(w);
	free(rd);
	pi_lun_remove();
}

/*
 * target_core builds a sense in the command's buffer and sets only the
 * bytes it needs.  A check that fails with an INFORMATION field (the LBA
 * of a PI tuple that does not match) must not leave that field to the
 * senses of later commands in the same slot.
 */
VT_TEST("fileio", sense_has_nothing_of_an_earlier_command)
{
	const uint32_t lba = 0x345, len = PI_TUPLE + PI_BS;
	uint8_t *w = vt_xmalloc(len), cdb[6];
	struct vsc_result res;
	struct vsc_dev *d;
	unsigned int i;
	int r;

	d = pi_lun_open();
	if (!d)
		goto out;
	vt_fill(w + PI_TUPLE, PI_BS);
	pi_tuples(w, w + PI_TUPLE, lba, 1);
	w[0] ^= 0xff;	/* a guard tag that does not match */
	r = pi_rw(d, true, lba, 1, w, &res);
	if (r || res.response || res.status != SAM_STAT_CHECK_CONDITION ||
	    res.key != ABORTED_COMMAND || res.asc != ASC_PI_CHECK_FAILED) {
		FAIL("WRITE with a bad guard tag: %s %s, want CHECK CONDITION b/10", vt_errstr(r),
		     vt_res(&res));
		goto out;
	}
	if (res.sense_len < 7 || !(res.sense[0] & 0x80) || vsc_get_be32(res.sense + 3) != lba) {
		FAIL("the bad guard tag's sense (%u bytes, byte 0 %02x) names no LBA %x: the test could not see a stale one",
		     res.sense_len, res.sense[0], lba);
		goto out;
	}
	/* Then every slot of the queue answers an unknown opcode. */
	for (i = 0; i < 4 * 128 && !vt_failed(); i++) {
		memset(cdb, 0, sizeof(cdb));
		cdb[0] = 0xfa;
		r = vsc_cmd(d, Q0, 1, PI_LUN, cdb, sizeof(cdb), NULL, 0, NULL, 0, &res, TMO);
		if (r || res.response || !vt_sense_is(&res, ILLEGAL_REQUEST, ASC_INVALID_OPCODE))
			FAIL("command %u, opcode fah: %s %s, want CHECK CONDITION 5/20", i,
			     vt_errstr(r), vt_res(&res));
		else if (res.sense_len < 7 || vsc_get_be32(res.sense + 3))
			FAIL("command %u, opcode fah: INFORMATION %08x in a sense of %u bytes (the earlier WRITE's LBA was %x)",
			     i, vsc_get_be32(res.sense + 3), res.sense_len, lba);
	}
out:
	free(w);
	pi_lun_remove();
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

/* capacity_changed names a LUN as lun_<N> does, in decimal: "08" is LUN 8, not bad octal */
VT_TEST_BEYOND("iblock", capacity_changed_lun_is_decimal, UP_CHANGE)
{
	int r = vsc_cfs_write(CAP_ATTR, "08");

	ASSERT(!r, "capacity_changed \"08\" without a guest: %s", vt_errstr(r));
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
