// SPDX-License-Identifier: GPL-2.0
/* SCSI command contents, addressing and error answers. */
#include <errno.h>
#include <stdlib.h>

#include "ft.h"

#define Q0 VSC_VQ_REQ(0)

VT_TEST("scsi", tur)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	uint8_t cdb[6];

	if (d)
		vt_cmd_good(d, Q0, 1, 0, cdb, vsc_cdb_tur(cdb), NULL, 0, NULL, 0, NULL);
}

/*
 * The command in @cdb (@cdb_len bytes) to target @tgt LUN 0, with @b as its
 * @len-byte data-in buffer, filled with 0xee first: answered GOOD, else false
 * (vt_cmd_good() failed the test).
 */
static bool din_good(struct vsc_dev *d, uint8_t tgt, const uint8_t *cdb, unsigned int cdb_len,
		     uint8_t *b, uint16_t len)
{
	memset(b, 0xee, len);
	return vt_cmd_good(d, Q0, tgt, 0, cdb, cdb_len, NULL, 0, b, len, NULL);
}

VT_TEST("scsi", inquiry_standard)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	uint8_t cdb[6], b[96];

	if (!d)
		return;
	if (!din_good(d, 1, cdb, vsc_cdb_inquiry(cdb, false, 0, sizeof(b)), b, sizeof(b)))
		return;
	ASSERT(b[0] == 0x00, "peripheral byte 0x%02x, want 0 (connected disk)", b[0]);
	ASSERT(b[4] + 5 >= 36, "additional length %u too short", b[4]);
	ASSERT(!memcmp(b + 8, "LIO-ORG ", 8), "vendor '%.8s'", b + 8);
	ASSERT(!memcmp(b + 16, "RAMDISK-MCP", 11), "product '%.16s', want RAMDISK-MCP", b + 16);
}

static bool vpd(struct vsc_dev *d, uint8_t page, uint8_t *b, uint16_t len)
{
	uint8_t cdb[6];

	if (!din_good(d, 1, cdb, vsc_cdb_inquiry(cdb, true, page, len), b, len))
		return false;
	CHECK(b[1] == page, "VPD page byte 0x%02x, want 0x%02x", b[1], page);
	return true;
}

VT_TEST("scsi", inquiry_vpd_supported_pages)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	uint8_t b[255];
	bool seen80 = false, seen83 = false, seenb0 = false;
	unsigned int i;

	if (!d || !vpd(d, 0x00, b, sizeof(b)))
		return;
	ASSERT(b[3] >= 3, "only %u pages listed", b[3]);
	for (i = 0; i < b[3]; i++) {
		seen80 |= b[4 + i] == 0x80;
		seen83 |= b[4 + i] == 0x83;
		seenb0 |= b[4 + i] == 0xb0;
	}
	ASSERT(seen80 && seen83 && seenb0, "pages 0x80/0x83/0xb0 listed: %d/%d/%d", seen80,
	       seen83, seenb0);
}

VT_TEST("scsi", inquiry_vpd_serial)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	uint8_t b[255];

	if (!d || !vpd(d, 0x80, b, sizeof(b)))
		return;
	ASSERT(b[3] >= strlen(RD16_SERIAL), "serial length %u", b[3]);
	ASSERT(!memcmp(b + 4, RD16_SERIAL, strlen(RD16_SERIAL)), "serial '%.*s', want %s",
	       b[3], b + 4, RD16_SERIAL);
}

VT_TEST("scsi", inquiry_vpd_device_id)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	uint8_t b[255];
	unsigned int off, len;
	bool naa = false, port = false;

	if (!d || !vpd(d, 0x83, b, sizeof(b)))
		return;
	len = vsc_get_be16(b + 2) + 4;
	ASSERT(len > 4 && len <= sizeof(b), "page length %u", len);
	for (off = 4; off + 4 <= len; off += 4 + b[off + 3]) {
		uint8_t type = b[off + 1] & 0x0f, assoc = (b[off + 1] >> 4) & 3;

		if (type == 3 && assoc == 0)
			naa = true;	/* NAA designator of the logical unit */
		if (assoc == 1)
			port = true;	/* target port designators */
	}
	ASSERT(naa, "no NAA logical unit designator");
	ASSERT(port, "no target port designator");
}

VT_TEST("scsi", inquiry_vpd_block_limits)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	uint8_t b[64];

	if (!d || !vpd(d, 0xb0, b, sizeof(b)))
		return;
	/* 0x3c with thin provisioning attributes, 0x10 without (LIO) */
	ASSERT(vsc_get_be16(b + 2) == 0x3c || vsc_get_be16(b + 2) == 0x10,
	       "page length 0x%x, want 0x3c or 0x10", vsc_get_be16(b + 2));
	ASSERT(vsc_get_be32(b + 8) > 0, "maximum transfer length 0");
	vt_note("max transfer %u blocks, optimal %u", vsc_get_be32(b + 8), vsc_get_be32(b + 12));
}

static bool report_luns(struct vsc_dev *d, uint8_t tgt, uint16_t *luns, unsigned int *n)
{
	uint8_t cdb[12], b[512];
	unsigned int len, i;

	if (!din_good(d, tgt, cdb, vsc_cdb_report_luns(cdb, 0, sizeof(b)), b, sizeof(b)))
		return false;
	len = vsc_get_be32(b) / 8;
	CHECK(len <= 63, "lun list length %u", len);
	for (i = 0; i < len; i++)
		luns[i] = (uint16_t)(vsc_get_be16(b + 8 + 8 * i) & 0x3fff);
	*n = len;
	return true;
}

VT_TEST("scsi", report_luns_exact)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	uint16_t l[64];
	unsigned int n;

	if (!d || !report_luns(d, 1, l, &n))
		return;
	ASSERT(n == 2, "tpgt 1: %u LUNs listed, want 2", n);
	ASSERT((l[0] == 0 && l[1] == 1) || (l[0] == 1 && l[1] == 0), "tpgt 1 LUNs %u,%u", l[0],
	       l[1]);
	if (!report_luns(d, 2, l, &n))
		return;
	ASSERT(n == 1 && l[0] == 0, "tpgt 2: %u LUNs (first %u), want exactly LUN 0", n, l[0]);
}

VT_TEST("scsi", read_capacity10)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	uint8_t cdb[10], b[8];

	if (!d || !vt_cmd_good(d, Q0, 1, 0, cdb, vsc_cdb_read_capacity10(cdb), NULL, 0, b, 8, NULL))
		return;
	ASSERT(vsc_get_be32(b) == RD16_BYTES / BS - 1, "last LBA %u, want %llu", vsc_get_be32(b),
	       RD16_BYTES / BS - 1);
	ASSERT(vsc_get_be32(b + 4) == BS, "block size %u", vsc_get_be32(b + 4));
}

VT_TEST("scsi", read_capacity16)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	uint64_t blocks;
	uint32_t bs;

	if (!d || !ft_capacity(d, 1, 1, &blocks, &bs))
		return;
	ASSERT(blocks == RD8_BYTES / BS && bs == BS, "lun 1: %llu blocks of %u", 
	       (unsigned long long)blocks, bs);
}

VT_TEST("scsi", multi_target_selects_tpgt)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	uint64_t b1, b2;
	uint32_t bs;
	uint8_t *w, *r;

	if (!d || !ft_capacity(d, 1, 0, &b1, &bs) || !ft_capacity(d, 2, 0, &b2, &bs))
		return;
	ASSERT(b1 == RD16_BYTES / BS, "target 1 lun 0: %llu blocks", (unsigned long long)b1);
	ASSERT(b2 == RD4_BYTES / BS, "target 2 lun 0: %llu blocks", (unsigned long long)b2);
	/* data written through target 2 is not visible through target 1 */
	w = vt_xmalloc(BS);
	r = vt_xmalloc(BS);
	memset(w, 0x22, BS);
	if (vt_rw(d, Q0, 2, 0, true, 10, 7, 1, w, NULL)) {
		memset(w, 0x11, BS);
		if (vt_rw(d, Q0, 1, 0, true, 10, 7, 1, w, NULL) &&
		    vt_rw(d, Q0, 2, 0, false, 10, 7, 1, r, NULL)) {
			memset(w, 0x22, BS);
			if (memcmp(w, r, BS))
				vt_fail(__LINE__, "target 2 block 7 changed by a write to target 1");
		}
	}
	free(w);
	free(r);
}

VT_TEST("scsi", multi_lun_addressing)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	uint64_t b0, b1;
	uint32_t bs;

	if (!d || !ft_capacity(d, 1, 0, &b0, &bs) || !ft_capacity(d, 1, 1, &b1, &bs))
		return;
	ASSERT(b0 == RD16_BYTES / BS && b1 == RD8_BYTES / BS, "lun0 %llu lun1 %llu blocks",
	       (unsigned long long)b0, (unsigned long long)b1);
	ft_verify_rw(d, Q0, 1, 1, 16, b1 - 8, 8, NULL, NULL);
}

static void expect_response(struct vsc_dev *d, struct vsc_req *r, uint8_t want, const char *what)
{
	struct vsc_result res;
	int e = vsc_cmd_layout(d, r, NULL, &res, TMO);

	ASSERT(!e, "%s: %s", what, vt_errstr(e));
	ASSERT(res.response == want, "%s: %s, want response %s", what, vt_res(&res),
	       vsc_response_name(want));
}

/*
 * TURs whose LUN field has byte @byte set to each of @v (else target 1 LUN 0)
 * are answered BAD_TARGET (@fmt names one, "%x" of the value); the device
 * works afterwards.
 */
static void bad_lun_field(unsigned int byte, const uint8_t v[4], const char *fmt)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	struct vsc_req r;
	uint8_t cdb[6];
	unsigned int i;

	if (!d)
		return;
	for (i = 0; i < 4 && !vt_failed(); i++) {
		char what[64];

		vsc_req_init(d, &r, Q0, 1, 0, cdb, vsc_cdb_tur(cdb));
		r.lun[byte] = v[i];
		snprintf(what, sizeof(what), fmt, v[i]);
		expect_response(d, &r, VIRTIO_SCSI_S_BAD_TARGET, what);
	}
	/* and the device still works */
	vt_cmd_good(d, Q0, 1, 0, cdb, vsc_cdb_tur(cdb), NULL, 0, NULL, 0, NULL);
}

VT_TEST("scsi", bad_target_byte)
{
	static const uint8_t t[4] = { 0, 3, 200, 255 };

	bad_lun_field(1, t, "TUR to target %u (no TPG)");
}

VT_TEST("scsi", bad_lun_byte0)
{
	static const uint8_t v[4] = { 0, 2, 0x81, 0xff };

	bad_lun_field(0, v, "TUR with lun[0]=0x%02x");
}

VT_TEST("scsi", unlinked_lun_not_supported)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	struct vsc_result res;
	uint8_t cdb[6];
	int e;

	if (!d)
		return;
	e = vsc_cmd(d, Q0, 1, 9, cdb, vsc_cdb_tur(cdb), NULL, 0, NULL, 0, &res, TMO);
	ASSERT(!e, "TUR lun 9: %s", vt_errstr(e));
	ASSERT(res.response == VIRTIO_SCSI_S_OK &&
	       vt_sense_is(&res, ILLEGAL_REQUEST, ASC_LUN_NOT_SUPPORTED),
	       "TUR to unlinked LUN 9: %s, want CHECK CONDITION 5/0x25", vt_res(&res));
}

VT_TEST("scsi", unsupported_opcode_sense)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	struct vsc_result res;
	uint8_t cdb[10] = { 0xd7 };	/* vendor specific, unknown to LIO */
	int e;

	if (!d)
		return;
	e = vsc_cmd(d, Q0, 1, 0, cdb, 10, NULL, 0, NULL, 0, &res, TMO);
	ASSERT(!e, "%s", vt_errstr(e));
	ASSERT(res.response == VIRTIO_SCSI_S_OK && res.status == SAM_STAT_CHECK_CONDITION, "%s, want CHECK CONDITION",
	       vt_res(&res));
	ASSERT(res.sense_len >= 14 && res.sense_len <= VSC_SENSE_MAX, "sense_len %u", res.sense_len);
	ASSERT(res.key == ILLEGAL_REQUEST && res.asc == ASC_INVALID_OPCODE && res.ascq == 0,
	       "sense %s, want ILLEGAL REQUEST 0x20/0x00", vt_res(&res));
}

VT_TEST("scsi", lba_out_of_range_sense)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	struct vsc_result res;
	uint8_t cdb[16], *buf = NULL;
	uint64_t last = RD16_BYTES / BS - 1;
	int e, sz[] = { 10, 16 }, i;

	if (!d)
		return;
	buf = vt_xmalloc(2 * BS);
	for (i = 0; i < 2 && !vt_failed(); i++) {
		/* starts past the end */
		e = vsc_cmd(d, Q0, 1, 0, cdb, vsc_cdb_rw(cdb, false, sz[i], last + 1, 1), NULL, 0,
			    buf, BS, &res, TMO);
		if (e || !vt_sense_is(&res, ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE))
			vt_fail(__LINE__, "READ%d past end: %s %s, want 5/0x21", sz[i], vt_errstr(e),
				vt_res(&res));
		/* straddles the end */
		e = vsc_cmd(d, Q0, 1, 0, cdb, vsc_cdb_rw(cdb, true, sz[i], last, 2), buf, 2 * BS,
			    NULL, 0, &res, TMO);
		if (e || !vt_sense_is(&res, ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE))
			vt_fail(__LINE__, "WRITE%d straddling end: %s %s, want 5/0x21", sz[i],
				vt_errstr(e), vt_res(&res));
	}
	free(buf);
	if (!vt_failed())	/* last block itself is fine */
		ft_verify_rw(d, Q0, 1, 0, 16, last, 1, NULL, NULL);
}

VT_TEST("scsi", mode_sense)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	uint8_t cdb[10], b[255];

	if (!d)
		return;
	if (!din_good(d, 1, cdb, vsc_cdb_mode_sense6(cdb, 0x3f, 0, 255), b, 255))
		return;
	ASSERT(b[0] >= 3 && b[0] < 255, "MODE SENSE(6) data length %u", b[0]);
	if (!din_good(d, 1, cdb, vsc_cdb_mode_sense10(cdb, 0x08, 0, 255), b, 255))
		return;
	ASSERT(vsc_get_be16(b) >= 6 + 20, "MODE SENSE(10) caching page: data length %u",
	       vsc_get_be16(b));
	{
		unsigned int bdl = vsc_get_be16(b + 6), off = 8 + bdl;

		ASSERT((b[off] & 0x3f) == 0x08, "page code 0x%02x at %u, want 0x08", b[off], off);
	}
}

VT_TEST("scsi", synchronize_cache)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	uint8_t cdb[10];

	if (d)
		vt_cmd_good(d, Q0, 1, 0, cdb, vsc_cdb_sync_cache10(cdb, 0, 0), NULL, 0, NULL, 0, NULL);
}

/*
 * On a device of its own with the endpoint set, the command in @cdb
 * (@cdb_len bytes) to target 1 LUN 0 with the given data-out and data-in
 * buffers: answered with response OK (whatever its status), its answer in
 * @res; else false (the test failed).
 */
static bool cmd_answered(const uint8_t *cdb, unsigned int cdb_len, const void *dout,
			 size_t dout_len, void *din, size_t din_len, struct vsc_result *res)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	int e;

	if (!d)
		return false;
	memset(res, 0, sizeof(*res));
	e = vsc_cmd(d, Q0, 1, 0, cdb, cdb_len, dout, dout_len, din, din_len, res, TMO);
	CHECK(!e && res->response == VIRTIO_SCSI_S_OK, "%s %s", vt_errstr(e), vt_res(res));
	return true;
}

VT_TEST("scsi", unmap_rd_answer)
{
	/* rd_mcp has no UNMAP: a well-formed ILLEGAL REQUEST (or GOOD) is expected */
	struct vsc_result res;
	uint8_t cdb[10], p[24];
	unsigned int n = vsc_cdb_unmap(cdb, 24);

	if (!cmd_answered(cdb, n, p, vsc_unmap_param(p, 0, 8), NULL, 0, &res))
		return;
	vt_note("UNMAP on rd_mcp: %s", vt_res(&res));
	ASSERT(res.status == SAM_STAT_GOOD || vt_sense_is(&res, ILLEGAL_REQUEST, ASC_INVALID_OPCODE),
	       "UNMAP: %s, want GOOD or ILLEGAL REQUEST 0x20", vt_res(&res));
}

/*
 * The residual tests: on a device of their own, 8 blocks of random data
 * written at @lba, then a READ of those 8 blocks into a buffer of @r_blocks
 * blocks.  Returns the READ's vsc_cmd() result in *@e with its answer in
 * @res, and both buffers (NULL without a device; the caller frees them);
 * false if there is no device or the write failed (reported already).
 */
static bool read_back(uint64_t lba, unsigned int r_blocks, uint8_t **w, uint8_t **r,
		      struct vsc_result *res, int *e)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	uint8_t cdb[10];

	*w = NULL;
	*r = NULL;
	if (!d)
		return false;
	*w = vt_xmalloc(8 * BS);
	*r = vt_xmalloc(r_blocks * BS);
	vt_fill(*w, 8 * BS);
	if (!vt_rw(d, Q0, 1, 0, true, 10, lba, 8, *w, NULL))
		return false;
	*e = vsc_cmd(d, Q0, 1, 0, cdb, vsc_cdb_rw(cdb, false, 10, lba, 8), NULL, 0, *r,
		     r_blocks * BS, res, TMO);
	return true;
}

VT_TEST("scsi", read_residual_buffer_larger)
{
	struct vsc_result res;
	uint8_t *w, *r;
	int e;

	/* 8 blocks requested, 16 blocks of buffer: underrun of 8 blocks */
	if (!read_back(300, 16, &w, &r, &res, &e))
		goto out;
	if (e || res.response || res.status) {
		vt_fail(__LINE__, "READ: %s %s", vt_errstr(e), vt_res(&res));
		goto out;
	}
	if (res.resid != 8 * BS)
		vt_fail(__LINE__, "resid %u, want %u", res.resid, 8 * BS);
	else if (memcmp(w, r, 8 * BS))
		vt_fail(__LINE__, "data mismatch");
out:
	free(w);
	free(r);
}

/*
 * READ whose data-in buffer is smaller than the CDB's transfer length
 * (overflow). LIO core refuses overflow for fabrics that pass their own
 * SGLs (CHECK CONDITION 5/0x24 "invalid field in CDB" with the residual,
 * though the CDB is fine); virtio-scsi has VIRTIO_SCSI_S_OVERRUN for this,
 * and SAM allows transferring what fits with GOOD + residual.
 */
static void read_overflow(void)
{
	struct vsc_result res;
	uint8_t *w, *r;
	int e;

	if (!read_back(400, 4, &w, &r, &res, &e))
		goto out;
	if (!e && res.response == VIRTIO_SCSI_S_OVERRUN) {
		vt_note("READ overrun: %s", vt_res(&res));
		goto out;	/* the virtio-scsi answer for "buffer too small" */
	}
	if (e || res.response) {
		vt_fail(__LINE__, "READ: %s %s", vt_errstr(e), vt_res(&res));
		goto out;
	}
	vt_note("READ overrun: %s", vt_res(&res));
	if (res.resid != 4 * BS)
		vt_fail(__LINE__, "%s: resid %u, want %u", vt_res(&res), res.resid, 4 * BS);
	else if (res.status == SAM_STAT_GOOD && memcmp(w, r, 4 * BS))
		vt_fail(__LINE__, "data mismatch in the first 4 blocks");
	else if (res.status != SAM_STAT_GOOD && (res.status != SAM_STAT_CHECK_CONDITION || res.key != ILLEGAL_REQUEST))
		vt_fail(__LINE__, "READ with short buffer: %s, want GOOD+resid, OVERRUN or ILLEGAL REQUEST",
			vt_res(&res));
out:
	free(w);
	free(r);
}

/*
 * A READ whose buffer is smaller than its transfer length.  Both modules
 * leave this to LIO, which refuses the overflow (CHECK CONDITION 5/0x24)
 * on non-512-byte block sizes; what the fabric owes the guest is the
 * residual: nothing of its buffer was used.
 */
VT_TEST("scsi", read_residual_buffer_smaller)
{
	read_overflow();
}

VT_TEST("scsi", write_length_mismatch_rejected)
{
	struct vsc_result res;
	uint8_t cdb[10], *w = vt_xmalloc(16 * BS);
	unsigned int n = vsc_cdb_rw(cdb, true, 10, 500, 8);
	bool ok;

	vt_fill(w, 16 * BS);
	/* data-out larger than the CDB's transfer length: LIO refuses data CDBs */
	ok = cmd_answered(cdb, n, w, 16 * BS, NULL, 0, &res);
	free(w);
	if (!ok)
		return;
	vt_note("WRITE with too much data-out: %s", vt_res(&res));
	ASSERT(res.status == SAM_STAT_CHECK_CONDITION && res.key == ILLEGAL_REQUEST, "WRITE len mismatch: %s, want ILLEGAL REQUEST",
	       vt_res(&res));
}

VT_TEST("scsi", task_attributes_accepted)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	uint8_t attrs[] = { VIRTIO_SCSI_S_SIMPLE, VIRTIO_SCSI_S_ORDERED, VIRTIO_SCSI_S_HEAD };
	unsigned int i;

	if (!d)
		return;
	for (i = 0; i < 3 && !vt_failed(); i++) {
		struct vsc_result res;
		struct vsc_req r;
		uint8_t cdb[16], buf[BS];
		int e;

		vsc_req_init(d, &r, Q0, 1, 0, cdb, vsc_cdb_rw(cdb, false, 10, 9, 1));
		r.task_attr = attrs[i];
		r.din_len = BS;
		e = vsc_cmd_layout(d, &r, buf, &res, TMO);
		ASSERT(!e && !res.response && !res.status, "READ with task_attr %u: %s %s", attrs[i],
		       vt_errstr(e), vt_res(&res));
	}
}

VT_TEST("scsi", inquiry_short_allocation_residual)
{
	struct vsc_result res;
	uint8_t cdb[6], b[96];
	unsigned int n = vsc_cdb_inquiry(cdb, false, 0, 5);

	/* allocation length 5 with a 96-byte buffer: 5 bytes moved, 91 residual */
	memset(b, 0xee, sizeof(b));
	if (!cmd_answered(cdb, n, NULL, 0, b, sizeof(b), &res))
		return;
	ASSERT(!res.status, "%s", vt_res(&res));
	ASSERT(res.resid == sizeof(b) - 5, "resid %u, want %zu", res.resid, sizeof(b) - 5);
	ASSERT(b[0] == 0 && b[4] != 0xcc, "first 5 bytes not written");
	/* bytes past the allocation length are undefined (LIO zeroes the first
	 * SG entry of control CDBs); only the canaries around the buffer count,
	 * and vsc_cmd() returns -EFAULT if those were hit. */
}
