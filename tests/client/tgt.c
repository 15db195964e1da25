// SPDX-License-Identifier: GPL-2.0
/* libvsc: LIO configfs setup for the vhost fabric, from C. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libvsc.h"

int vsc_cfs_write(const char *path, const char *val)
{
	size_t len = strlen(val);
	ssize_t n;
	int fd, r = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, val, len);
	if (n < 0)
		r = -errno;
	else if ((size_t)n != len)
		r = -EIO;
	close(fd);
	return r;
}

int vsc_cfs_read(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

long long vsc_tpg_stat(const char *wwpn, unsigned int tpgt, const char *line,
		       const char *key)
{
	char path[256], buf[8192], want[64], *l, *save = NULL, *p;
	size_t n = strlen(line);
	long long v;

	snprintf(path, sizeof(path), VSC_CFS_TARGET "/vhost/%s/tpgt_%u/stats", wwpn, tpgt);
	if (vsc_cfs_read(path, buf, sizeof(buf)))
		return -1;
	snprintf(want, sizeof(want), " %s ", key);
	for (l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (strncmp(l, line, n) || l[n] != ' ')
			continue;
		p = strstr(l + n, want);
		return p && sscanf(p + strlen(want), "%lld", &v) == 1 ? v : -1;
	}
	return -1;
}

int vsc_cfs_mkdir(const char *path)
{
	if (mkdir(path, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

bool vsc_path_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static int pathf(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int pathf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

static int backstore_enable(const char *dir, const char *control)
{
	char p[512];
	int r;

	r = pathf(p, sizeof(p), "%s/control", dir);
	if (!r)
		r = vsc_cfs_write(p, control);
	if (!r)
		r = pathf(p, sizeof(p), "%s/enable", dir);
	if (!r)
		r = vsc_cfs_write(p, "1");
	return r;
}

static int backstore_mk(const char *hba, const char *name, char *dir, size_t len)
{
	char p[512];
	int r;

	r = vsc_cfs_mkdir(VSC_CFS_TARGET);
	if (r)
		return r;
	r = pathf(p, sizeof(p), VSC_CFS_TARGET "/core/%s", hba);
	if (!r)
		r = vsc_cfs_mkdir(p);
	if (!r)
		r = pathf(dir, len, VSC_CFS_TARGET "/core/%s/%s", hba, name);
	if (!r)
		r = vsc_cfs_mkdir(dir);
	return r;
}

int vsc_tgt_rd_create(const char *hba, const char *name, uint64_t bytes)
{
	char dir[512], ctl[64];
	int r = backstore_mk(hba, name, dir, sizeof(dir));

	if (r)
		return r;
	snprintf(ctl, sizeof(ctl), "rd_pages=%llu", (unsigned long long)((bytes + 4095) / 4096));
	return backstore_enable(dir, ctl);
}

int vsc_tgt_fileio_create(const char *hba, const char *name, const char *file, uint64_t bytes)
{
	char dir[512], ctl[600];
	int r, fd;

	fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	r = ftruncate(fd, (off_t)bytes) ? -errno : 0;
	close(fd);
	if (r)
		return r;
	r = backstore_mk(hba, name, dir, sizeof(dir));
	if (r)
		return r;
	snprintf(ctl, sizeof(ctl), "fd_dev_name=%s,fd_dev_size=%llu", file,
		 (unsigned long long)bytes);
	return backstore_enable(dir, ctl);
}

int vsc_tgt_iblock_create(const char *hba, const char *name, const char *blkdev)
{
	char dir[512], ctl[600];
	int r = backstore_mk(hba, name, dir, sizeof(dir));

	if (r)
		return r;
	snprintf(ctl, sizeof(ctl), "udev_path=%s", blkdev);
	return backstore_enable(dir, ctl);
}

int vsc_tgt_backstore_remove(const char *hba, const char *name)
{
	char p[512];

	snprintf(p, sizeof(p), VSC_CFS_TARGET "/core/%s/%s", hba, name);
	if (rmdir(p) && errno != ENOENT)
		return -errno;
	snprintf(p, sizeof(p), VSC_CFS_TARGET "/core/%s", hba);
	if (rmdir(p) && errno != ENOENT && errno != ENOTEMPTY && errno != EBUSY)
		return -errno;
	return 0;
}

int vsc_tgt_tpg_create(const char *wwpn, unsigned int tpgt)
{
	char p[512];
	int r;

	r = vsc_cfs_mkdir(VSC_CFS_TARGET);
	if (!r)
		r = vsc_cfs_mkdir(VSC_CFS_TARGET "/vhost");
	if (r)
		return r;
	snprintf(p, sizeof(p), VSC_CFS_TARGET "/vhost/%s", wwpn);
	r = vsc_cfs_mkdir(p);
	if (r)
		return r;
	snprintf(p, sizeof(p), VSC_CFS_TARGET "/vhost/%s/tpgt_%u", wwpn, tpgt);
	if (mkdir(p, 0755))
		return -errno;
	return 0;
}

int vsc_tgt_nexus_set(const char *wwpn, unsigned int tpgt, const char *initiator)
{
	char p[512];

	snprintf(p, sizeof(p), VSC_CFS_TARGET "/vhost/%s/tpgt_%u/nexus", wwpn, tpgt);
	return vsc_cfs_write(p, initiator);
}

int vsc_tgt_nexus_drop(const char *wwpn, unsigned int tpgt)
{
	return vsc_tgt_nexus_set(wwpn, tpgt, "NULL");
}

int vsc_tgt_lun_link(const char *wwpn, unsigned int tpgt, unsigned int lun,
		     const char *hba, const char *name)
{
	char p[512], t[512];
	int r;

	snprintf(p, sizeof(p), VSC_CFS_TARGET "/vhost/%s/tpgt_%u/lun/lun_%u", wwpn, tpgt, lun);
	r = vsc_cfs_mkdir(p);
	if (r)
		return r;
	snprintf(t, sizeof(t), VSC_CFS_TARGET "/core/%s/%s", hba, name);
	snprintf(p, sizeof(p), VSC_CFS_TARGET "/vhost/%s/tpgt_%u/lun/lun_%u/%s", wwpn, tpgt,
		 lun, name);
	if (symlink(t, p))
		return -errno;
	return 0;
}

/* A LUN directory of any fabric: the links in it (to the backstore), then itself. */
static int rm_lun(const char *lun)
{
	char q[1200];
	struct dirent *de;
	DIR *d = opendir(lun);
	int r = 0;

	if (d) {
		while ((de = readdir(d))) {
			if (de->d_type != DT_LNK)
				continue;
			snprintf(q, sizeof(q), "%s/%s", lun, de->d_name);
			if (unlink(q))
				r = -errno;
		}
		closedir(d);
	}
	if (rmdir(lun) && !r)
		r = -errno;
	return r;
}

int vsc_tgt_lun_unlink(const char *wwpn, unsigned int tpgt, unsigned int lun)
{
	char p[512];

	snprintf(p, sizeof(p), VSC_CFS_TARGET "/vhost/%s/tpgt_%u/lun/lun_%u", wwpn, tpgt, lun);
	return rm_lun(p);
}

int vsc_tgt_tpg_remove(const char *wwpn, unsigned int tpgt)
{
	char p[512];

	snprintf(p, sizeof(p), VSC_CFS_TARGET "/vhost/%s/tpgt_%u", wwpn, tpgt);
	if (rmdir(p))
		return -errno;
	return 0;
}

/* rmdir every subdirectory of @dir whose name starts with @prefix, via @fn. */
static int for_each_dir(const char *dir, const char *prefix, int (*fn)(const char *path))
{
	char p[1024];
	struct dirent *de;
	DIR *d;
	int r = 0, e;

	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || de->d_type != DT_DIR)
			continue;
		if (prefix && strncmp(de->d_name, prefix, strlen(prefix)))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		e = fn(p);
		if (e && !r)
			r = e;
	}
	closedir(d);
	return r;
}

/* WWN directories only (naa./fc./iqn.): the fabric dir has default groups too */
static int rm_wwn(const char *wwn);
static int rm_wwn_only(const char *p)
{
	const char *b = strrchr(p, '/');

	b = b ? b + 1 : p;
	if (!strchr(b, '.'))
		return 0;
	return rm_wwn(p);
}

static int rm_plain(const char *p)
{
	return rmdir(p) ? -errno : 0;
}

/* An ACL's mapped LUNs: a directory each, holding the link to the TPG's LUN. */
static int rm_acl_luns(const char *acl)
{
	return for_each_dir(acl, "lun_", rm_lun);
}

/*
 * In this order: mapped LUNs (removable under a live session), the TPG's
 * LUNs (the nexus cannot go while they are linked), the nexus, and only then
 * the ACLs: target_core waits, forever, for every session of an ACL being
 * removed, and neither vhost fabric closes its nexus for it.
 */
static int rm_tpg(const char *tpg)
{
	char p[1200], acls[1200];
	int r;

	snprintf(acls, sizeof(acls), "%s/acls", tpg);
	for_each_dir(acls, NULL, rm_acl_luns);
	snprintf(p, sizeof(p), "%s/lun", tpg);
	r = for_each_dir(p, "lun_", rm_lun);
	snprintf(p, sizeof(p), "%s/nexus", tpg);
	if (vsc_path_exists(p)) {
		char buf[256] = "";

		vsc_cfs_read(p, buf, sizeof(buf));
		if (buf[0] && strncmp(buf, "NULL", 4) && buf[0] != '\n')
			vsc_cfs_write(p, "NULL");
	}
	for_each_dir(acls, NULL, rm_plain);
	if (rmdir(tpg) && !r)
		r = -errno;
	return r;
}

static int rm_wwn(const char *wwn)
{
	int r = for_each_dir(wwn, "tpgt_", rm_tpg);

	if (rmdir(wwn) && !r)
		r = -errno;
	return r;
}

static int rm_hba(const char *hba)
{
	int r = for_each_dir(hba, NULL, rm_plain);

	if (rmdir(hba) && !r)
		r = -errno;
	return r;
}

int vsc_tgt_fabric_teardown(const char *fabric, bool remove_fabric_dir)
{
	char p[512];
	int r;

	snprintf(p, sizeof(p), VSC_CFS_TARGET "/%s", fabric);
	r = for_each_dir(p, NULL, rm_wwn_only);
	if (remove_fabric_dir && vsc_path_exists(p) && rmdir(p) && !r)
		r = -errno;
	return r;
}

int vsc_tgt_teardown_all(bool remove_fabric_dir)
{
	int r = vsc_tgt_fabric_teardown("vhost", remove_fabric_dir);

	/* alua/ and other core entries are not removable: ignore their errors */
	(void)for_each_dir(VSC_CFS_TARGET "/core", NULL, rm_hba);
	return r;
}

static int run_capture(char *const argv[], char *out, size_t outlen)
{
	int pfd[2], st;
	pid_t pid;
	ssize_t n;
	size_t got = 0;

	if (pipe(pfd))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	while (out && got + 1 < outlen && (n = read(pfd[0], out + got, outlen - 1 - got)) > 0)
		got += (size_t)n;
	if (out)
		out[got] = 0;
	close(pfd[0]);
	if (waitpid(pid, &st, 0) < 0)
		return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

int vsc_loop_attach(const char *file, char *dev, size_t devlen)
{
	char *argv[] = { "losetup", "--find", "--show", (char *)file, NULL };
	char *modprobe[] = { "modprobe", "loop", NULL };
	char *nl;
	int r;

	run_capture(modprobe, NULL, 0);	/* best effort: loop may be built in */
	r = run_capture(argv, dev, devlen);
	if (r)
		return r;
	nl = strchr(dev, '\n');
	if (nl)
		*nl = 0;
	return dev[0] ? 0 : -EIO;
}

int vsc_loop_detach(const char *dev)
{
	char *argv[] = { "losetup", "-d", (char *)dev, NULL };

	return run_capture(argv, NULL, 0);
}
