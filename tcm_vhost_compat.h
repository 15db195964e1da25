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
 * 6.10 on target_submit() follows the backstore's attrib/submit_type,
 * whose default (0) takes the fabric ops' choice (TVH_FABRIC_SUBMIT_OPS),
 * and @direct means nothing.
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

/*
 * Fabric ops that target_core requires up to 6.3 and fills in itself from
 * 6.4 on ("scsi: target: Add default fabric ops callouts"): demo and
 * production mode write protection off, TPG instance index 1, session
 * index 0, no node ACL defaults, command state 0.  No header tells 6.4
 * apart; target_queue_submission() left them in 6.10, so a kernel that
 * still declares it gets these, which on 6.4 to 6.9 equal the core's own.
 * Either way the module reports the same on every kernel.
 */
#ifdef TVH_HAVE_QUEUE_SUBMISSION
static inline int tvh_compat_tpg_no(struct se_portal_group *se_tpg)
{
	return 0;
}

static inline u32 tvh_compat_tpg_inst_index(struct se_portal_group *se_tpg)
{
	return 1;
}

static inline u32 tvh_compat_sess_index(struct se_session *se_sess)
{
	return 0;
}

static inline void tvh_compat_node_attrs(struct se_node_acl *nacl)
{
}

static inline int tvh_compat_cmd_state(struct se_cmd *se_cmd)
{
	return 0;
}

#define TVH_FABRIC_DEFAULT_OPS \
	.tpg_check_demo_mode_write_protect = tvh_compat_tpg_no, \
	.tpg_check_prod_mode_write_protect = tvh_compat_tpg_no, \
	.tpg_get_inst_index = tvh_compat_tpg_inst_index, \
	.sess_get_index = tvh_compat_sess_index, \
	.set_default_node_attributes = tvh_compat_node_attrs, \
	.get_cmd_state = tvh_compat_cmd_state,
#else
#define TVH_FABRIC_DEFAULT_OPS
#endif

#endif /* _TCM_VHOST_COMPAT_H */
