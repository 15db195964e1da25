// SPDX-License-Identifier: GPL-2.0
/*
 * vsc-functional: functional tests of a vhost-scsi fabric module
 * (tcm_vhost or upstream vhost_scsi) through libvsc, run inside L1
 * after the module is loaded.
 *
 *   vsc-functional --module tcm_vhost|vhost_scsi [--filter SUBSTR]... [--list] [-v]
 *
 * One line per test: PASS/FAIL/SKIP/XFAIL: functional/<group>.<name>[: reason]
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ft.h"

bool ft_unsafe;

static const char *const group_order[] = {
	"ioctl", "scsi", "io", "layout", "queue", "ctl", "evt", "fileio", "iblock", "cfg", NULL,
};

/* ------------------------------------------------------------ devices */

struct vsc_dev *ft_open(const struct vsc_opts *o)
{
	struct vsc_dev *d = vsc_open(o);

	if (!d) {
		vt_fail(0, "vsc_open: %s", vt_errstr(-errno));
		return NULL;
	}
	return vt_track(d);
}

struct vsc_dev *ft_open_ep(const struct vsc_opts *o)
{
	struct vsc_dev *d = ft_open(o);
	int r;

	if (!d)
		return NULL;
	r = vsc_set_endpoint(d, WWPN_A);
	if (r) {
		vt_fail(0, "SET_ENDPOINT %s: %s", WWPN_A, vt_errstr(r));
		ft_close(d);
		return NULL;
	}
	return d;
}

void ft_close(struct vsc_dev *d)
{
	vt_untrack(d);
	vsc_close(d);
}

/* ------------------------------------------------------------ fixtures */

void ft_teardown(void)
{
	vsc_tgt_teardown_all(false);
}

bool ft_fixture_rd(void)
{
	int r;

#define STEP(x) do { r = (x); if (r) { vt_fail(__LINE__, "fixture: %s: %s", #x, vt_errstr(r)); return false; } } while (0)
	STEP(vsc_tgt_rd_create(HBA_RD, "rd16", RD16_BYTES));
	STEP(vsc_tgt_rd_create(HBA_RD, "rd8", RD8_BYTES));
	STEP(vsc_tgt_rd_create(HBA_RD, "rd4", RD4_BYTES));
	/* EVPD pages are only reported once a unit serial is set */
	STEP(vsc_cfs_write(VSC_CFS_TARGET "/core/" HBA_RD "/rd16/wwn/vpd_unit_serial", RD16_SERIAL));
	STEP(vsc_tgt_tpg_create(WWPN_A, 1));
	STEP(vsc_tgt_nexus_set(WWPN_A, 1, INIT_1));
	STEP(vsc_tgt_lun_link(WWPN_A, 1, 0, HBA_RD, "rd16"));
	STEP(vsc_tgt_lun_link(WWPN_A, 1, 1, HBA_RD, "rd8"));
	STEP(vsc_tgt_tpg_create(WWPN_A, 2));
	STEP(vsc_tgt_nexus_set(WWPN_A, 2, INIT_2));
	STEP(vsc_tgt_lun_link(WWPN_A, 2, 0, HBA_RD, "rd4"));
	STEP(vsc_tgt_tpg_create(WWPN_B, 1));
	STEP(vsc_tgt_lun_link(WWPN_B, 1, 0, HBA_RD, "rd4"));
#undef STEP
	return true;
}

#define FILEIO_PATH "/tmp/vsc-functional-fileio.img"
static char loopdev[64];

const char *ft_iblock_dev(void)
{
	return loopdev;
}

/* WWPN_A's tpgt_1 with a nexus for INIT_1 and backstore @hba/@name as its LUN 0. */
static int export_lun0(const char *hba, const char *name)
{
	int r = vsc_tgt_tpg_create(WWPN_A, 1);

	if (!r)
		r = vsc_tgt_nexus_set(WWPN_A, 1, INIT_1);
	if (!r)
		r = vsc_tgt_lun_link(WWPN_A, 1, 0, hba, name);
	return r;
}

static bool fixture_fileio(void)
{
	int r = vsc_tgt_fileio_create("fileio_102", "f16", FILEIO_PATH, RD16_BYTES);

	/* allow UNMAP (punches holes); best effort */
	if (!r)
		vsc_cfs_write(VSC_CFS_TARGET "/core/fileio_102/f16/attrib/emulate_tpu", "1");
	if (!r)
		r = export_lun0("fileio_102", "f16");
	if (r)
		vt_fail(__LINE__, "fileio fixture: %s", vt_errstr(r));
	return !r;
}

static bool fixture_iblock(void)
{
	FILE *f = fopen(IBLOCK_PATH, "w");
	int r;

	if (!f || ftruncate(fileno(f), (off_t)RD16_BYTES)) {
		vt_fail(__LINE__, "cannot create %s", IBLOCK_PATH);
		if (f)
			fclose(f);
		return false;
	}
	fclose(f);
	r = vsc_loop_attach(IBLOCK_PATH, loopdev, sizeof(loopdev));
	if (r) {
		vt_skip("losetup failed: %s", vt_errstr(r));
		loopdev[0] = 0;
		return false;
	}
	r = vsc_tgt_iblock_create("iblock_103", "b16", loopdev);
	if (!r)
		r = export_lun0("iblock_103", "b16");
	if (r)
		vt_fail(__LINE__, "iblock fixture on %s: %s", loopdev, vt_errstr(r));
	return !r;
}

/* Consume the UNIT ATTENTIONs that LUN linking queued on the nexus. */
static bool clear_uas(bool rd)
{
	struct vsc_dev *d = ft_open_ep(NULL);
	bool ok;

	if (!d)
		return false;
	ok = vt_clear_ua(d, 1, 0);
	if (ok && rd)
		ok = vt_clear_ua(d, 1, 1) && vt_clear_ua(d, 2, 0);
	ft_close(d);
	return ok;
}

static bool group_setup(const char *g)
{
	ft_teardown();
	if (!strcmp(g, "cfg"))
		return true;
	if (!strcmp(g, "fileio"))
		return fixture_fileio() && clear_uas(false);
	if (!strcmp(g, "iblock"))
		return fixture_iblock() && clear_uas(false);
	return ft_fixture_rd() && clear_uas(true);
}

static void group_teardown(const char *g)
{
	ft_teardown();
	if (!strcmp(g, "fileio"))
		unlink(FILEIO_PATH);
	if (!strcmp(g, "iblock")) {
		if (loopdev[0])
			vsc_loop_detach(loopdev);
		loopdev[0] = 0;
		unlink(IBLOCK_PATH);
	}
}

/* -------------------------------------------------------------- runner */

/* A test of its own seed, whatever ran before it. */
static void before(const struct vt_test *t)
{
	vt_seed(0x9e3779b97f4a7c15ULL ^ (uintptr_t)t->name[0] ^
		((uint64_t)strlen(t->name) << 32));
}

/* The cfg tests build their own configfs trees: none survives its test. */
static void cleanup(const struct vt_test *t)
{
	if (!strcmp(t->group, "cfg"))
		ft_teardown();
}

static bool option(int c, const char *arg)
{
	(void)arg;
	if (c != 'U')
		return false;
	ft_unsafe = true;
	return true;
}

const struct vt_suite vt_suite = {
	.name = "functional",
	.usage = "[--unsafe]",
	.groups = group_order,
	.timeout = 120,
	.flags = VT_S_NEED_DEV | VT_S_LIST_HOW,
	.opts = { NULL, (const struct option[]){
		{ "unsafe", no_argument, NULL, 'U' },
		{ 0 } }, option },
	.group = { group_setup, group_teardown },
	.test = { before, NULL, cleanup },
};
