// SPDX-License-Identifier: GPL-2.0
/* configfs: the vhost fabric's directories and attributes. Each test starts
 * from an empty target tree and is torn down afterwards. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ft.h"

#define VH VSC_CFS_TARGET "/vhost"

static int mkdir_err(const char *p)
{
	return mkdir(p, 0755) ? -errno : 0;
}

/* The fabric directory and WWPN_C under it, with no TPG yet. */
static int mkdir_wwn_c(void)
{
	int r = vsc_cfs_mkdir(VSC_CFS_TARGET);

	if (!r)
		r = vsc_cfs_mkdir(VH);
	if (!r)
		r = vsc_cfs_mkdir(VH "/" WWPN_C);
	return r;
}

static bool base(bool nexus, bool lun)
{
	int r = vsc_tgt_rd_create(HBA_RD, "rd16", RD16_BYTES);

	CHECK(!r, "rd: %s", vt_errstr(r));
	r = vsc_tgt_tpg_create(WWPN_A, 1);
	CHECK(!r, "tpg: %s", vt_errstr(r));
	if (nexus) {
		r = vsc_tgt_nexus_set(WWPN_A, 1, INIT_1);
		CHECK(!r, "nexus: %s", vt_errstr(r));
	}
	if (lun) {
		r = vsc_tgt_lun_link(WWPN_A, 1, 0, HBA_RD, "rd16");
		CHECK(!r, "lun: %s", vt_errstr(r));
	}
	return true;
}

VT_TEST("cfg", tpgt_limits)
{
	int r;

	r = mkdir_wwn_c();
	ASSERT(!r, "wwn: %s", vt_errstr(r));
	r = mkdir_err(VH "/" WWPN_C "/tpgt_256");
	ASSERT(r < 0, "tpgt_256 created (target byte is 8 bits: CVE-2015-4036)");
	r = mkdir_err(VH "/" WWPN_C "/tpgt_65536");
	ASSERT(r < 0, "tpgt_65536 created");
	r = mkdir_err(VH "/" WWPN_C "/tpgt_-1");
	ASSERT(r < 0, "tpgt_-1 created");
	r = mkdir_err(VH "/" WWPN_C "/tpgt_x");
	ASSERT(r < 0, "tpgt_x created");
	r = mkdir_err(VH "/" WWPN_C "/tpgt_255");
	ASSERT(!r, "tpgt_255 refused: %s", vt_errstr(r));
	r = mkdir_err(VH "/" WWPN_C "/tpgt_1");
	ASSERT(!r, "tpgt_1 refused: %s", vt_errstr(r));
}

/*
 * One directory per target byte: kstrtou16() alone reads tpgt_1, tpgt_01
 * and tpgt_+1 as the same tag, and upstream creates all three (a device
 * then attaches two TPGs under one target byte).
 */
VT_TEST_BEYOND("cfg", tpgt_one_spelling,
	       "creates tpgt_01 and tpgt_+1 next to tpgt_1 (the same target byte)")
{
	static const char *const aliases[] = { "tpgt_01", "tpgt_+1", "tpgt_001", "tpgt_ 1" };
	char p[256];
	unsigned int k;
	int r;

	r = mkdir_wwn_c();
	ASSERT(!r, "wwn: %s", vt_errstr(r));
	r = mkdir_err(VH "/" WWPN_C "/tpgt_1");
	ASSERT(!r, "tpgt_1 refused: %s", vt_errstr(r));
	for (k = 0; k < sizeof(aliases) / sizeof(aliases[0]); k++) {
		snprintf(p, sizeof(p), VH "/" WWPN_C "/%s", aliases[k]);
		r = mkdir_err(p);
		ASSERT(r < 0, "%s created next to tpgt_1", aliases[k]);
	}
	r = mkdir_err(VH "/" WWPN_C "/tpgt_0");
	ASSERT(!r, "tpgt_0 refused: %s", vt_errstr(r));
	r = mkdir_err(VH "/" WWPN_C "/tpgt_10");
	ASSERT(!r, "tpgt_10 refused: %s", vt_errstr(r));
}

VT_TEST("cfg", wwn_name_prefixes)
{
	int r;

	vsc_cfs_mkdir(VSC_CFS_TARGET);
	r = vsc_cfs_mkdir(VH);
	ASSERT(!r, "%s", vt_errstr(r));
	r = mkdir_err(VH "/naa.6001405aaaaaaaa1");
	ASSERT(!r, "naa. refused: %s", vt_errstr(r));
	r = mkdir_err(VH "/fc.5001405aaaaaaaa2");
	ASSERT(!r, "fc. refused: %s", vt_errstr(r));
	r = mkdir_err(VH "/iqn.2003-01.org.example:vsc");
	ASSERT(!r, "iqn. refused: %s", vt_errstr(r));
	r = mkdir_err(VH "/bogus.1234");
	ASSERT(r < 0, "WWN without naa./fc./iqn. prefix accepted");
}

VT_TEST("cfg", fabric_version_attribute)
{
	char buf[256];
	int r = vsc_tgt_tpg_create(WWPN_C, 1);

	ASSERT(!r, "%s", vt_errstr(r));
	/* the fabric-wide "version" lives in the fabric directory */
	r = vsc_cfs_read(VH "/version", buf, sizeof(buf));
	ASSERT(!r, "read version: %s", vt_errstr(r));
	vt_note("version: %s", buf);
	ASSERT(strlen(buf) > 3, "version '%s'", buf);
}

/* An fc. WWN goes by what follows "fc.": QEMU's wwpn=, and the nexus' initiator. */
VT_TEST("cfg", fc_wwn_goes_by_its_name_without_prefix)
{
	const char *wwn = "fc.5001405dead00fc", *init = "fc.5001405beef00fc";
	struct vsc_dev *d;
	char buf[256];
	int r;

	if (!base(false, false))
		return;
	r = vsc_tgt_tpg_create(wwn, 1);
	ASSERT(!r, "%s/tpgt_1: %s", wwn, vt_errstr(r));
	r = vsc_tgt_nexus_set(wwn, 1, init);
	ASSERT(!r, "nexus %s: %s", init, vt_errstr(r));
	r = vsc_cfs_read(VH "/fc.5001405dead00fc/tpgt_1/nexus", buf, sizeof(buf));
	ASSERT(!r && !strncmp(buf, init + 3, strlen(init + 3)), "nexus shows '%s' (%s), want %s",
	       buf, vt_errstr(r), init + 3);
	r = vsc_tgt_lun_link(wwn, 1, 0, HBA_RD, "rd16");
	ASSERT(!r, "lun: %s", vt_errstr(r));
	d = ft_open(NULL);
	if (!d)
		return;
	r = vsc_set_endpoint(d, wwn);
	ASSERT(r == -ENODEV, "SET_ENDPOINT %s: %s, want ENODEV", wwn, vt_errstr(r));
	r = vsc_set_endpoint(d, wwn + 3);
	ASSERT(!r, "SET_ENDPOINT %s: %s", wwn + 3, vt_errstr(r));
	r = vsc_clear_endpoint(d, wwn + 3);
	ASSERT(!r, "CLEAR_ENDPOINT %s: %s", wwn + 3, vt_errstr(r));
}

VT_TEST("cfg", nexus_create_show_drop)
{
	char buf[256];
	int r;

	if (!base(false, false))
		return;
	r = vsc_cfs_read(VH "/" WWPN_A "/tpgt_1/nexus", buf, sizeof(buf));
	vt_note("nexus before create: %s '%s'", vt_errstr(r), r ? "" : buf);
	ASSERT(r < 0 || !strstr(buf, "naa."), "nexus shows an initiator before creation: %s", buf);
	r = vsc_tgt_nexus_set(WWPN_A, 1, INIT_1);
	ASSERT(!r, "create nexus: %s", vt_errstr(r));
	r = vsc_cfs_read(VH "/" WWPN_A "/tpgt_1/nexus", buf, sizeof(buf));
	ASSERT(!r && strstr(buf, INIT_1), "nexus shows '%s' (%s), want %s", buf, vt_errstr(r),
	       INIT_1);
	r = vsc_tgt_nexus_set(WWPN_A, 1, INIT_2);
	ASSERT(r < 0, "second nexus on the same TPG accepted");
	r = vsc_tgt_nexus_drop(WWPN_A, 1);
	ASSERT(!r, "drop nexus: %s", vt_errstr(r));
	r = vsc_cfs_read(VH "/" WWPN_A "/tpgt_1/nexus", buf, sizeof(buf));
	ASSERT(r < 0 || !strstr(buf, "naa."), "nexus still shows '%s' after drop", buf);
	r = vsc_tgt_nexus_set(WWPN_A, 1, INIT_2);
	ASSERT(!r, "re-create nexus: %s", vt_errstr(r));
}

VT_TEST("cfg", nexus_initiator_name_checked)
{
	int r;

	if (!base(false, false))
		return;
	/* a naa. target port needs a naa. initiator */
	r = vsc_tgt_nexus_set(WWPN_A, 1, "iqn.2003-01.org.example:init");
	ASSERT(r < 0, "iqn initiator accepted on a naa. WWPN");
	r = vsc_tgt_nexus_set(WWPN_A, 1, "");
	ASSERT(r < 0, "empty initiator accepted");
}

VT_TEST("cfg", nexus_drop_refused_while_luns_linked)
{
	int r;

	if (!base(true, true))
		return;
	r = vsc_tgt_nexus_drop(WWPN_A, 1);
	ASSERT(r == -EBUSY, "nexus drop with a LUN linked: %s, want EBUSY", vt_errstr(r));
}

/* base(true, false), and a device using tpgt_1; NULL (the test failed) if not. */
static struct vsc_dev *base_in_use(void)
{
	return base(true, false) ? ft_open_ep(NULL) : NULL;
}

VT_TEST("cfg", nexus_drop_refused_while_endpoint_set)
{
	struct vsc_dev *d = base_in_use();
	int r;

	if (!d)
		return;
	r = vsc_tgt_nexus_drop(WWPN_A, 1);
	ASSERT(r == -EBUSY, "nexus drop while a device uses the TPG: %s, want EBUSY", vt_errstr(r));
	ft_close(d);
	r = vsc_tgt_nexus_drop(WWPN_A, 1);
	ASSERT(!r, "nexus drop after close: %s", vt_errstr(r));
}

VT_TEST("cfg", tpg_removal_refused_while_endpoint_set)
{
	struct vsc_dev *d = base_in_use();
	int r;

	if (!d)
		return;
	r = vsc_tgt_tpg_remove(WWPN_A, 1);
	ASSERT(r < 0, "tpgt_1 removed while a device uses it");
	vt_note("rmdir tpgt while in use: %s", vt_errstr(r));
	r = vsc_clear_endpoint(d, WWPN_A);
	ASSERT(!r, "CLEAR_ENDPOINT: %s", vt_errstr(r));
	vsc_tgt_nexus_drop(WWPN_A, 1);
	r = vsc_tgt_tpg_remove(WWPN_A, 1);
	ASSERT(!r, "tpgt_1 removal after CLEAR_ENDPOINT: %s", vt_errstr(r));
}

VT_TEST("cfg", lun_link_unlink_while_idle)
{
	struct vsc_dev *d;
	struct vsc_result res;
	uint8_t cdb[12], b[256];
	int r, e;

	if (!base(true, true))
		return;
	r = vsc_tgt_rd_create(HBA_RD, "rd8", RD8_BYTES);
	ASSERT(!r, "rd8: %s", vt_errstr(r));
	d = ft_open_ep(NULL);
	if (!d || !vt_clear_ua(d, 1, 0))
		return;
	r = vsc_tgt_lun_link(WWPN_A, 1, 7, HBA_RD, "rd8");
	ASSERT(!r, "link lun 7: %s", vt_errstr(r));
	if (!vt_clear_ua(d, 1, 7))
		return;
	ft_verify_rw(d, VSC_VQ_REQ(0), 1, 7, 10, 10, 8, NULL, NULL);
	if (vt_failed())
		return;
	/* REPORT LUNS: 0 and 7 */
	if (!vt_cmd_good(d, VSC_VQ_REQ(0), 1, 0, cdb, vsc_cdb_report_luns(cdb, 0, sizeof(b)), NULL,
			 0, b, sizeof(b), NULL))
		return;
	ASSERT(vsc_get_be32(b) == 16, "REPORT LUNS length %u, want 16", vsc_get_be32(b));
	r = vsc_tgt_lun_unlink(WWPN_A, 1, 7);
	ASSERT(!r, "unlink lun 7: %s", vt_errstr(r));
	vt_clear_ua(d, 1, 0);
	if (!vt_cmd_good(d, VSC_VQ_REQ(0), 1, 0, cdb, vsc_cdb_report_luns(cdb, 0, sizeof(b)), NULL,
			 0, b, sizeof(b), NULL))
		return;
	ASSERT(vsc_get_be32(b) == 8, "REPORT LUNS length %u after unlink, want 8",
	       vsc_get_be32(b));
	e = vsc_cmd(d, VSC_VQ_REQ(0), 1, 7, cdb, vsc_cdb_tur(cdb), NULL, 0, NULL, 0, &res, TMO);
	ASSERT(!e && vt_sense_is(&res, ILLEGAL_REQUEST, ASC_LUN_NOT_SUPPORTED),
	       "TUR to unlinked lun 7: %s %s, want 5/0x25", vt_errstr(e), vt_res(&res));
}

VT_TEST("cfg", fabric_prot_type_values)
{
	const char *p = VH "/" WWPN_A "/tpgt_1/attrib/fabric_prot_type";
	char buf[64];
	int r;

	if (!base(false, false))
		return;
	ASSERT(vsc_path_exists(p), "no attrib/fabric_prot_type");
	r = vsc_cfs_write(p, "1");
	ASSERT(!r, "fabric_prot_type=1: %s", vt_errstr(r));
	r = vsc_cfs_read(p, buf, sizeof(buf));
	ASSERT(!r && atoi(buf) == 1, "reads back '%s'", buf);
	r = vsc_cfs_write(p, "3");
	ASSERT(!r, "fabric_prot_type=3: %s", vt_errstr(r));
	r = vsc_cfs_write(p, "2");
	ASSERT(r < 0, "fabric_prot_type=2 accepted");
	r = vsc_cfs_write(p, "0");
	ASSERT(!r, "fabric_prot_type=0: %s", vt_errstr(r));
}

VT_TEST("cfg", teardown_leaves_nothing)
{
	int r;

	if (!base(true, true))
		return;
	r = vsc_tgt_teardown_all(false);
	ASSERT(!r, "teardown: %s", vt_errstr(r));
	ASSERT(!vsc_path_exists(VH "/" WWPN_A), "%s still exists", WWPN_A);
	ASSERT(!vsc_path_exists(VSC_CFS_TARGET "/core/" HBA_RD), "%s still exists", HBA_RD);
}

/* INQUIRY's PROTECT bit as the guest on WWPN_A tpgt_1 LUN 0 sees it; -1 on error. */
static int inquiry_protect(void)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	uint8_t cdb[16], b[96];
	int protect = -1;

	if (!d)
		return -1;
	vt_clear_ua(d, 1, 0);
	if (vt_cmd_good(d, VSC_VQ_REQ(0), 1, 0, cdb, vsc_cdb_inquiry(cdb, false, 0, sizeof(b)),
			NULL, 0, b, sizeof(b), NULL))
		protect = b[5] & 1;
	ft_close(d);
	return protect;
}

/* fabric_prot_type @type, then a nexus and LUN 0: INQUIRY PROTECT, or -1. */
static int protect_with_new_nexus(const char *p, const char *type)
{
	int r = vsc_cfs_write(p, type);

	if (!r)
		r = vsc_tgt_nexus_set(WWPN_A, 1, INIT_1);
	if (!r)
		r = vsc_tgt_lun_link(WWPN_A, 1, 0, HBA_RD, "rd16");
	if (r) {
		vt_fail(__LINE__, "fabric_prot_type=%s, nexus, LUN 0: %s", type, vt_errstr(r));
		return -1;
	}
	return inquiry_protect();
}

/*
 * target_core asks the fabric for its PI type once per initiator and keeps
 * a non-zero answer in the node ACL it caches: fabric_prot_type written
 * between two nexuses of the same initiator must still apply to the second
 * (1, then 0).  Written under a nexus no guest uses, as targetcli does
 * (rtslib makes a nexus with the TPG), it applies to that nexus; while a
 * guest uses the TPG it is refused.
 */
VT_TEST_BEYOND("cfg", fabric_prot_type_new_nexus,
	       "keeps a non-zero PI type of the initiator's first nexus")
{
	const char *p = VH "/" WWPN_A "/tpgt_1/attrib/fabric_prot_type";
	int r, first, second, third;
	struct vsc_dev *d;

	if (!base(false, false))
		return;
	first = protect_with_new_nexus(p, "1");
	ASSERT(first == 1, "INQUIRY PROTECT %d with fabric_prot_type 1", first);
	r = vsc_tgt_lun_unlink(WWPN_A, 1, 0);
	ASSERT(!r, "unlink: %s", vt_errstr(r));
	r = vsc_tgt_nexus_drop(WWPN_A, 1);
	ASSERT(!r, "nexus drop: %s", vt_errstr(r));
	second = protect_with_new_nexus(p, "0");
	ASSERT(second == 0, "INQUIRY PROTECT %d after fabric_prot_type 0 and a new nexus", second);
	r = vsc_cfs_write(p, "1");
	ASSERT(!r, "fabric_prot_type=1 under a nexus no guest uses: %s", vt_errstr(r));
	third = inquiry_protect();
	ASSERT(third == 1, "INQUIRY PROTECT %d after fabric_prot_type 1 under the nexus", third);
	d = ft_open_ep(NULL);
	if (!d)
		return;
	r = vsc_cfs_write(p, "0");
	ASSERT(r == -EBUSY, "fabric_prot_type=0 while a guest uses the TPG: %s, want EBUSY",
	       vt_errstr(r));
}

#define ACL_1		VH "/" WWPN_A "/tpgt_1/acls/" INIT_1
#define ACL_MAPPED	5	/* the guest's LUN number for TPG lun_1 */

#define ACL_2		VH "/" WWPN_A "/tpgt_1/acls/" INIT_2

/* The TPG's LUNs: lun_0 (rd16), and lun_1 (rd8); the nexus first if @nexus. */
static bool acl_tpg_luns(bool nexus)
{
	int r;

	if (!base(nexus, true))
		return false;
	r = vsc_tgt_rd_create(HBA_RD, "rd8", RD8_BYTES);
	CHECK(!r, "rd8: %s", vt_errstr(r));
	r = vsc_tgt_lun_link(WWPN_A, 1, 1, HBA_RD, "rd8");
	CHECK(!r, "lun 1: %s", vt_errstr(r));
	return true;
}

/* The ACL at @acl: its mapped LUN 5 is the TPG's lun_1 (rd8), lun_0 is not mapped. */
static bool acl_make(const char *acl)
{
	char p[512];
	int r;

	r = vsc_cfs_mkdir(acl);
	CHECK(!r, "acl: %s", vt_errstr(r));
	snprintf(p, sizeof(p), "%s/lun_5", acl);
	r = vsc_cfs_mkdir(p);
	CHECK(!r, "mapped lun: %s", vt_errstr(r));
	snprintf(p, sizeof(p), "%s/lun_5/map", acl);
	r = symlink(VH "/" WWPN_A "/tpgt_1/lun/lun_1", p) ? -errno : 0;
	CHECK(!r, "mapped lun link: %s", vt_errstr(r));
	return true;
}

/*
 * An explicit ACL for the nexus initiator, made before the nexus (so the
 * session uses it, not a demo-mode ACL).
 */
static bool acl_base(void)
{
	int r;

	if (!acl_tpg_luns(false) || !acl_make(ACL_1))
		return false;
	r = vsc_tgt_nexus_set(WWPN_A, 1, INIT_1);
	CHECK(!r, "nexus: %s", vt_errstr(r));
	return true;
}

/* REPORT LUNS sent to @lun on @d lists mapped LUN 5 alone. */
static bool acl_reports_lun_5_alone(struct vsc_dev *d, uint16_t lun)
{
	uint8_t cdb[16], b[256];

	if (!vt_cmd_good(d, VSC_VQ_REQ(0), 1, lun, cdb,
			 vsc_cdb_report_luns(cdb, 0, sizeof(b)), NULL, 0, b, sizeof(b), NULL))
		return false;
	CHECK(vsc_get_be32(b) == 8 && (vsc_get_be16(b + 8) & 0x3fff) == ACL_MAPPED,
	      "REPORT LUNS: %u bytes, first LUN %u; want LUN %u alone", vsc_get_be32(b),
	      vsc_get_be16(b + 8) & 0x3fff, ACL_MAPPED);
	return true;
}

/* A new device on the TPG sees mapped LUN 5 alone, and does verified I/O on it. */
static void acl_guest_sees_lun_5(void)
{
	struct vsc_dev *d = ft_open_ep(NULL);

	if (!d || !vt_clear_ua(d, 1, ACL_MAPPED) || !acl_reports_lun_5_alone(d, ACL_MAPPED))
		return;
	ft_verify_rw(d, VSC_VQ_REQ(0), 1, ACL_MAPPED, 10, 10, 8, NULL, NULL);
}

/* acl_base(), then a device on it with the LUN map's UNIT ATTENTION consumed. */
static struct vsc_dev *acl_open(void)
{
	struct vsc_dev *d;

	if (!acl_base())
		return NULL;
	d = ft_open_ep(NULL);
	if (d && !vt_clear_ua(d, 1, ACL_MAPPED))
		return NULL;
	return d;
}

VT_TEST("cfg", acl_maps_and_renumbers_luns)
{
	struct vsc_result res;
	struct vsc_dev *d;
	uint8_t cdb[16];
	uint64_t blocks;
	uint32_t bs;
	int e;

	d = acl_open();
	if (!d || !acl_reports_lun_5_alone(d, 0))
		return;
	if (!ft_capacity(d, 1, ACL_MAPPED, &blocks, &bs))
		return;
	ASSERT(blocks * bs == RD8_BYTES, "mapped LUN %u has %llu bytes, want rd8's %llu",
	       ACL_MAPPED, (unsigned long long)(blocks * bs), RD8_BYTES);
	ft_verify_rw(d, VSC_VQ_REQ(0), 1, ACL_MAPPED, 10, 10, 8, NULL, NULL);
	if (vt_failed())
		return;
	/* the TPG's own LUN numbers mean nothing to this initiator */
	e = vsc_cmd(d, VSC_VQ_REQ(0), 1, 1, cdb, vsc_cdb_tur(cdb), NULL, 0, NULL, 0, &res, TMO);
	ASSERT(!e && vt_sense_is(&res, ILLEGAL_REQUEST, ASC_LUN_NOT_SUPPORTED),
	       "TUR to unmapped lun 1: %s %s, want CHECK CONDITION 5/0x25", vt_errstr(e),
	       vt_res(&res));
}

VT_TEST("cfg", acl_write_protect_refuses_writes)
{
	static uint8_t buf[8 * BS];
	struct vsc_result res;
	struct vsc_dev *d;
	uint8_t cdb[16];
	int e, r;

	d = acl_open();
	if (!d)
		return;
	r = vsc_cfs_write(ACL_1 "/lun_5/write_protect", "1");
	ASSERT(!r, "write_protect: %s", vt_errstr(r));
	memset(buf, 0x5a, sizeof(buf));
	e = vsc_cmd(d, VSC_VQ_REQ(0), 1, ACL_MAPPED, cdb, vsc_cdb_rw(cdb, true, 10, 0, 8), buf,
		    sizeof(buf), NULL, 0, &res, TMO);
	/* DATA PROTECT, WRITE PROTECTED */
	ASSERT(!e && vt_sense_is(&res, DATA_PROTECT, ASC_WRITE_PROTECTED),
	       "WRITE to a write-protected mapped LUN: %s %s, want CHECK CONDITION 7/0x27",
	       vt_errstr(e), vt_res(&res));
	vt_rw(d, VSC_VQ_REQ(0), 1, ACL_MAPPED, false, 10, 0, 8, buf, NULL);
}

VT_TEST_BEYOND("cfg", acl_group_tmf_on_mapped_lun,
	       "upstream answers only LOGICAL_UNIT_RESET; every other TMF is FUNCTION_REJECTED")
{
	struct vsc_dev *d;
	struct vsc_ctl c;
	int e;

	d = acl_open();
	if (!d)
		return;
	vsc_tmf_init(&c, VIRTIO_SCSI_T_TMF_ABORT_TASK_SET, 1, ACL_MAPPED, 0);
	e = vsc_ctl_sync(d, &c, TMO);
	/* FUNCTION COMPLETE is 0 (VIRTIO_SCSI_S_OK) */
	ASSERT(!e && (c.response == VIRTIO_SCSI_S_OK ||
			 c.response == VIRTIO_SCSI_S_FUNCTION_SUCCEEDED),
	       "ABORT_TASK_SET on mapped LUN %u: %s %s, want FUNCTION_COMPLETE", ACL_MAPPED,
	       vt_errstr(e), vsc_response_name(c.response));
	/* LUN 1 is the TPG's number for it, not one this initiator has */
	vsc_tmf_init(&c, VIRTIO_SCSI_T_TMF_ABORT_TASK_SET, 1, 1, 0);
	e = vsc_ctl_sync(d, &c, TMO);
	ASSERT(!e && c.response == VIRTIO_SCSI_S_INCORRECT_LUN,
	       "ABORT_TASK_SET on unmapped LUN 1: %s %s, want INCORRECT_LUN", vt_errstr(e),
	       vsc_response_name(c.response));
}

/*
 * Hotplug events name LUNs by the guest's numbers.  Through the ACL, the
 * guest's LUN 5 is TPG lun_1: linking and unlinking a TPG lun_5 that the
 * ACL does not map must tell the guest nothing (an event for "LUN 5" makes
 * it rescan, or drop, the disk it has there).  Under an explicit ACL a TPG
 * LUN is the guest's only once mapped, and target_core refuses to unlink a
 * mapped one, so the guest never gets a link or unlink event there.
 */
VT_TEST_BEYOND("cfg", acl_hotplug_no_event_for_unmapped_lun,
	       "events carry the TPG's LUN numbers, not the ACL's")
{
	struct vsc_evt ev[4], *x;
	struct vsc_dev *d;
	int r;

	d = acl_open();
	if (!d)
		return;
	ASSERT(vsc_has_feature(d, VIRTIO_SCSI_F_HOTPLUG), "HOTPLUG not negotiated");
	r = vsc_evt_post(d, ev, 4, sizeof(struct virtio_scsi_event));
	ASSERT(!r, "post: %s", vt_errstr(r));
	r = vsc_tgt_lun_link(WWPN_A, 1, ACL_MAPPED, HBA_RD, "rd16");
	if (!r)
		r = vsc_tgt_lun_unlink(WWPN_A, 1, ACL_MAPPED);
	x = r ? NULL : vsc_evt_next(d, ev, 4, 500);
	if (r)
		vt_fail(__LINE__, "link and unlink TPG lun_%u: %s", ACL_MAPPED, vt_errstr(r));
	else if (x)
		vt_fail(__LINE__, "unmapped TPG lun_%u came and went: event %#x reason %u for "
			"lun %u, want none", ACL_MAPPED, x->event, x->reason,
			((x->lun[2] & 0x3f) << 8) | x->lun[3]);
	else
		ft_verify_rw(d, VSC_VQ_REQ(0), 1, ACL_MAPPED, 10, 10, 8, NULL, NULL);
	vsc_evt_release(d, ev, 4);
}

#define UP_ACL_HANG "upstream has no close_session: rmdir of the nexus initiator's ACL waits forever (the test would hang the suite)"

/* Unmap mapped LUN 5 of ACL_1: allowed under a live session. */
static bool acl_unmap(void)
{
	int r = unlink(ACL_1 "/lun_5/map") ? -errno : 0;

	CHECK(!r, "unlink mapped lun: %s", vt_errstr(r));
	r = rmdir(ACL_1 "/lun_5") ? -errno : 0;
	CHECK(!r, "rmdir mapped lun: %s", vt_errstr(r));
	return true;
}

static bool nexus_is(const char *want)
{
	char buf[256] = "";
	int r = vsc_cfs_read(VH "/" WWPN_A "/tpgt_1/nexus", buf, sizeof(buf));

	CHECK(r >= 0 && !strncmp(buf, want, strlen(want)), "nexus reads '%s' (%s), want %s",
	      buf, vt_errstr(r), want);
	return true;
}

/* The TPG's LUNs 0 and 1, as demo mode shows them. */
static bool demo_mode_luns(struct vsc_dev *d)
{
	uint8_t cdb[16], b[256];

	vt_clear_ua(d, 1, 0);
	if (!vt_cmd_good(d, VSC_VQ_REQ(0), 1, 0, cdb, vsc_cdb_report_luns(cdb, 0, sizeof(b)), NULL,
			 0, b, sizeof(b), NULL))
		return false;
	CHECK(vsc_get_be32(b) == 16, "REPORT LUNS: %u bytes, want the TPG's 2 LUNs",
	      vsc_get_be32(b));
	ft_verify_rw(d, VSC_VQ_REQ(0), 1, 1, 10, 20, 8, NULL, NULL);
	return !vt_failed();
}

/* The ACL's rmdir returned @r: it must have worked, and the nexus be back in demo mode. */
static void acl_gone_nexus_stays(int r)
{
	struct vsc_dev *d;

	ASSERT(!r, "rmdir of the nexus initiator's ACL: %s", vt_errstr(r));
	if (!nexus_is(INIT_1))
		return;
	d = ft_open_ep(NULL);
	if (d)
		demo_mode_luns(d);
}

/*
 * targetcli's order, and its restoreconfig's: the nexus first (rtslib
 * writes a random one as it makes the TPG), then the LUNs, then an ACL,
 * which can only name another initiator after a restore.  A vhost TPG has
 * one initiator: the nexus takes the ACL's, and the guest sees the ACL's
 * LUN map, not every LUN of the TPG.
 */
VT_TEST_BEYOND("cfg", acl_made_after_the_nexus_applies_to_it,
	       "an ACL for another initiator than the nexus' is never used: the guest sees every TPG LUN")
{
	if (!acl_tpg_luns(true) || !acl_make(ACL_2))
		return;
	if (!vt_upstream() && !nexus_is(INIT_2))
		return;
	acl_guest_sees_lun_5();
}

VT_TEST_BEYOND("cfg", acl_removed_nexus_stays, UP_ACL_HANG)
{
	if (vt_upstream())
		SKIP("%s", UP_ACL_HANG);
	if (!acl_base() || !acl_unmap())
		return;
	acl_gone_nexus_stays(rmdir(ACL_1) ? -errno : 0);
}

static void *rmdir_acl(void *arg)
{
	__atomic_store_n((int *)arg, rmdir(ACL_1) ? -errno : 0, __ATOMIC_RELEASE);
	return NULL;
}

VT_TEST_BEYOND("cfg", acl_removed_under_a_guest_waits_for_it, UP_ACL_HANG)
{
	struct vsc_dev *d;
	pthread_t th;
	int r = 1, i;

	if (vt_upstream())
		SKIP("%s", UP_ACL_HANG);
	if (!acl_base() || !acl_unmap())
		return;
	d = ft_open_ep(NULL);
	if (!d || !vt_clear_ua(d, 1, 0))
		return;
	ASSERT(!pthread_create(&th, NULL, rmdir_acl, &r), "pthread_create");
	usleep(500 * 1000);
	/* the guest's session stays until it lets go of the TPG */
	ASSERT(__atomic_load_n(&r, __ATOMIC_ACQUIRE) == 1,
	       "rmdir of the ACL returned (%s) while a guest used its session", vt_errstr(r));
	ft_close(d);
	for (i = 0; i < 100 && __atomic_load_n(&r, __ATOMIC_ACQUIRE) == 1; i++)
		usleep(100 * 1000);
	if (__atomic_load_n(&r, __ATOMIC_ACQUIRE) == 1) {
		/* leave the stuck thread; the suite's own watchdog reports it */
		ASSERT(0, "rmdir of the ACL still waiting 10 s after the guest closed");
	}
	pthread_join(th, NULL);
	acl_gone_nexus_stays(r);
}
