/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The only place that knows kernel versions.
 *
 * The vhost core and target_core change their in-kernel APIs between
 * releases.  Each difference tcm_vhost cares about is one small wrapper
 * here, so that the rest of the module reads the same on every kernel.
 * Primary target: Debian 12's 6.1; next: Debian's 6.12.
 */
#ifndef _TCM_VHOST_COMPAT_H
#define _TCM_VHOST_COMPAT_H

#include <linux/uio.h>

#include "vhost.h"

#ifndef ITER_DEST
#define ITER_SOURCE WRITE	/* iterator the kernel copies from */
#define ITER_DEST READ		/* iterator the kernel copies into */
#endif

/*
 * Queue work on the worker that serves @vq.  Up to 6.4 a vhost device has a
 * single worker; from 6.5 on each virtqueue can have its own.  Kbuild tells
 * which API vhost.h declares (TVH_HAVE_VQ_WORK_QUEUE).
 */
static inline void tvh_vq_work_queue(struct vhost_virtqueue *vq,
				     struct vhost_work *work)
{
#ifdef TVH_HAVE_VQ_WORK_QUEUE
	vhost_vq_work_queue(vq, work);
#else
	vhost_work_queue(vq->dev, work);
#endif
}

#endif /* _TCM_VHOST_COMPAT_H */
