// SPDX-License-Identifier: GPL-2.0
/* libvsc: CDB builders, sense decoding, names. */
#include <stdio.h>
#include <string.h>

#include "libvsc.h"

uint16_t vsc_get_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
uint32_t vsc_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
uint64_t vsc_get_be64(const uint8_t *p)
{
	return (uint64_t)vsc_get_be32(p) << 32 | vsc_get_be32(p + 4);
}
void vsc_put_be16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = (uint8_t)v; }
void vsc_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
void vsc_put_be64(uint8_t *p, uint64_t v)
{
	vsc_put_be32(p, (uint32_t)(v >> 32));
	vsc_put_be32(p + 4, (uint32_t)v);
}

unsigned int vsc_cdb_tur(uint8_t *cdb)
{
	memset(cdb, 0, 6);
	return 6;
}

unsigned int vsc_cdb_inquiry(uint8_t *cdb, bool evpd, uint8_t page, uint16_t alloc)
{
	memset(cdb, 0, 6);
	cdb[0] = VSC_OP_INQUIRY;
	cdb[1] = evpd ? 1 : 0;
	cdb[2] = page;
	vsc_put_be16(cdb + 3, alloc);
	return 6;
}

unsigned int vsc_cdb_report_luns(uint8_t *cdb, uint8_t select, uint32_t alloc)
{
	memset(cdb, 0, 12);
	cdb[0] = VSC_OP_REPORT_LUNS;
	cdb[2] = select;
	vsc_put_be32(cdb + 6, alloc);
	return 12;
}

unsigned int vsc_cdb_read_capacity10(uint8_t *cdb)
{
	memset(cdb, 0, 10);
	cdb[0] = VSC_OP_READ_CAP10;
	return 10;
}

unsigned int vsc_cdb_read_capacity16(uint8_t *cdb, uint32_t alloc)
{
	memset(cdb, 0, 16);
	cdb[0] = VSC_OP_SAI16;
	cdb[1] = 0x10;	/* READ CAPACITY(16) */
	vsc_put_be32(cdb + 10, alloc);
	return 16;
}

unsigned int vsc_cdb_rw(uint8_t *cdb, bool write, unsigned int size, uint64_t lba,
			uint32_t blocks)
{
	switch (size) {
	case 6:
		/* 21-bit LBA; transfer length 0 means 256 blocks */
		if (lba > 0x1fffff || blocks > 256 || !blocks)
			return 0;
		memset(cdb, 0, 6);
		cdb[0] = write ? VSC_OP_WRITE6 : VSC_OP_READ6;
		cdb[1] = (uint8_t)((lba >> 16) & 0x1f);
		cdb[2] = (uint8_t)(lba >> 8);
		cdb[3] = (uint8_t)lba;
		cdb[4] = (uint8_t)(blocks == 256 ? 0 : blocks);
		return 6;
	case 10:
		if (lba > 0xffffffffULL || blocks > 0xffff)
			return 0;
		memset(cdb, 0, 10);
		cdb[0] = write ? VSC_OP_WRITE10 : VSC_OP_READ10;
		vsc_put_be32(cdb + 2, (uint32_t)lba);
		vsc_put_be16(cdb + 7, (uint16_t)blocks);
		return 10;
	case 16:
		memset(cdb, 0, 16);
		cdb[0] = write ? VSC_OP_WRITE16 : VSC_OP_READ16;
		vsc_put_be64(cdb + 2, lba);
		vsc_put_be32(cdb + 10, blocks);
		return 16;
	}
	return 0;
}

unsigned int vsc_cdb_sync_cache10(uint8_t *cdb, uint32_t lba, uint16_t blocks)
{
	memset(cdb, 0, 10);
	cdb[0] = VSC_OP_SYNC_CACHE10;
	vsc_put_be32(cdb + 2, lba);
	vsc_put_be16(cdb + 7, blocks);
	return 10;
}

/* MODE SENSE(6) and (10) alike: a @len-byte CDB, page and subpage in bytes 2 and 3 */
static void cdb_mode_sense(uint8_t *cdb, unsigned int len, uint8_t op, uint8_t page,
			   uint8_t subpage)
{
	memset(cdb, 0, len);
	cdb[0] = op;
	cdb[2] = page & 0x3f;
	cdb[3] = subpage;
}

unsigned int vsc_cdb_mode_sense6(uint8_t *cdb, uint8_t page, uint8_t subpage, uint8_t alloc)
{
	cdb_mode_sense(cdb, 6, VSC_OP_MODE_SENSE6, page, subpage);
	cdb[4] = alloc;
	return 6;
}

unsigned int vsc_cdb_mode_sense10(uint8_t *cdb, uint8_t page, uint8_t subpage, uint16_t alloc)
{
	cdb_mode_sense(cdb, 10, VSC_OP_MODE_SENSE10, page, subpage);
	vsc_put_be16(cdb + 7, alloc);
	return 10;
}

unsigned int vsc_cdb_unmap(uint8_t *cdb, uint16_t param_len)
{
	memset(cdb, 0, 10);
	cdb[0] = VSC_OP_UNMAP;
	vsc_put_be16(cdb + 7, param_len);
	return 10;
}

unsigned int vsc_unmap_param(uint8_t *buf, uint64_t lba, uint32_t blocks)
{
	memset(buf, 0, 24);
	vsc_put_be16(buf, 22);		/* data length after this field */
	vsc_put_be16(buf + 2, 16);	/* block descriptor data length */
	vsc_put_be64(buf + 8, lba);
	vsc_put_be32(buf + 16, blocks);
	return 24;
}

bool vsc_sense_decode(const uint8_t *s, unsigned int len, uint8_t *key, uint8_t *asc,
		      uint8_t *ascq)
{
	uint8_t code;

	*key = *asc = *ascq = 0;
	if (len < 1)
		return false;
	code = s[0] & 0x7f;
	if (code == 0x70 || code == 0x71) {
		if (len > 2)
			*key = s[2] & 0x0f;
		if (len > 12)
			*asc = s[12];
		if (len > 13)
			*ascq = s[13];
		return true;
	}
	if (code == 0x72 || code == 0x73) {
		if (len > 1)
			*key = s[1] & 0x0f;
		if (len > 2)
			*asc = s[2];
		if (len > 3)
			*ascq = s[3];
		return true;
	}
	return false;
}

const char *vsc_tmf_name(uint32_t subtype)
{
	static const char *const names[] = {
		"ABORT_TASK", "ABORT_TASK_SET", "CLEAR_ACA", "CLEAR_TASK_SET",
		"I_T_NEXUS_RESET", "LOGICAL_UNIT_RESET", "QUERY_TASK", "QUERY_TASK_SET",
	};

	return subtype < 8 ? names[subtype] : "TMF?";
}

const char *vsc_response_name(uint8_t r)
{
	static const char *const n[] = {
		"OK", "OVERRUN", "ABORTED", "BAD_TARGET", "RESET", "BUSY",
		"TRANSPORT_FAILURE", "TARGET_FAILURE", "NEXUS_FAILURE", "FAILURE",
		"FUNCTION_SUCCEEDED", "FUNCTION_REJECTED", "INCORRECT_LUN",
	};

	if (r < sizeof(n) / sizeof(n[0]))
		return n[r];
	if (r == 0xcc)
		return "UNWRITTEN(0xcc)";
	return "UNKNOWN";
}

const char *vsc_status_name(uint8_t s)
{
	switch (s) {
	case 0x00: return "GOOD";
	case 0x02: return "CHECK_CONDITION";
	case 0x04: return "CONDITION_MET";
	case 0x08: return "BUSY";
	case 0x18: return "RESERVATION_CONFLICT";
	case 0x28: return "TASK_SET_FULL";
	case 0x30: return "ACA_ACTIVE";
	case 0x40: return "TASK_ABORTED";
	case 0xcc: return "UNWRITTEN(0xcc)";
	}
	return "UNKNOWN";
}

const char *vsc_result_str(const struct vsc_result *r, char *buf, size_t len)
{
	snprintf(buf, len, "resp=%s status=%s(0x%02x) sense_len=%u key=0x%x asc=0x%02x/0x%02x resid=%u",
		 vsc_response_name(r->response), vsc_status_name(r->status), r->status,
		 r->sense_len, r->key, r->asc, r->ascq, r->resid);
	return buf;
}
