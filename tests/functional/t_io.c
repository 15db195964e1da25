// SPDX-License-Identifier: GPL-2.0
/* Data integrity across CDB sizes, transfer sizes and descriptor layouts. */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ft.h"

#define Q0 VSC_VQ_REQ(0)
#define LUN0_BLOCKS (RD16_BYTES / BS)

static void integrity(unsigned int sz, const uint32_t *blocks, unsigned int n)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	unsigned int i;
	uint64_t lba;

	if (!d)
		return;
	for (i = 0; i < n && !vt_failed(); i++) {
		uint64_t max = sz == 6 ? 0x1fffff : LUN0_BLOCKS;

		if (max > LUN0_BLOCKS)
			max = LUN0_BLOCKS;
		lba = vt_rand() % (max - blocks[i] + 1);
		ft_verify_rw(d, Q0, 1, 0, sz, lba, blocks[i], NULL, NULL);
	}
}

VT_TEST("io", rw6_integrity)
{
	static const uint32_t b[] = { 1, 2, 8, 64, 255, 256 };

	integrity(6, b, 6);
}

VT_TEST("io", rw10_integrity)
{
	static const uint32_t b[] = { 1, 7, 8, 128, 256, 1024, 2048, 2049 };

	integrity(10, b, 8);
}

VT_TEST("io", rw16_integrity)
{
	static const uint32_t b[] = { 1, 3, 8, 100, 2048, 4096, 8192 };

	integrity(16, b, 7);
}

VT_TEST("io", rw_cross_sizes)
{
	/* write with one CDB size, read back with another */
	struct vsc_dev *d = ft_open_ep(NULL);
	uint8_t *w, *r;
	size_t len = 64 * BS;

	if (!d)
		return;
	w = vt_xmalloc(len);
	r = vt_xmalloc(len);
	vt_fill(w, len);
	if (vt_rw(d, Q0, 1, 0, true, 6, 1000, 64, w, NULL) &&
	    vt_rw(d, Q0, 1, 0, false, 16, 1000, 64, r, NULL) && memcmp(w, r, len))
		vt_fail(__LINE__, "WRITE(6) / READ(16) mismatch");
	vt_fill(w, len);
	if (!vt_failed() && vt_rw(d, Q0, 1, 0, true, 16, 1000, 64, w, NULL) &&
	    vt_rw(d, Q0, 1, 0, false, 10, 1000, 64, r, NULL) && memcmp(w, r, len))
		vt_fail(__LINE__, "WRITE(16) / READ(10) mismatch");
	free(w);
	free(r);
}

VT_TEST("io", zero_length_transfers)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	uint8_t cdb[16];

	if (!d)
		return;
	/* READ(10)/WRITE(10) with 0 blocks transfer nothing and succeed */
	vt_cmd_good(d, Q0, 1, 0, cdb, vsc_cdb_rw(cdb, false, 10, 5, 0), NULL, 0, NULL, 0, NULL);
	vt_cmd_good(d, Q0, 1, 0, cdb, vsc_cdb_rw(cdb, true, 16, 5, 0), NULL, 0, NULL, 0, NULL);
}

/* ------------------------------------------------------------- layouts */

VT_TEST("layout", header_split_every_offset)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	struct vsc_layout l;
	uint32_t cut;
	size_t hl = sizeof(struct virtio_scsi_cmd_req);

	if (!d)
		return;
	for (cut = 1; cut < hl && !vt_failed(); cut++) {
		memset(&l, 0, sizeof(l));
		l.out_cuts = &cut;
		l.n_out_cuts = 1;
		/* write with the split header, read plain; alternate lba */
		ft_verify_rw(d, Q0, 1, 0, 10, 2000 + cut, 2, &l, NULL);
		if (!vt_failed())
			ft_verify_rw(d, Q0, 1, 0, 16, 3000 + cut, 1, NULL, &l);
	}
}

VT_TEST("layout", response_split_every_offset)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	struct vsc_layout l;
	uint32_t cut;
	size_t rl = sizeof(struct virtio_scsi_cmd_resp);

	if (!d)
		return;
	for (cut = 1; cut < rl && !vt_failed(); cut++) {
		memset(&l, 0, sizeof(l));
		l.in_cuts = &cut;
		l.n_in_cuts = 1;
		ft_verify_rw(d, Q0, 1, 0, 10, 4000 + cut, 1, &l, &l);
	}
	/* CHECK CONDITION sense must survive a split response too */
	for (cut = 1; cut < rl && !vt_failed(); cut += 7) {
		struct vsc_req r;
		struct vsc_result res;
		uint8_t cdb[10] = { 0xd7 };
		int e;

		vsc_req_init(d, &r, Q0, 1, 0, cdb, 10);
		r.layout.in_cuts = &cut;
		r.layout.n_in_cuts = 1;
		e = vsc_cmd_layout(d, &r, NULL, &res, TMO);
		ASSERT(!e && vt_sense_is(&res, ILLEGAL_REQUEST, ASC_INVALID_OPCODE),
		       "response cut at %u: %s %s", cut, vt_errstr(e), vt_res(&res));
	}
}

VT_TEST("layout", response_1byte_descriptors)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	struct vsc_layout l = { .resp_split = 1 };

	if (!d)
		return;
	ft_verify_rw(d, Q0, 1, 0, 10, 5000, 4, NULL, &l);
	if (!vt_failed()) {
		l.indirect = true;
		ft_verify_rw(d, Q0, 1, 0, 10, 5100, 4, &l, &l);
	}
}

VT_TEST("layout", header_1byte_descriptors)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	struct vsc_layout l = { .hdr_split = 1 };

	if (!d)
		return;
	ft_verify_rw(d, Q0, 1, 0, 10, 5200, 4, &l, &l);
	if (!vt_failed()) {
		l.indirect = true;
		ft_verify_rw(d, Q0, 1, 0, 16, 5300, 4, &l, &l);
	}
}

VT_TEST("layout", indirect)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	struct vsc_layout l = { .indirect = true };

	if (!d)
		return;
	ft_verify_rw(d, Q0, 1, 0, 10, 6000, 1, &l, &l);
	ft_verify_rw(d, Q0, 1, 0, 10, 6100, 256, &l, &l);
	l.data_split = 4096;
	ft_verify_rw(d, Q0, 1, 0, 16, 6400, 2048, &l, &l);
}

VT_TEST("layout", data_many_segments)
{
	struct vsc_opts o = { .ring_size = 1024 };
	struct vsc_dev *d = ft_open_ep(&o);
	struct vsc_layout l = { .data_split = 512 };

	if (!d)
		return;
	/* 512 segments of 512 bytes, direct (ring of 1024) and indirect */
	ft_verify_rw(d, Q0, 1, 0, 10, 8000, 512, &l, &l);
	l.indirect = true;
	ft_verify_rw(d, Q0, 1, 0, 10, 9000, 512, &l, &l);
	/* 1 MiB in 4 KiB segments */
	l.data_split = 4096;
	ft_verify_rw(d, Q0, 1, 0, 16, 10000, 2048, &l, &l);
}

VT_TEST("layout", merged_header_and_data)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	struct vsc_layout l = { .merge_out = true, .merge_in = true };

	if (!d)
		return;
	/* header+data-out in one descriptor, response+data-in in one (ANY_LAYOUT) */
	ft_verify_rw(d, Q0, 1, 0, 10, 12000, 8, &l, &l);
	l.data_split = 1000;	/* merged, then cut at odd places */
	ft_verify_rw(d, Q0, 1, 0, 10, 12100, 9, &l, &l);
	l.indirect = true;
	ft_verify_rw(d, Q0, 1, 0, 10, 12200, 17, &l, &l);
}

VT_TEST("layout", misaligned_segments)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	struct vsc_layout l = { .misalign = 3, .data_split = 1000 };

	if (!d)
		return;
	ft_verify_rw(d, Q0, 1, 0, 10, 13000, 16, &l, &l);
	l.misalign = 61;
	l.data_split = 777;
	ft_verify_rw(d, Q0, 1, 0, 10, 13100, 40, &l, &l);
}

/*
 * What a Windows guest sends for large I/O: about 10 MiB in some 1000
 * descriptors of odd sizes at odd offsets, through one indirect table.
 * Debian's vhost_scsi refuses it ("sgl_count ... exceeds pre-allocated
 * max_sgls 2048"): it has more page segments than upstream preallocates.
 */
VT_TEST_BEYOND("layout", windows_like_large_misaligned,
	       "more than 2048 page segments in one command are refused")
{
	struct vsc_dev *d = ft_open_ep(NULL);
	struct vsc_layout l = { .misalign = 37, .data_split = 10487, .indirect = true };

	if (!d)
		return;
	ft_verify_rw(d, Q0, 1, 0, 16, 1024, 20480, &l, &l);
}

VT_TEST("layout", legacy_strict_layout)
{
	/* no VERSION_1 / ANY_LAYOUT: header, data, response, data each in own descriptors */
	struct vsc_opts o = {
		.features = VSC_F(VIRTIO_RING_F_INDIRECT_DESC) | VSC_F(VIRTIO_RING_F_EVENT_IDX),
	};
	struct vsc_dev *d = ft_open_ep(&o);

	if (!d)
		return;
	ASSERT(!vsc_has_feature(d, VIRTIO_F_VERSION_1), "VERSION_1 acked");
	ft_verify_rw(d, Q0, 1, 0, 10, 14000, 8, NULL, NULL);
}

VT_TEST("layout", canaries_intact)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	struct vsc_req r;
	uint8_t cdb[16];
	int e, i;

	if (!d)
		return;
	/* device-writable buffers of odd sizes: nothing may be written outside */
	for (i = 0; i < 20 && !vt_failed(); i++) {
		struct vsc_result res;

		vsc_req_init(d, &r, Q0, 1, 0, cdb, vsc_cdb_inquiry(cdb, false, 0, (uint16_t)(5 + i * 3)));
		r.din_len = 5 + (size_t)i * 3;
		r.layout.resp_split = (uint32_t)(i % 5 + 1);
		e = vsc_cmd_layout(d, &r, NULL, &res, TMO);
		ASSERT(e != -EFAULT, "INQUIRY alloc %d: canary damaged", 5 + i * 3);
		ASSERT(!e && res.status == SAM_STAT_GOOD, "INQUIRY: %s %s", vt_errstr(e), vt_res(&res));
	}
	ASSERT(vsc_canary_check_all(d) == 0, "live canaries damaged");
}

/* ------------------------------------------------------------ raw mode */

VT_TEST("layout", raw_handbuilt_chains)
{
	/* the raw API (used by the bad-input suite and the fuzzer) builds a
	 * valid TUR by hand: direct chain, then through a hand-built indirect table */
	struct vsc_dev *d = ft_open_ep(NULL);
	struct virtio_scsi_cmd_req *req;
	struct virtio_scsi_cmd_resp *rsp;
	struct vsc_buf *hb, *rb, *tb;
	struct vring_desc *t;
	struct vsc_op op;
	uint16_t idx[2];
	int e;

	if (!d)
		return;
	hb = vsc_buf_alloc(d, sizeof(*req), VSC_BUF_ZERO, 0);
	rb = vsc_buf_alloc(d, sizeof(*rsp), VSC_BUF_GUARD | VSC_BUF_FILL, 0);
	tb = vsc_buf_alloc(d, 2 * sizeof(*t), VSC_BUF_ZERO, 0);
	ASSERT(hb && rb && tb, "alloc");
	req = (void *)hb->p;
	rsp = (void *)rb->p;
	vsc_lun_encode(req->lun, 1, 0);
	req->tag = 42;

	e = vsc_raw_take(d, Q0, 2, idx);
	ASSERT(!e, "take: %s", vt_errstr(e));
	vsc_raw_set_desc(d, Q0, idx[0], (uintptr_t)req, sizeof(*req), VRING_DESC_F_NEXT, idx[1]);
	vsc_raw_set_desc(d, Q0, idx[1], (uintptr_t)rsp, sizeof(*rsp), VRING_DESC_F_WRITE, 0);
	memset(&op, 0, sizeof(op));
	vsc_raw_publish(d, Q0, idx[0], &op, 2, idx);
	vsc_kick(d, Q0);
	e = vsc_wait(d, &op, TMO);
	ASSERT(!e, "direct raw chain: %s", vt_errstr(e));
	ASSERT(rsp->response == 0 && rsp->status == SAM_STAT_GOOD, "direct raw TUR: response %u status %u",
	       rsp->response, rsp->status);
	ASSERT(vsc_free_descs(d, Q0) == vsc_vq_size(d, Q0), "descriptors not recycled");

	/* indirect: one ring descriptor pointing at a 2-entry table */
	t = (void *)tb->p;
	t[0].addr = (uintptr_t)req;
	t[0].len = sizeof(*req);
	t[0].flags = VRING_DESC_F_NEXT;
	t[0].next = 1;
	t[1].addr = (uintptr_t)rsp;
	t[1].len = sizeof(*rsp);
	t[1].flags = VRING_DESC_F_WRITE;
	memset(rsp, 0xcc, sizeof(*rsp));
	e = vsc_raw_take(d, Q0, 1, idx);
	ASSERT(!e, "take: %s", vt_errstr(e));
	vsc_raw_set_desc(d, Q0, idx[0], (uintptr_t)t, 2 * sizeof(*t), VRING_DESC_F_INDIRECT, 0);
	memset(&op, 0, sizeof(op));
	vsc_raw_publish(d, Q0, idx[0], &op, 1, idx);
	vsc_kick(d, Q0);
	e = vsc_wait(d, &op, TMO);
	ASSERT(!e, "indirect raw chain: %s", vt_errstr(e));
	ASSERT(rsp->response == 0 && rsp->status == SAM_STAT_GOOD, "indirect raw TUR: response %u status %u",
	       rsp->response, rsp->status);
	ASSERT(vsc_buf_check(rb, NULL) == 0, "canary damaged");
	ASSERT(vsc_stray_used(d, Q0) == 0, "stray used entries");
	vsc_buf_free(d, hb);
	vsc_buf_free(d, rb);
	vsc_buf_free(d, tb);
}

VT_TEST("io", zero_copy_caller_buffers)
{
	/* dout_buf / din_buf: caller-owned arena buffers used in place */
	struct vsc_dev *d = ft_open_ep(NULL);
	struct vsc_buf *wb, *rb;
	struct vsc_result res;
	struct vsc_req r;
	uint8_t cdb[16];
	int e;

	if (!d)
		return;
	wb = vsc_buf_alloc(d, 64 * BS, 0, 0);
	rb = vsc_buf_alloc(d, 64 * BS, VSC_BUF_GUARD | VSC_BUF_FILL, 0);
	ASSERT(wb && rb, "alloc");
	vt_fill(wb->p, wb->len);
	vsc_req_init(d, &r, Q0, 1, 0, cdb, vsc_cdb_rw(cdb, true, 10, 15000, 64));
	r.dout_buf = wb;
	e = vsc_cmd_layout(d, &r, NULL, &res, TMO);
	ASSERT(!e && !res.response && !res.status, "WRITE: %s %s", vt_errstr(e), vt_res(&res));
	vsc_req_init(d, &r, Q0, 1, 0, cdb, vsc_cdb_rw(cdb, false, 10, 15000, 64));
	r.din_buf = rb;
	r.layout.data_split = 4096;
	e = vsc_cmd_layout(d, &r, NULL, &res, TMO);
	ASSERT(!e && !res.response && !res.status, "READ: %s %s", vt_errstr(e), vt_res(&res));
	ASSERT(!memcmp(wb->p, rb->p, wb->len), "data mismatch");
	ASSERT(!vsc_buf_check(rb, NULL), "canary damaged");
	vsc_buf_free(d, wb);
	vsc_buf_free(d, rb);
}

/*
 * A data-out buffer is read-only for the device (virtio 1.x, 2.7.4): an
 * INQUIRY sent with one must not be answered into it.  The buffer is a page
 * of a memfd mapped MAP_PRIVATE and read-only, so the host pins the file's
 * own page cache page: a write by the host changes the file, which the test
 * reads back.  The device is closed after the test, with its arena and this
 * mapping in it.
 */
VT_TEST_BEYOND("io", data_out_stays_unwritten_by_inquiry,
	       "vhost_scsi writes the INQUIRY answer into the guest's data-out pages, pinned for reading only")
{
	uint8_t cdb[6] = { 0x12, 0, 0, 2, 0, 0 };	/* INQUIRY, 512 bytes */
	struct vsc_dev *d = ft_open_ep(NULL);
	long pg = sysconf(_SC_PAGESIZE);
	uint8_t want[BS], got[BS];	/* a whole sector: no copy for alignment */
	struct vsc_buf *area, out = { 0 };
	struct vsc_result res;
	struct vsc_req r;
	uint8_t *page;
	int fd, e;

	if (!d)
		return;
	fd = memfd_create("vsc-data-out", MFD_CLOEXEC);
	ASSERT(fd >= 0, "memfd_create: %s", vt_errstr(-errno));
	memset(want, 0x5a, sizeof(want));
	ASSERT(pwrite(fd, want, sizeof(want), 0) == sizeof(want) && !ftruncate(fd, pg),
	       "memfd: %s", vt_errstr(-errno));
	area = vsc_buf_alloc(d, 2 * pg, 0, 0);
	ASSERT(area, "alloc");
	page = (uint8_t *)(((uintptr_t)area->p + pg - 1) & ~(uintptr_t)(pg - 1));
	ASSERT(mmap(page, pg, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0) == page,
	       "mmap: %s", vt_errstr(-errno));
	out.p = page;
	out.len = sizeof(want);
	vsc_req_init(d, &r, Q0, 1, 0, cdb, sizeof(cdb));
	r.dout_buf = &out;
	e = vsc_cmd_layout(d, &r, NULL, &res, TMO);
	ASSERT(pread(fd, got, sizeof(got), 0) == sizeof(got), "pread: %s", vt_errstr(-errno));
	close(fd);
	ASSERT(!e && res.response == 0, "INQUIRY with data-out: %s %s", vt_errstr(e), vt_res(&res));
	ASSERT(!memcmp(got, want, sizeof(want)),
	       "the host wrote into the data-out page: byte 0 is %#x, byte 8 '%c'", got[0], got[8]);
}

/*
 * An answer buffer in sector-sized pieces of separate pages: INQUIRY with
 * 1024 bytes of allocation length gets its answer in 512 bytes at the start
 * of one page and 512 at the start of the page after next.  target_core
 * builds a 1024-byte answer (the standard data, then zeros) and reports the
 * standard data's length; what the guest reads must be that data, and no
 * byte of those pages outside the two pieces may change.
 */
VT_TEST_BEYOND("io", data_in_pieces_answered_in_place,
	       "vhost_scsi hands target_core the pieces as if they were whole pages: the 1024-byte answer runs on past the first piece in its page")
{
	uint8_t cdb[6] = { 0x12, 0, 0, 4, 0, 0 };	/* INQUIRY, 1024 bytes */
	struct vsc_dev *d = ft_open_ep(NULL);
	long pg = sysconf(_SC_PAGESIZE);
	struct virtio_scsi_cmd_req *req;
	struct virtio_scsi_cmd_resp *rsp;
	struct vsc_buf *hb, *rb, *area;
	uint16_t idx[4];
	struct vsc_op op;
	uint32_t n;
	uint8_t *a;
	long i;
	int e;

	if (!d)
		return;
	hb = vsc_buf_alloc(d, sizeof(*req), VSC_BUF_ZERO, 0);
	rb = vsc_buf_alloc(d, sizeof(*rsp), VSC_BUF_ZERO, 0);
	area = vsc_buf_alloc(d, 4 * pg, 0, 0);
	ASSERT(hb && rb && area, "alloc");
	a = (uint8_t *)(((uintptr_t)area->p + pg - 1) & ~(uintptr_t)(pg - 1));
	memset(a, 0xa5, 3 * pg);
	req = (void *)hb->p;
	rsp = (void *)rb->p;
	vsc_lun_encode(req->lun, 1, 0);
	req->tag = 43;
	memcpy(req->cdb, cdb, sizeof(cdb));

	e = vsc_raw_take(d, Q0, 4, idx);
	ASSERT(!e, "take: %s", vt_errstr(e));
	vsc_raw_set_desc(d, Q0, idx[0], (uintptr_t)req, sizeof(*req), VRING_DESC_F_NEXT, idx[1]);
	vsc_raw_set_desc(d, Q0, idx[1], (uintptr_t)rsp, sizeof(*rsp),
			 VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, idx[2]);
	vsc_raw_set_desc(d, Q0, idx[2], (uintptr_t)a, BS, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, idx[3]);
	vsc_raw_set_desc(d, Q0, idx[3], (uintptr_t)(a + 2 * pg), BS, VRING_DESC_F_WRITE, 0);
	memset(&op, 0, sizeof(op));
	vsc_raw_publish(d, Q0, idx[0], &op, 4, idx);
	vsc_kick(d, Q0);
	e = vsc_wait(d, &op, TMO);
	ASSERT(!e, "INQUIRY: %s", vt_errstr(e));
	n = 2 * BS - rsp->resid;
	ASSERT(rsp->response == 0 && rsp->status == SAM_STAT_GOOD && n >= 36 && n <= BS,
	       "INQUIRY: response %u status %u resid %u", rsp->response, rsp->status, rsp->resid);
	ASSERT(a[4] + 5u == n && !memcmp(a + 8, "LIO-ORG", 7),
	       "no standard INQUIRY data of %u bytes in the first piece (additional length %u)", n, a[4]);
	for (i = 0; i < 3 * pg; i++) {
		if (i < BS || (i >= 2 * pg && i < 2 * pg + BS))
			continue;
		ASSERT(a[i] == 0xa5, "byte %ld of the pages, outside the pieces, became %#x", i, a[i]);
	}
	vsc_buf_free(d, hb);
	vsc_buf_free(d, rb);
	vsc_buf_free(d, area);
}
