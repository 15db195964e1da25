// SPDX-License-Identifier: GPL-2.0
/*
 * The control queue (task management, asynchronous
 * notification) and the event queue (hotplug).
 *
 * Task management functions go to target_core, which aborts or resets and
 * calls queue_tm_rsp once every command affected has been dealt with; the
 * aborted commands themselves are answered ABORTED by the request path
 * before the TMF's answer is written (both go through the same worker, in
 * the order target_core finishes them).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/slab.h>
#include <target/target_core_base.h>
#include <target/target_core_fabric.h>

#include "tcm_vhost.h"

/* virtio-scsi calls this FUNCTION_COMPLETE; it shares S_OK's value. */
#define TVH_S_FUNCTION_COMPLETE VIRTIO_SCSI_S_OK

/*
 * A task management request in flight.  Most are one target_core TMR.  The
 * TMFs LIO has no TMR for (abort/clear task set, I_T nexus reset, query
 * task/task set) are a "group": a parent answered to the guest once every
 * child ABORT_TASK it started for the matching commands has finished.
 */
struct tvh_tmf {
	struct se_cmd se_cmd;		/* unused by group parents */
	struct tvh_dev *vdev;
	struct tvh_tmf *parent;		/* a group's ABORT_TASK: its parent */
	bool group;			/* a group parent */
	/*
	 * target_core answered it (queue_tm_rsp).  One it aborts instead
	 * (a concurrent LUN or I_T nexus reset) only gets release_cmd,
	 * which then queues it for its answer, never answered by the core.
	 */
	bool answered;
	bool unlogged;			/* counted in vdev->tmf_unlogged */
	s8 epoch;			/* counted in vdev->tmf_taken[epoch], or -1 */
	atomic_t pending;		/* group parent: children + 1 */
	unsigned int head;		/* descriptor head to return */
	struct iovec resp_iov;		/* the one response byte */
	struct vhost_log log;		/* its descriptor, when dirty logging */
	unsigned int log_num;
	u8 response;			/* VIRTIO_SCSI_S_* */
	struct llist_node node;		/* on vdev->tmf_done */
};

static u8 tvh_tmr_to_virtio(u8 tmr_response)
{
	switch (tmr_response) {
	case TMR_FUNCTION_COMPLETE:
	case TMR_TASK_DOES_NOT_EXIST:	/* nothing left to abort */
		return TVH_S_FUNCTION_COMPLETE;
	case TMR_LUN_DOES_NOT_EXIST:
		return VIRTIO_SCSI_S_INCORRECT_LUN;
	case TMR_TASK_MGMT_FUNCTION_NOT_SUPPORTED:
	case TMR_FUNCTION_REJECTED:
		return VIRTIO_SCSI_S_FUNCTION_REJECTED;
	default:
		return VIRTIO_SCSI_S_FAILURE;
	}
}

static void tvh_tmf_put_inflight(struct tvh_dev *vdev)
{
	/* As in tvh_io_recycle(): release frees vdev after an RCU grace. */
	rcu_read_lock();
	if (atomic_dec_and_test(&vdev->tmf_inflight))
		wake_up(&vdev->idle_wq);
	rcu_read_unlock();
}

/* The end of every TMF, whichever way it went. */
static void tvh_tmf_free(struct tvh_tmf *tmf)
{
	struct tvh_dev *vdev = tmf->vdev;

	if (tmf->unlogged)
		atomic_dec(&vdev->tmf_unlogged);
	if (tmf->epoch >= 0)
		atomic_dec(&vdev->tmf_taken[tmf->epoch]);
	kfree(tmf);
	tvh_tmf_put_inflight(vdev);
}

/*
 * Queue @tmf for tvh_tmf_done_work(): any context.  Once on the list, @tmf
 * may be answered and freed at once, and with it the device's last TMF in
 * flight; the count taken here keeps teardown (which waits for none in
 * flight) from freeing the device, or vhost its worker, until the work is
 * queued.  @tmf still counts, so the device is alive to take it.
 */
static void tvh_tmf_push(struct tvh_tmf *tmf)
{
	struct tvh_dev *vdev = tmf->vdev;

	atomic_inc(&vdev->tmf_inflight);
	if (llist_add(&tmf->node, &vdev->tmf_done))
		tvh_dev_queue_work(vdev, &vdev->vqs[VHOST_SCSI_VQ_CTL].vq,
				   &vdev->tmf_work);
	tvh_tmf_put_inflight(vdev);
}

/* target_core's queue_tm_rsp: any context. */
void tvh_tmf_queue_rsp(struct se_cmd *se_cmd)
{
	struct tvh_tmf *tmf = container_of(se_cmd, struct tvh_tmf, se_cmd);

	tmf->response = tvh_tmr_to_virtio(se_cmd->se_tmr_req->response);
	tmf->answered = true;
	tvh_tmf_push(tmf);
}

/* target_core's release_cmd for TMFs. */
void tvh_tmf_release(struct se_cmd *se_cmd)
{
	struct tvh_tmf *tmf = container_of(se_cmd, struct tvh_tmf, se_cmd);

	if (!tmf->answered) {
		/*
		 * Aborted by a reset that took its task set along: whatever
		 * it was to abort is gone, so its function is complete.
		 */
		tmf->response = TVH_S_FUNCTION_COMPLETE;
		tvh_tmf_push(tmf);
		return;
	}
	tvh_tmf_free(tmf);
}

/* A group lost a reference: answer it once the last child is done. */
static void tvh_tmf_group_put(struct tvh_tmf *parent)
{
	if (atomic_dec_and_test(&parent->pending))
		tvh_tmf_push(parent);
}

/* Free answered (or dropped) TMFs; a group's last part queues the group. */
static void tvh_tmf_finish_list(struct tvh_dev *vdev, struct llist_node *list)
{
	struct tvh_tmf *tmf, *next;

	llist_for_each_entry_safe(tmf, next, list, node) {
		struct tvh_tmf *parent = tmf->parent;

		if (parent && tmf->response == VIRTIO_SCSI_S_FAILURE)
			parent->response = VIRTIO_SCSI_S_FAILURE;
		/* a group parent, or one target_core already let go of */
		if (tmf->group || !tmf->answered)
			tvh_tmf_free(tmf);
		else
			transport_generic_free_cmd(&tmf->se_cmd, 0);
		if (parent)
			tvh_tmf_group_put(parent);
	}
}

/* A command a TMF waited for has its answer queued (any context). */
void tvh_tmf_owed_put(struct tvh_dev *vdev)
{
	/*
	 * Nothing is parked without a TMF in flight; the caller holds the
	 * RCU read side, which tvh_release() waits for before it frees vdev.
	 */
	if (atomic_dec_and_test(&vdev->tmf_owed) &&
	    atomic_read(&vdev->tmf_inflight))
		tvh_dev_queue_work(vdev, &vdev->vqs[VHOST_SCSI_VQ_CTL].vq,
				   &vdev->tmf_work);
}

/*
 * The finished TMFs that may be answered now, oldest first: none while a
 * command that was in flight with one of them has no answer queued yet
 * (target_core finishes a reset without waiting for the commands it found
 * complete, whose answers are then still on their way to us).
 */
static struct llist_node *tvh_tmf_take_ready(struct tvh_dev *vdev)
{
	struct llist_node *first = llist_del_all(&vdev->tmf_done), *last;

	if (first) {
		for (last = first; last->next; last = last->next)
			;
		llist_add_batch(first, last, &vdev->tmf_parked);
	}
	smp_mb();	/* pairs with atomic_dec_and_test() in tvh_tmf_owed_put() */
	if (atomic_read(&vdev->tmf_owed) > 0)
		return NULL;
	return llist_reverse_order(llist_del_all(&vdev->tmf_parked));
}

/**
 * tvh_tmf_done_work - answer finished TMFs
 * @work: vdev->tmf_work, on the control queue's worker
 *
 * Answers of the commands that were in flight when a TMF came are queued
 * before it is answered; they are put on their used rings first.
 */
void tvh_tmf_done_work(struct vhost_work *work)
{
	struct tvh_dev *vdev = container_of(work, struct tvh_dev, tmf_work);
	struct vhost_virtqueue *vq = &vdev->vqs[VHOST_SCSI_VQ_CTL].vq;
	struct tvh_tmf *tmf;
	struct llist_node *list;
	struct iov_iter iter;
	int i;

	list = tvh_tmf_take_ready(vdev);
	if (!list)
		return;

	for (i = VHOST_SCSI_VQ_IO; i < vdev->nvqs; i++) {
		tvh_io_wait_pushes(&vdev->vqs[i]);
		tvh_io_flush_answers(&vdev->vqs[i], false);
	}

	mutex_lock(&vq->mutex);
	llist_for_each_entry(tmf, list, node) {
		if (tmf->parent)
			continue;	/* a group's part: the group answers */
		trace_tvh_tmf_done(tmf->head, tmf->response);
		iov_iter_init(&iter, ITER_DEST, &tmf->resp_iov, 1, 1);
		tvh_vq_put_resp(vq, &iter, tmf->head, &tmf->response, 1);
		tvh_vq_log_write(vq, &tmf->log, tmf->log_num, 1);
		vhost_add_used(vq, tmf->head, 1);
	}
	tvh_vq_signal(vq);
	mutex_unlock(&vq->mutex);

	tvh_tmf_finish_list(vdev, list);
}

/* As tvh_io_drop_answers(), for TMFs: nobody will read their answers. */
void tvh_tmf_drop_answers(struct tvh_dev *vdev)
{
	tvh_tmf_finish_list(vdev, llist_del_all(&vdev->tmf_parked));
	tvh_tmf_finish_list(vdev, llist_del_all(&vdev->tmf_done));
}

/*
 * A TMF for the chain @head whose first writable iovec is @resp_iov (NULL
 * for a group's parts, which the guest never sees), taken from @vq.
 */
static struct tvh_tmf *tvh_tmf_alloc(struct tvh_dev *vdev,
				     struct vhost_virtqueue *vq,
				     unsigned int head,
				     const struct iovec *resp_iov)
{
	struct tvh_tmf *tmf = kzalloc(sizeof(*tmf), GFP_KERNEL_ACCOUNT);

	if (!tmf)
		return NULL;
	tmf->vdev = vdev;
	tmf->head = head;
	tmf->epoch = -1;
	/* The response is one byte: the first writable byte of the chain. */
	if (resp_iov) {
		lockdep_assert_held(&vq->mutex);
		tmf->epoch = vdev->tmf_epoch & 1;
		atomic_inc(&vdev->tmf_taken[tmf->epoch]);
		tmf->resp_iov.iov_base = resp_iov->iov_base;
		tmf->resp_iov.iov_len = 1;
		if (to_tvh_vq(vq)->log_num) {
			tmf->log = to_tvh_vq(vq)->log[0];
			tmf->log_num = 1;
		} else {
			/* Switching logging on waits for its answer. */
			tmf->unlogged = true;
			atomic_inc(&vdev->tmf_unlogged);
		}
	}
	atomic_inc(&vdev->tmf_inflight);
	return tmf;
}

/* Hand one TMR to target_core; false if it refused it (@tmf is freed). */
static bool tvh_tmf_submit(struct tvh_tmf *tmf, struct se_session *sess,
			   u64 lun, int tmr, u64 tag)
{
	if (target_submit_tmr(&tmf->se_cmd, sess, NULL, lun, tmf, tmr,
			      GFP_KERNEL, tag, TARGET_SCF_ACK_KREF) < 0) {
		tvh_tmf_free(tmf);
		return false;
	}
	return true;
}

/* What a group TMF looks for among the commands in flight. */
struct tvh_tmf_scan {
	struct tvh_dev *vdev;
	struct tvh_tmf *parent;
	struct se_session *sess;
	struct tvh_cmd *cmds;
	u8 target;
	bool all_luns;			/* I_T nexus reset */
	u64 lun;
	bool one_task;			/* QUERY_TASK: only @id */
	u64 id;
	bool abort;			/* abort each match */
	bool owed;			/* the TMF's answer follows the matches' */
	bool reset;			/* mark matches as cancelled by a reset */
	bool found;
};

/*
 * Mark @cmd owed an answer before the TMF's (and cancelled by a reset if
 * @reset), if it is still the command @seen was of and its own answer is
 * not on its way yet.
 */
static void tvh_tmf_mark(struct tvh_dev *vdev, struct tvh_cmd *cmd,
			 unsigned long seen, bool reset)
{
	unsigned long old = READ_ONCE(cmd->flags);
	unsigned long set = BIT(TVH_CMD_TMF_OWED);

	if (reset)
		set |= BIT(TVH_CMD_RESET);
	/* Counted first: the count never runs below the marks. */
	atomic_inc(&vdev->tmf_owed);
	do {
		if (((old ^ seen) & ~TVH_CMD_BITS) ||
		    (old & BIT(TVH_CMD_PUSHED))) {
			tvh_tmf_owed_put(vdev);
			return;
		}
	} while (!try_cmpxchg(&cmd->flags, &old, old | set));
	if (old & BIT(TVH_CMD_TMF_OWED))
		tvh_tmf_owed_put(vdev);		/* another TMF counted it */
}

static bool tvh_tmf_scan_cmd(struct sbitmap *sb, unsigned int bitnr,
			     void *data)
{
	struct tvh_tmf_scan *scan = data;
	struct tvh_cmd *cmd = &scan->cmds[bitnr];
	unsigned long seen = READ_ONCE(cmd->flags);
	struct tvh_tmf *child;
	u64 lun, id;
	u8 target;

	/* A tag taken for a command not filled in yet: not in flight. */
	if (!(seen & BIT(TVH_CMD_LIVE)))
		return true;
	smp_rmb();	/* pairs with smp_mb__before_atomic() in tvh_io_start() */
	target = READ_ONCE(cmd->target);
	lun = READ_ONCE(cmd->lun);
	id = READ_ONCE(cmd->id);
	smp_rmb();	/* pairs with smp_wmb() in tvh_io_get_cmd() */
	/* Recycled and taken again meanwhile: those were the next command's. */
	if ((READ_ONCE(cmd->flags) ^ seen) & ~TVH_CMD_BITS)
		return true;
	if (target != scan->target || (!scan->all_luns && lun != scan->lun) ||
	    (scan->one_task && id != scan->id))
		return true;
	if (scan->owed)
		tvh_tmf_mark(scan->vdev, cmd, seen, scan->reset);
	if (!scan->abort) {
		/*
		 * A command whose answer is on its way (or aborted, its
		 * answer pending) is no task in the task set for a query.
		 */
		if (!test_bit(TVH_CMD_ANSWER_QUEUED, &cmd->flags))
			scan->found = true;
		return true;
	}
	scan->found = true;

	child = tvh_tmf_alloc(scan->parent->vdev, NULL, 0, NULL);
	if (!child) {
		scan->parent->response = VIRTIO_SCSI_S_FAILURE;
		return true;
	}
	child->parent = scan->parent;
	atomic_inc(&scan->parent->pending);
	if (!tvh_tmf_submit(child, scan->sess, lun, TMR_ABORT_TASK, id)) {
		scan->parent->response = VIRTIO_SCSI_S_FAILURE;
		tvh_tmf_group_put(scan->parent);
	}
	return true;
}

/* Run @scan over every command this device has in flight. */
static void tvh_tmf_scan_all(struct tvh_dev *vdev, struct tvh_tmf_scan *scan)
{
	int i;

	for (i = VHOST_SCSI_VQ_IO; i < vdev->nvqs; i++) {
		struct tvh_vq *tvq = &vdev->vqs[i];

		/* Pairs with smp_store_release() in tvh_io_pool_create(). */
		scan->cmds = smp_load_acquire(&tvq->cmds);
		if (scan->cmds)
			sbitmap_for_each_set(&tvq->tags, tvh_tmf_scan_cmd,
					     scan);
	}
}

/*
 * Serve a TMF that target_core has no TMR for, from the commands this
 * device has in flight: queries look, the others abort each match.
 */
static void tvh_tmf_group(struct tvh_tmf *parent, struct se_session *sess,
			  u32 subtype, u8 target, u64 lun, u64 id)
{
	struct tvh_tmf_scan scan = {
		.vdev = parent->vdev,
		.parent = parent,
		.sess = sess,
		.target = target,
		.lun = lun,
		.id = id,
		.all_luns = subtype == VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET,
		.one_task = subtype == VIRTIO_SCSI_T_TMF_QUERY_TASK,
		.abort = subtype != VIRTIO_SCSI_T_TMF_QUERY_TASK &&
			 subtype != VIRTIO_SCSI_T_TMF_QUERY_TASK_SET,
		.reset = subtype == VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET,
	};

	scan.owed = scan.abort;
	parent->group = true;
	parent->response = TVH_S_FUNCTION_COMPLETE;
	atomic_set(&parent->pending, 1);
	tvh_tmf_scan_all(parent->vdev, &scan);
	if (!scan.abort && scan.found)
		parent->response = VIRTIO_SCSI_S_FUNCTION_SUCCEEDED;
	tvh_tmf_group_put(parent);
}

/*
 * An ABORT TASK that found no command in flight to abort: answered as
 * target_core would (TASK DOES NOT EXIST is FUNCTION COMPLETE), after the
 * answers it marked on their way, without target_core, which logs a line
 * per such request unlimited (a guest could flood the host's log).
 */
static void tvh_tmf_answer_no_task(struct tvh_tmf *tmf)
{
	tmf->group = true;	/* a group of no parts: ours to answer */
	tmf->response = TVH_S_FUNCTION_COMPLETE;
	atomic_set(&tmf->pending, 1);
	tvh_tmf_group_put(tmf);
}

/* virtio TMF subtype -> target_core TMR; -1: a group TMF; -2: none. */
static int tvh_tmf_to_tmr(u32 subtype)
{
	switch (subtype) {
	case VIRTIO_SCSI_T_TMF_ABORT_TASK:
		return TMR_ABORT_TASK;
	case VIRTIO_SCSI_T_TMF_CLEAR_ACA:
		return TMR_CLEAR_ACA;	/* LIO rejects it: no NACA */
	case VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET:
		return TMR_LUN_RESET;
	case VIRTIO_SCSI_T_TMF_ABORT_TASK_SET:
	case VIRTIO_SCSI_T_TMF_CLEAR_TASK_SET:
	case VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET:
	case VIRTIO_SCSI_T_TMF_QUERY_TASK:
	case VIRTIO_SCSI_T_TMF_QUERY_TASK_SET:
		return -1;
	default:
		return -2;
	}
}

/*
 * The answer a TMF for @target/@lun gets at once (bad target, function
 * not supported, no such LUN), or VIRTIO_SCSI_S_OK if it can go on.
 */
static u8 tvh_tmf_refusal(struct tvh_tpg **targets, bool lun_ok, u8 target,
			  u64 lun, u32 subtype, int tmr)
{
	if (!lun_ok || !targets[target] || !READ_ONCE(targets[target]->sess))
		return VIRTIO_SCSI_S_BAD_TARGET;
	if (tmr == -2)
		return VIRTIO_SCSI_S_FUNCTION_REJECTED;
	/*
	 * target_core checks the LUN of the TMRs it gets; the groups are
	 * ours, and so is an ABORT TASK that finds nothing to abort.
	 */
	if (((tmr == -1 && subtype != VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET) ||
	     tmr == TMR_ABORT_TASK) &&
	    !tvh_nexus_lun(targets[target], lun, true, NULL))
		return VIRTIO_SCSI_S_INCORRECT_LUN;
	return VIRTIO_SCSI_S_OK;
}

/*
 * Start a TMF.  Returns TVH_SUBMITTED when it will be answered later,
 * otherwise answers it here.
 */
static int tvh_tmf_start(struct vhost_virtqueue *vq, struct tvh_tpg **targets,
			 unsigned int head, struct iov_iter *in,
			 const struct iovec *resp_iov,
			 const struct virtio_scsi_ctrl_tmf_req *req)
{
	struct tvh_dev *vdev = tvh_vq_dev(vq);
	struct virtio_scsi_ctrl_tmf_resp resp = {
		.response = VIRTIO_SCSI_S_FUNCTION_REJECTED,
	};
	u32 subtype = vhost32_to_cpu(vq, req->subtype);
	u64 id = vhost64_to_cpu(vq, req->tag);
	struct se_session *sess;
	struct tvh_tmf *tmf;
	bool lun_ok;
	int tmr;
	u64 lun = 0;
	u8 target = 0;

	lun_ok = tvh_decode_lun(req->lun, &target, &lun);
	trace_tvh_tmf_start(head, subtype, target, lun, id);
	tmr = tvh_tmf_to_tmr(subtype);
	resp.response = tvh_tmf_refusal(targets, lun_ok, target, lun, subtype,
					tmr);
	if (resp.response != VIRTIO_SCSI_S_OK)
		goto answer;
	sess = READ_ONCE(targets[target]->sess);
	/*
	 * The vhost core lets a guest publish a head again before it is
	 * answered: TMFs held back behind commands could pile up without
	 * bound.  No guest has more in flight than its ring has entries.
	 */
	if (atomic_read(&vdev->tmf_taken[0]) + atomic_read(&vdev->tmf_taken[1]) >=
	    vq->num) {
		tvh_guest_err(vq, "TMF %u: %u TMFs in flight already, as many as the ring has entries\n",
			      head, vq->num);
		resp.response = VIRTIO_SCSI_S_FUNCTION_REJECTED;
		goto answer;
	}
	tmf = tvh_tmf_alloc(vdev, vq, head, resp_iov);
	if (!tmf) {
		resp.response = VIRTIO_SCSI_S_FAILURE;
		goto answer;
	}
	if (tmr == -1) {
		tvh_tmf_group(tmf, sess, subtype, target, lun, id);
		return TVH_SUBMITTED;
	}
	if (tmr == TMR_LUN_RESET || tmr == TMR_ABORT_TASK) {
		/*
		 * Answered after what it may cancel; what a reset cancels is
		 * answered RESET, not ABORTED.
		 */
		struct tvh_tmf_scan scan = {
			.vdev = vdev,
			.target = target,
			.lun = lun,
			.one_task = tmr == TMR_ABORT_TASK,
			.id = id,
			.owed = true,
			.reset = tmr == TMR_LUN_RESET,
		};

		tvh_tmf_scan_all(vdev, &scan);
		if (tmr == TMR_ABORT_TASK && !scan.found) {
			tvh_tmf_answer_no_task(tmf);
			return TVH_SUBMITTED;
		}
	}
	if (!tvh_tmf_submit(tmf, sess, lun, tmr, id)) {
		resp.response = VIRTIO_SCSI_S_FAILURE;
		goto answer;
	}
	return TVH_SUBMITTED;

answer:
	trace_tvh_tmf_done(head, resp.response);
	tvh_vq_answer(vq, in, head, &resp, sizeof(resp));
	return TVH_ANSWERED;
}

/* The request and response sizes of control request @type; false if unknown. */
static bool tvh_ctl_sizes(u32 type, size_t *req_len, size_t *resp_len)
{
	switch (type) {
	case VIRTIO_SCSI_T_TMF:
		*req_len = sizeof(struct virtio_scsi_ctrl_tmf_req);
		*resp_len = sizeof(struct virtio_scsi_ctrl_tmf_resp);
		return true;
	case VIRTIO_SCSI_T_AN_QUERY:
	case VIRTIO_SCSI_T_AN_SUBSCRIBE:
		*req_len = sizeof(struct virtio_scsi_ctrl_an_req);
		*resp_len = sizeof(struct virtio_scsi_ctrl_an_resp);
		return true;
	}
	return false;
}

/* Answer an asynchronous-notification query or subscription: none offered. */
static void tvh_an_answer(struct vhost_virtqueue *vq, struct tvh_tpg **targets,
			  unsigned int head, struct iov_iter *in,
			  const struct virtio_scsi_ctrl_an_req *req)
{
	struct virtio_scsi_ctrl_an_resp resp = {
		.event_actual = 0,
		.response = VIRTIO_SCSI_S_OK,
	};
	u64 lun;
	u8 target;

	if (!tvh_decode_lun(req->lun, &target, &lun) || !targets[target])
		resp.response = VIRTIO_SCSI_S_BAD_TARGET;
	tvh_vq_answer(vq, in, head, &resp, sizeof(resp));
}

static int tvh_ctl_handle_one(struct vhost_virtqueue *vq,
			      struct tvh_tpg **targets)
{
	union {
		struct virtio_scsi_ctrl_tmf_req tmf;
		struct virtio_scsi_ctrl_an_req an;
	} req;
	struct iov_iter out, in, probe;
	unsigned int out_num, in_num;
	__virtio32 type_raw;
	size_t req_len, resp_len;
	int head;
	u32 type;

	head = tvh_vq_get_desc(vq, &out_num, &in_num);
	if (head < 0)
		return head;
	if (head == vq->num)
		return TVH_EMPTY;

	tvh_vq_desc_iters(vq, out_num, in_num, &out, &in);

	probe = out;
	if (!copy_from_iter_full(&type_raw, sizeof(type_raw), &probe)) {
		tvh_guest_err(vq, "control request %d: no type, dropped\n",
			      head);
		goto drop;
	}
	type = vhost32_to_cpu(vq, type_raw);
	if (!tvh_ctl_sizes(type, &req_len, &resp_len)) {
		tvh_guest_err(vq, "control request %d: unknown type %u, dropped\n",
			      head, type);
		goto drop;
	}
	if (iov_iter_count(&in) < resp_len) {
		tvh_guest_err(vq, "control request %d: %zu bytes for a %zu byte response, dropped\n",
			      head, iov_iter_count(&in), resp_len);
		goto drop;
	}
	if (!copy_from_iter_full(&req, req_len, &out)) {
		u8 failure[sizeof(struct virtio_scsi_ctrl_an_resp)] = {};

		tvh_guest_err(vq, "control request %d: shorter than its %zu byte header\n",
			      head, req_len);
		/* The response byte is last in both layouts. */
		failure[resp_len - 1] = VIRTIO_SCSI_S_FAILURE;
		tvh_vq_answer(vq, &in, head, failure, resp_len);
		return TVH_ANSWERED;
	}

	if (type == VIRTIO_SCSI_T_TMF)
		return tvh_tmf_start(vq, targets, head, &in, &vq->iov[out_num],
				     &req.tmf);
	tvh_an_answer(vq, targets, head, &in, &req.an);
	return TVH_ANSWERED;

drop:
	vhost_add_used(vq, head, 0);
	return TVH_ANSWERED;
}

void tvh_ctl_handle_kick(struct vhost_work *work)
{
	struct vhost_virtqueue *vq = container_of(work, struct vhost_virtqueue,
						  poll.work);
	struct tvh_charge charge;

	tvh_charge_begin(&charge, vq->dev->mm);
	tvh_vq_serve(vq, tvh_ctl_handle_one, 0);
	tvh_charge_end(&charge);
}

/*
 * Whether the event ring has been set up.  A VMM leaves it unset while the
 * guest has not set it up, as firmware that drives only a request queue
 * does; an event due then has no room, and counts as missed, rather than
 * a read of a ring at address 0 that vq_err() reports to the VMM.
 */
static bool tvh_evt_ring_set_up(struct vhost_virtqueue *vq)
{
	lockdep_assert_held(&vq->mutex);
	return vhost_vq_is_setup(vq);
}

/*
 * Put one event in a guest event buffer.  Returns false when the guest has
 * no buffer left.  Buffers too small for an event, or with device-readable
 * parts, are returned unused and the event goes to the next buffer.
 */
static bool tvh_evt_send_one(struct tvh_dev *vdev, struct vhost_virtqueue *vq,
			     struct tvh_event *e)
{
	struct virtio_scsi_event evt = {};
	unsigned int out_num, in_num;
	struct iov_iter in;
	u32 event = e->event;
	unsigned int bad = 0, bad_descs = 0;
	int head;

	lockdep_assert_held(&vq->mutex);
	for (;;) {
		vhost_disable_notify(&vdev->dev, vq);
		head = tvh_vq_get_desc(vq, &out_num, &in_num);
		if (head < 0)
			return false;
		if (head == vq->num) {
			if (unlikely(vhost_enable_notify(&vdev->dev, vq)))
				continue;
			return false;
		}
		/* The spec asks for at least one event's worth of room. */
		if (!out_num && iov_length(vq->iov, in_num) >= sizeof(evt))
			break;
		tvh_guest_err(vq, "event buffer %d: %zu bytes (%u readable descriptors), need %zu writable\n",
			      head, iov_length(&vq->iov[out_num], in_num),
			      out_num, sizeof(evt));
		vhost_add_used_and_signal(&vdev->dev, vq, head, 0);
		/*
		 * A guest refilling bad buffers must not keep the worker
		 * here: after a pass's weight of them, or of their
		 * descriptors (a buffer may chain UIO_MAXIOV), the rest waits
		 * for another pass, behind whatever else the worker has to do.
		 */
		bad_descs += out_num + in_num;
		if (++bad >= TVH_WEIGHT || bad_descs >= TVH_EVT_DESC_WEIGHT) {
			tvh_dev_queue_work(vdev, vq, &vq->poll.work);
			return false;
		}
	}

	if (vdev->events_missed) {
		event |= VIRTIO_SCSI_T_EVENTS_MISSED;
		vdev->events_missed = false;
	}
	evt.event = cpu_to_vhost32(vq, event);
	evt.reason = cpu_to_vhost32(vq, e->reason);
	if (e->event != VIRTIO_SCSI_T_NO_EVENT) {
		/* Peripheral addressing below 256, flat above (as upstream). */
		evt.lun[0] = 1;
		evt.lun[1] = e->target;
		if (e->lun >= 256)
			evt.lun[2] = (e->lun >> 8) | 0x40;
		evt.lun[3] = e->lun & 0xff;
	}
	iov_iter_init(&in, ITER_DEST, vq->iov, in_num, sizeof(evt));
	tvh_vq_answer(vq, &in, head, &evt, sizeof(evt));
	tvh_vq_signal(vq);
	return true;
}

/* Did the guest negotiate events of this kind? */
static bool tvh_evt_wanted(struct vhost_virtqueue *vq, u32 event)
{
	if (event == VIRTIO_SCSI_T_PARAM_CHANGE)
		return vhost_has_feature(vq, VIRTIO_SCSI_F_CHANGE);
	return vhost_has_feature(vq, VIRTIO_SCSI_F_HOTPLUG);
}

/*
 * Deliver pending events; those of a kind the guest did not ask for go.
 * Once one found no buffer (@room false), the others find none in this
 * pass either: they are missed without another look at the ring.
 */
static void tvh_evt_flush_locked(struct tvh_dev *vdev,
				 struct vhost_virtqueue *vq, bool room)
{
	struct tvh_event *e, *next;
	bool attached;

	lockdep_assert_held(&vq->mutex);
	attached = vhost_vq_get_backend(vq);
	room = room && tvh_evt_ring_set_up(vq);

	list_for_each_entry_safe(e, next, &vdev->evt_list, node) {
		if (attached && tvh_evt_wanted(vq, e->event)) {
			if (room)
				room = tvh_evt_send_one(vdev, vq, e);
			if (!room)
				vdev->events_missed = true;
		}
		list_del(&e->node);
		vdev->evt_count--;
		kfree(e);
	}
}

void tvh_evt_work(struct vhost_work *work)
{
	struct tvh_dev *vdev = container_of(work, struct tvh_dev, evt_work);
	struct vhost_virtqueue *vq = &vdev->vqs[VHOST_SCSI_VQ_EVT].vq;

	mutex_lock(&vq->mutex);
	tvh_evt_flush_locked(vdev, vq, true);
	mutex_unlock(&vq->mutex);
}

/*
 * The guest added event buffers.  If it missed events, tell it now with an
 * empty event that carries the EVENTS_MISSED flag, so that it rescans.
 */
void tvh_evt_handle_kick(struct vhost_work *work)
{
	struct vhost_virtqueue *vq = container_of(work, struct vhost_virtqueue,
						  poll.work);
	struct tvh_dev *vdev = tvh_vq_dev(vq);
	struct tvh_event missed = { .event = VIRTIO_SCSI_T_NO_EVENT };
	bool room = true;

	mutex_lock(&vq->mutex);
	if (vhost_vq_get_backend(vq) && vdev->events_missed &&
	    tvh_evt_ring_set_up(vq))
		room = tvh_evt_send_one(vdev, vq, &missed);
	tvh_evt_flush_locked(vdev, vq, room);
	mutex_unlock(&vq->mutex);
}

/**
 * tvh_evt_post - queue an event (hotplug, parameter change) for a guest
 * @vdev: the device; the caller holds the tpg lock that keeps it attached
 * @event: VIRTIO_SCSI_T_*
 * @target: target byte
 * @lun: LUN
 * @reason: VIRTIO_SCSI_EVT_RESET_*, or ASC | ASCQ << 8 for PARAM_CHANGE
 *
 * Past TVH_MAX_EVENTS undelivered events, or without memory, the event is
 * counted as missed instead.
 */
void tvh_evt_post(struct tvh_dev *vdev, u32 event, u16 target, u64 lun,
		  u32 reason)
{
	struct vhost_virtqueue *vq = &vdev->vqs[VHOST_SCSI_VQ_EVT].vq;
	struct tvh_charge charge;
	struct tvh_event *e;

	/* A virtio-scsi LUN field addresses 14 bits: the guest cannot see it. */
	if (lun > TVH_MAX_LUN) {
		pr_info_ratelimited("target %u LUN %llu: beyond what virtio-scsi addresses, no event\n",
				    target, lun);
		return;
	}
	trace_tvh_evt_post(event, target, lun, reason);
	tvh_charge_begin(&charge, vdev->dev.mm);	/* attached: owned */
	e = kzalloc(sizeof(*e), GFP_KERNEL_ACCOUNT);
	tvh_charge_end(&charge);
	mutex_lock(&vq->mutex);
	if (!e || vdev->evt_count >= TVH_MAX_EVENTS) {
		vdev->events_missed = true;
		kfree(e);
	} else {
		e->event = event;
		e->reason = reason;
		e->target = target;
		e->lun = lun;
		list_add_tail(&e->node, &vdev->evt_list);
		vdev->evt_count++;
	}
	mutex_unlock(&vq->mutex);
	/* Undelivered events are freed at release, worker or not. */
	tvh_dev_queue_work(vdev, vq, &vdev->evt_work);
}

/* Free undelivered events; the worker is stopped. */
void tvh_evt_drain(struct tvh_dev *vdev)
{
	struct tvh_event *e, *next;

	list_for_each_entry_safe(e, next, &vdev->evt_list, node) {
		list_del(&e->node);
		kfree(e);
	}
	vdev->evt_count = 0;
}
