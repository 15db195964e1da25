/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The user-visible ABI of /dev/vhost-scsi.
 *
 * tcm_vhost serves exactly the ABI of Linux's vhost_scsi: QEMU, libvirt and
 * kvmtool must not be able to tell the two apart.  The kernel's uapi header
 * <linux/vhost.h> already carries these definitions; this header re-exports
 * them, supplies them for older header sets, and pins every value down at
 * build time so that an accidental change breaks the build, not a guest.
 *
 * It is usable from both the kernel and userspace (the test clients include
 * it as well).
 */
#ifndef _TCM_VHOST_VHOST_SCSI_IOCTL_H
#define _TCM_VHOST_VHOST_SCSI_IOCTL_H

#include <linux/types.h>
#include <linux/ioctl.h>
#include <linux/vhost.h>

#ifndef VHOST_VIRTIO
#define VHOST_VIRTIO 0xAF
#endif

#ifndef VHOST_SCSI_ABI_VERSION
/*
 * ABI version 1: SET_ENDPOINT names a WWPN; every TPG below it is exposed and
 * the virtio-scsi target byte selects the TPG tag.  vhost_tpgt is ignored.
 */
#define VHOST_SCSI_ABI_VERSION 1

struct vhost_scsi_target {
	int abi_version;
	char vhost_wwpn[224];
	unsigned short vhost_tpgt;
	unsigned short reserved;
};
#endif

#ifndef VHOST_SCSI_SET_ENDPOINT
#define VHOST_SCSI_SET_ENDPOINT _IOW(VHOST_VIRTIO, 0x40, struct vhost_scsi_target)
#define VHOST_SCSI_CLEAR_ENDPOINT _IOW(VHOST_VIRTIO, 0x41, struct vhost_scsi_target)
/* Historical quirk: declared _IOW although the kernel writes the int. */
#define VHOST_SCSI_GET_ABI_VERSION _IOW(VHOST_VIRTIO, 0x42, int)
#define VHOST_SCSI_SET_EVENTS_MISSED _IOW(VHOST_VIRTIO, 0x43, __u32)
#define VHOST_SCSI_GET_EVENTS_MISSED _IOW(VHOST_VIRTIO, 0x44, __u32)
#endif

/*
 * The vhost core's worker ioctls (Linux 6.5 on), used by QEMU's
 * worker_per_virtqueue=on.  tcm_vhost answers them -ENOTTY on every kernel
 * (its request queues have threads of their own), which QEMU takes as "one
 * worker": the numbers are defined here for header sets that lack them.
 */
#ifndef VHOST_NEW_WORKER
#define VHOST_NEW_WORKER _IOC(_IOC_READ, VHOST_VIRTIO, 0x8, 4)
#define VHOST_FREE_WORKER _IOC(_IOC_WRITE, VHOST_VIRTIO, 0x9, 4)
#define VHOST_ATTACH_VRING_WORKER _IOC(_IOC_WRITE, VHOST_VIRTIO, 0x15, 8)
#define VHOST_GET_VRING_WORKER _IOC(_IOC_READ | _IOC_WRITE, VHOST_VIRTIO, 0x16, 8)
#endif

/* Length of vhost_wwpn, including the terminating NUL. */
#define VHOST_SCSI_WWPN_LEN 224

/* Number of targets (TPG tags) one endpoint can expose: the target byte. */
#define VHOST_SCSI_MAX_TARGET 256

/* Virtqueue layout: control, event, then the request queues. */
#define VHOST_SCSI_VQ_CTL 0
#define VHOST_SCSI_VQ_EVT 1
#define VHOST_SCSI_VQ_IO 2

#ifdef __KERNEL__
#include <linux/build_bug.h>
#else
#include <assert.h>
#endif
#define VHOST_SCSI_ABI_ASSERT(cond) static_assert(cond, #cond)

VHOST_SCSI_ABI_ASSERT(sizeof(struct vhost_scsi_target) == 232);
VHOST_SCSI_ABI_ASSERT(VHOST_SCSI_SET_ENDPOINT == 0x40E8AF40);
VHOST_SCSI_ABI_ASSERT(VHOST_SCSI_CLEAR_ENDPOINT == 0x40E8AF41);
VHOST_SCSI_ABI_ASSERT(VHOST_SCSI_GET_ABI_VERSION == 0x4004AF42);
VHOST_SCSI_ABI_ASSERT(VHOST_SCSI_SET_EVENTS_MISSED == 0x4004AF43);
VHOST_SCSI_ABI_ASSERT(VHOST_SCSI_GET_EVENTS_MISSED == 0x4004AF44);
VHOST_SCSI_ABI_ASSERT(VHOST_SCSI_ABI_VERSION == 1);
VHOST_SCSI_ABI_ASSERT(VHOST_NEW_WORKER == 0x8004AF08);
VHOST_SCSI_ABI_ASSERT(VHOST_FREE_WORKER == 0x4004AF09);
VHOST_SCSI_ABI_ASSERT(VHOST_ATTACH_VRING_WORKER == 0x4008AF15);
VHOST_SCSI_ABI_ASSERT(VHOST_GET_VRING_WORKER == 0xC008AF16);

#endif /* _TCM_VHOST_VHOST_SCSI_IOCTL_H */
