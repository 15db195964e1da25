// SPDX-License-Identifier: GPL-2.0
/* fileio and iblock-on-loop backstores (groups with their own fixtures). */
#include <errno.h>
#include <stdlib.h>

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
	FT_ASSERT(blocks * bs == RD16_BYTES, "capacity %llu x %u, want %llu bytes",
		  (unsigned long long)blocks, bs, RD16_BYTES);
	if (!ft_cmd_good(d, Q0, 1, 0, cdb, vsc_cdb_inquiry(cdb, false, 0, sizeof(b)), NULL, 0, b,
			 sizeof(b), NULL))
		return;
	FT_ASSERT(!memcmp(b + 16, product, strlen(product)), "product '%.16s', want %s", b + 16,
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
		ft_cmd_good(d, Q0, 1, 0, cdb, vsc_cdb_sync_cache10(cdb, 0, 0), NULL, 0, NULL, 0, NULL);
}

static void misaligned(void)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	struct vsc_layout l = { .misalign = 5, .data_split = 700 };

	if (!d)
		return;
	ft_verify_rw(d, Q0, 1, 0, 10, 4242, 16, &l, &l);
}

FT_TEST("fileio", capacity_and_inquiry)
{
	capacity_and_product("FILEIO");
}

FT_TEST("fileio", data_integrity)
{
	integrity();
}

FT_TEST("fileio", synchronize_cache)
{
	sync_cache();
}

FT_TEST("fileio", misaligned_segments)
{
	misaligned();
}

FT_TEST("fileio", unmap_zeroes_blocks)
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
	if (!ft_rw(d, Q0, 1, 0, true, 10, 800, 8, buf, NULL))
		goto out;
	e = vsc_cmd(d, Q0, 1, 0, cdb, vsc_cdb_unmap(cdb, 24), p, vsc_unmap_param(p, 800, 8), NULL, 0,
		    &res, TMO);
	if (e) {
		vt_fail(__LINE__, "UNMAP: %s", vt_errstr(e));
		goto out;
	}
	vt_note("UNMAP on fileio: %s", vt_res(&res));
	if (res.status == 2 && res.key == 5) {
		vt_skip("fileio UNMAP not enabled (emulate_tpu=0): %s", vt_res(&res));
		goto out;
	}
	if (res.response || res.status) {
		vt_fail(__LINE__, "UNMAP: %s", vt_res(&res));
		goto out;
	}
	if (ft_rw(d, Q0, 1, 0, false, 10, 800, 8, buf, NULL) && memcmp(buf, zero, 8 * BS))
		vt_fail(__LINE__, "unmapped blocks do not read back as zeroes");
out:
	free(buf);
	free(zero);
}

FT_TEST("iblock", capacity_and_inquiry)
{
	capacity_and_product("IBLOCK");
}

FT_TEST("iblock", data_integrity)
{
	integrity();
}

FT_TEST("iblock", synchronize_cache)
{
	sync_cache();
}

FT_TEST("iblock", misaligned_segments)
{
	misaligned();
}
