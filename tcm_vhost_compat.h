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

#include <target/target_core_fabric.h>

#include "vhost.h"

#ifndef ITER_DEST
#define ITER_SOURCE WRITE	/* iterator the kernel copies from */
#define ITER_DEST READ		/* iterator the kernel copies into */
#endif

/*
 * Queue work on the worker that serves @vq.  Up to 6.4 a vhost device has a
 * single worker; from 6.5 on each virtqueue can have its own.  Kbuild tells
 * which API vhost.h declares (TVH_HAVE_VQ_WORK_QUEUE).  False when the work
 * will never run: from 6.10 on the worker is a vhost_task that dies with
 * its owner (kill -9 of QEMU), and queueing on it fails from then on.  An
 * older worker is a kthread that lives until vhost_dev_cleanup().
 */
static inline bool tvh_vq_work_queue(struct vhost_virtqueue *vq,
				     struct vhost_work *work)
{
#if defined(TVH_HAVE_VQ_WORK_QUEUE_BOOL)
	return vhost_vq_work_queue(vq, work);
#elif defined(TVH_HAVE_VQ_WORK_QUEUE)
	vhost_vq_work_queue(vq, work);
	return true;
#else
	vhost_work_queue(vq->dev, work);
	return true;
#endif
}

/*
 * Submit a mapped command.  Up to 6.9 the fabric chooses per command
 * between the caller's context and target_core's submission workqueue; from
 * 6.10 on target_submit() follows the TPG's attrib/submit_type, whose
 * default the fabric ops set (TVH_FABRIC_SUBMIT_OPS).
 */
static inline void tvh_target_submit(struct se_cmd *se_cmd, bool direct)
{
#ifdef TVH_HAVE_QUEUE_SUBMISSION
	if (direct)
		target_submit(se_cmd);
	else
		target_queue_submission(se_cmd);
#else
	target_submit(se_cmd);
#endif
}

/*
 * Have @fn called instead of the vhost core's poll callback when the
 * virtqueue's kick eventfd fires.  Relies on struct vhost_poll's wait entry
 * and mask, the same from 6.1 to 6.12, and on vhost_poll_start() keeping
 * the entry's function (it only adds the entry to the eventfd's queue).
 */
static inline void tvh_vq_poll_set_wakeup(struct vhost_poll *poll,
					  wait_queue_func_t fn)
{
	poll->wait.func = fn;
}

#ifdef TVH_HAVE_QUEUE_SUBMISSION
#define TVH_FABRIC_SUBMIT_OPS
#else
#define TVH_FABRIC_SUBMIT_OPS \
	.direct_submit_supp = 1, \
	.default_submit_type = TARGET_DIRECT_SUBMIT,
#endif

#endif /* _TCM_VHOST_COMPAT_H */
