// SPDX-License-Identifier: GPL-2.0
/*
 * Request queues: from a guest's descriptor chain to
 * target_core and back.
 *
 * A request is one descriptor chain.  Its device-readable part holds a
 * virtio_scsi_cmd_req (or _req_pi) and then the data-out bytes; its
 * device-writable part holds room for a virtio_scsi_cmd_resp and then the
 * data-in bytes.  Headers may be split across any number of descriptors.
 * Data pages are pinned where they are and given to target_core as a
 * scatterlist: nothing is copied (tcm_vhost_map.c).
 *
 * Every request gets exactly one answer on the used ring: a SCSI status from
 * target_core, or a virtio-scsi error response built here when the request
 * cannot be executed.  Only a chain with no room for a response at all is
 * returned without one (used length 0).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <scsi/scsi_common.h>
#include <scsi/scsi_proto.h>
#include <target/target_core_backend.h>
#include <target/target_core_fabric.h>

#include "tcm_vhost.h"

/* Count an answer given without target_core by what it tells the guest. */
static void tvh_io_count_sync_answer(struct vhost_virtqueue *vq, u8 response,
				     u8 status)
{
	enum tvh_stat stat = TVH_STAT_REJECTED;	/* or CHECK CONDITION of ours */

	if (response == VIRTIO_SCSI_S_OK && status == SAM_STAT_TASK_SET_FULL)
		stat = TVH_STAT_QUEUE_FULL;
	else if (response == VIRTIO_SCSI_S_OK && status == SAM_STAT_BUSY)
		stat = TVH_STAT_BUSY;
	tvh_stat_add(vq, stat, 1);
}

/**
 * tvh_io_send_resp - answer a request without target_core
 * @vq: the queue, mutex held, in the worker
 * @resp_iter: where the response header goes (consumed)
 * @head: descriptor head to return
 * @response: VIRTIO_SCSI_S_*
 * @status: SAM status when @response is VIRTIO_SCSI_S_OK
 * @sense: sense data or NULL
 * @sense_len: bytes of @sense
 *
 * The caller signals the guest once its pass is over.
 */
static void tvh_io_send_resp(struct vhost_virtqueue *vq, struct iov_iter *resp_iter,
			     unsigned int head, u8 response, u8 status,
			     const u8 *sense, u32 sense_len)
{
	struct virtio_scsi_cmd_resp resp = {
		.response = response,
		.status = status,
	};

	lockdep_assert_held(&vq->mutex);
	tvh_io_count_sync_answer(vq, response, status);
	if (sense && sense_len) {
		sense_len = min_t(u32, sense_len, sizeof(resp.sense));
		memcpy(resp.sense, sense, sense_len);
		resp.sense_len = cpu_to_vhost32(vq, sense_len);
	}
	tvh_vq_answer(vq, resp_iter, head, &resp, sizeof(resp));
}

static void tvh_io_check_condition(struct vhost_virtqueue *vq,
				   struct iov_iter *resp_iter,
				   unsigned int head, u8 asc)
{
	u8 sense[TRANSPORT_SENSE_BUFFER] = {};

	scsi_build_sense_buffer(0, sense, ILLEGAL_REQUEST, asc, 0);
	tvh_io_send_resp(vq, resp_iter, head, VIRTIO_SCSI_S_OK,
			 SAM_STAT_CHECK_CONDITION, sense, TVH_SENSE_FIXED_LEN);
}

/*
 * Count @cmd against its queue's offload budget, if it fits: a command of
 * @data_len bytes costs one unit plus one per page.  Only the queue's
 * thread takes (vq.mutex); completions in any context give back.
 */
static bool tvh_io_offload_take(struct tvh_cmd *cmd, u32 data_len)
{
	struct tvh_vq *tvq = cmd->tvq;
	unsigned int units = 1 + DIV_ROUND_UP(data_len, PAGE_SIZE);
	int used = atomic_read(&tvq->offloaded);

	if (used && used + units > TVH_OFFLOAD_UNITS)
		return false;
	cmd->offload_units = units;
	atomic_add(units, &tvq->offloaded);
	return true;
}

/*
 * @cmd is answered (or given up): its offload units are free again.  Called
 * from its answer and from its recycling, never at once: the answer queues
 * the command for the thread that recycles it.
 */
static void tvh_io_offload_give(struct tvh_cmd *cmd)
{
	if (cmd->offload_units) {
		atomic_sub(cmd->offload_units, &cmd->tvq->offloaded);
		cmd->offload_units = 0;
	}
}

/* Give the command back to the pool: the last step of every command. */
static void tvh_io_recycle(struct tvh_cmd *cmd)
{
	struct tvh_vq *tvq = cmd->tvq;
	struct tvh_dev *vdev = tvq->vdev;
	bool dirty = test_bit(TVH_CMD_DATA_IN, &cmd->flags);

	tvh_io_offload_give(cmd);
	tvh_map_put(&cmd->data, dirty);
	tvh_map_put(&cmd->prot, dirty);
	if (cmd->resp_iov != cmd->resp_iov_inline)
		kfree(cmd->resp_iov);
	cmd->resp_iov = cmd->resp_iov_inline;
	kfree(cmd->log);
	cmd->log = NULL;
	WRITE_ONCE(cmd->log_num, 0);
	tvh_map_bounce_free(cmd, &cmd->bounce_sgl, &cmd->bounce_nents);
	tvh_map_bounce_free(cmd, &cmd->prot_bounce_sgl,
			    &cmd->prot_bounce_nents);
	/*
	 * Every write above before the tag is free: the thread that takes it
	 * next (sbitmap_get() acquires) may be on another CPU, and this may
	 * run outside vq.mutex (target_core's release, a TMF flush).
	 */
	smp_mb__before_atomic();
	clear_bit(TVH_CMD_LIVE, &cmd->flags);
	sbitmap_clear_bit(&tvq->tags, cmd->tag);
	/*
	 * Only teardown waits; wq_has_sleeper() orders against its check.
	 * Once inflight reads 0 release may free the device: the RCU read
	 * side keeps it until tvh_release()'s synchronize_rcu().
	 */
	rcu_read_lock();
	if (atomic_dec_and_test(&tvq->inflight) && wq_has_sleeper(&vdev->idle_wq))
		wake_up(&vdev->idle_wq);
	rcu_read_unlock();
}

/*
 * Queue @cmd for its answer.  A TMF that counted it (TVH_CMD_TMF_OWED) is
 * told once it is on the done list, which TMFs flush before answering.
 */
static void tvh_io_push_done(struct tvh_cmd *cmd)
{
	struct tvh_vq *tvq = cmd->tvq;
	unsigned long old = READ_ONCE(cmd->flags);
	bool first;

	/*
	 * Pushed once per taking: from here on no TMF marks it, and it may
	 * be recycled once added.  A TMF that finds it PUSHED and does not
	 * count it must still find it on @done when it flushes: @pushing
	 * covers the window, which nothing preempts.
	 */
	preempt_disable();
	/*
	 * Before PUSHED is seen: try_cmpxchg() orders it.  A TMF that sees
	 * PUSHED passes a full barrier (tvh_tmf_owed_put()) before it looks.
	 */
	atomic_inc(&tvq->pushing);
	while (!try_cmpxchg(&cmd->flags, &old, (old | BIT(TVH_CMD_PUSHED)) &
			    ~BIT(TVH_CMD_TMF_OWED)))
		;
	rcu_read_lock();
	first = llist_add(&cmd->done_node, &tvq->done);
	smp_mb__before_atomic();	/* pairs with tvh_io_wait_pushes() */
	atomic_dec(&tvq->pushing);
	preempt_enable();
	if (old & BIT(TVH_CMD_TMF_OWED))
		tvh_tmf_owed_put(tvq->vdev);
	/* whoever added the first one woke the worker */
	if (first && !tvh_vq_thread_wake(tvq, TVH_VQ_DONE))
		tvh_dev_queue_work(tvq->vdev, &tvq->vq, &tvq->done_work);
	rcu_read_unlock();
}

/* target_core's queue_status and queue_data_in: any context. */
int tvh_io_queue_answer(struct se_cmd *se_cmd)
{
	struct tvh_cmd *cmd = container_of(se_cmd, struct tvh_cmd, se_cmd);

	if (test_and_set_bit(TVH_CMD_ANSWER_QUEUED, &cmd->flags))
		return 0;
	cmd->response = VIRTIO_SCSI_S_OK;
	tvh_io_offload_give(cmd);
	tvh_io_push_done(cmd);
	return 0;
}

/*
 * target_core's aborted_task: the command will not get a status from the
 * core.  Nothing to undo yet; release_cmd follows and answers the guest.
 */
void tvh_io_aborted(struct se_cmd *se_cmd)
{
}

/*
 * target_core's release_cmd for SCSI commands: the core holds no more
 * references.  A command that was never answered (cancelled by a TMF) still
 * owes the guest an answer from its worker, then it is recycled: RESET when
 * a LUN or I_T nexus reset cancelled it, ABORTED otherwise (virtio spec).
 */
void tvh_io_release(struct se_cmd *se_cmd)
{
	struct tvh_cmd *cmd = container_of(se_cmd, struct tvh_cmd, se_cmd);

	if (test_and_set_bit(TVH_CMD_ANSWER_QUEUED, &cmd->flags)) {
		tvh_io_recycle(cmd);
		return;
	}
	cmd->response = test_bit(TVH_CMD_RESET, &cmd->flags) ?
			VIRTIO_SCSI_S_RESET : VIRTIO_SCSI_S_ABORTED;
	set_bit(TVH_CMD_RELEASED, &cmd->flags);
	tvh_io_push_done(cmd);
}

/* Count a command target_core finished; @transferred data bytes. */
static void tvh_io_count_completion(struct vhost_virtqueue *vq,
				    struct tvh_cmd *cmd, u32 transferred)
{
	if (cmd->response != VIRTIO_SCSI_S_OK) {
		tvh_stat_add(vq, TVH_STAT_ABORTED, 1);
		return;
	}
	tvh_stat_add(vq, TVH_STAT_COMPLETED, 1);
	if (cmd->se_cmd.scsi_status != SAM_STAT_GOOD)
		tvh_stat_add(vq, TVH_STAT_STATUS_ERRORS, 1);
	else if (test_bit(TVH_CMD_DATA_IN, &cmd->flags))
		tvh_stat_add(vq, TVH_STAT_BYTES_IN, transferred);
	else
		tvh_stat_add(vq, TVH_STAT_BYTES_OUT, transferred);
}

/*
 * Write the response header of a finished command (and copy back bounced
 * data); returns the used length to report with its head.
 */
/*
 * How much of @cmd's writable descriptors the dirty log must cover, of
 * which the guest is told @written.  A backstore reads straight into the
 * pages of a data-in buffer that is not bounced: a command that fails or
 * is aborted after that wrote them all the same.
 */
static u32 tvh_io_log_len(const struct tvh_cmd *cmd, u32 written)
{
	if (test_bit(TVH_CMD_DATA_IN, &cmd->flags) && !cmd->bounce_sgl)
		return sizeof(struct virtio_scsi_cmd_resp) + cmd->prot_len +
		       cmd->data_len;
	return written;
}

static u32 tvh_io_answer(struct vhost_virtqueue *vq, struct tvh_cmd *cmd)
{
	struct virtio_scsi_cmd_resp resp = { .response = cmd->response };
	struct se_cmd *se_cmd = &cmd->se_cmd;
	u32 data_written = 0, pi_written = 0, transferred = 0;
	struct iov_iter iter;

	if (cmd->response == VIRTIO_SCSI_S_OK) {
		u32 sense_len = min_t(u32, se_cmd->scsi_sense_length,
				      sizeof(resp.sense));
		u32 resid;

		resp.status = se_cmd->scsi_status;
		resp.sense_len = cpu_to_vhost32(vq, sense_len);
		memcpy(resp.sense, cmd->sense, sense_len);
		/*
		 * resid is the part of the guest's buffer not transferred: on
		 * overflow the whole buffer was used, and a command that
		 * failed transferred nothing.
		 */
		if (se_cmd->scsi_status != SAM_STAT_GOOD)
			resid = cmd->data_len;
		else if (se_cmd->se_cmd_flags & SCF_UNDERFLOW_BIT)
			resid = min(se_cmd->residual_count, cmd->data_len);
		else
			resid = 0;
		resp.resid = cpu_to_vhost32(vq, resid);
		transferred = cmd->data_len - resid;
		if (test_bit(TVH_CMD_DATA_IN, &cmd->flags))
			data_written = transferred;
		if (data_written && cmd->bounce_sgl)
			tvh_map_copy(cmd->data.sgl, cmd->data.nents,
				     cmd->bounce_sgl, cmd->bounce_nents,
				     data_written);
		/* Data-in PI sits between the response and the data. */
		if (data_written && cmd->prot_bounce_sgl) {
			tvh_map_copy(cmd->prot.sgl, cmd->prot.nents,
				     cmd->prot_bounce_sgl,
				     cmd->prot_bounce_nents, cmd->prot_len);
			pi_written = cmd->prot_len;
		}
	}
	tvh_io_count_completion(vq, cmd, transferred);
	trace_tvh_cmd_done(tvh_vq_index(vq), cmd->head, cmd->response,
			   resp.status, transferred,
			   cmd->taken_ns ? ktime_get_ns() - cmd->taken_ns : 0);

	iov_iter_init(&iter, ITER_DEST, cmd->resp_iov, cmd->resp_iov_cnt,
		      sizeof(resp));
	tvh_vq_put_resp(vq, &iter, cmd->head, &resp, sizeof(resp));
	tvh_vq_log_write(vq, cmd->log, cmd->log_num,
			 tvh_io_log_len(cmd, sizeof(resp) + pi_written +
					data_written));
	return sizeof(resp) + pi_written + data_written;
}

/* Give answered (or dropped) commands back to target_core or their pool. */
static void tvh_io_finish_list(struct llist_node *list)
{
	struct tvh_cmd *cmd, *next;

	llist_for_each_entry_safe(cmd, next, list, done_node) {
		if (test_bit(TVH_CMD_RELEASED, &cmd->flags))
			tvh_io_recycle(cmd);
		else
			transport_generic_free_cmd(&cmd->se_cmd, 0);
	}
}

/*
 * Wait for the answers of @tvq that are between their PUSHED mark and its
 * done list: a TMF that saw one PUSHED did not count it, and must find it
 * there when it flushes.  Pushers are not preempted in that window.
 */
void tvh_io_wait_pushes(struct tvh_vq *tvq)
{
	while (atomic_read(&tvq->pushing))
		cpu_relax();
	smp_mb();	/* pairs with smp_mb__before_atomic() in tvh_io_push_done() */
}

/**
 * tvh_io_flush_answers - answer every finished command of a queue
 * @tvq: the queue; called by whichever thread serves it, or by a TMF
 * @may_delay: the queue's own thread calls, which sends a signal held back
 *	(signal_delay_us) when it is due
 *
 * The used ring is written TVH_USED_BATCH entries at a time, and the guest
 * gets one signal per batch, however many commands it holds.  A
 * TMF calls this for every queue before writing its own answer, so that
 * the guest sees the commands it aborted answered first.
 */
void tvh_io_flush_answers(struct tvh_vq *tvq, bool may_delay)
{
	struct vring_used_elem used[TVH_USED_BATCH];
	struct vhost_virtqueue *vq = &tvq->vq;
	struct tvh_cmd *cmd;
	struct llist_node *list;
	unsigned int n = 0;

	/*
	 * Take the list under the mutex: whoever holds the mutex next knows
	 * that every answer taken before is on the used ring.
	 */
	mutex_lock(&vq->mutex);
	list = llist_del_all(&tvq->done);
	if (!list) {
		/* A TMF's answer must not overtake a signal held back. */
		if (!may_delay)
			tvh_vq_signal_held(tvq);
		mutex_unlock(&vq->mutex);
		return;
	}
	list = llist_reverse_order(list);
	llist_for_each_entry(cmd, list, done_node) {
		used[n].id = cpu_to_vhost32(vq, cmd->head);
		used[n].len = cpu_to_vhost32(vq, tvh_io_answer(vq, cmd));
		if (++n == ARRAY_SIZE(used)) {
			vhost_add_used_n(vq, used, n);
			n = 0;
		}
	}
	if (n)
		vhost_add_used_n(vq, used, n);
	tvh_vq_signal_answers(tvq, may_delay);
	mutex_unlock(&vq->mutex);

	tvh_io_finish_list(list);
}

/*
 * Nobody will read the answers of @tvq (its worker died with the owner):
 * give the finished commands back without writing guest memory, which only
 * a context holding the owner's mm may touch.
 */
void tvh_io_drop_answers(struct tvh_vq *tvq)
{
	tvh_io_finish_list(llist_del_all(&tvq->done));
}

void tvh_io_done_work(struct vhost_work *work)
{
	tvh_io_flush_answers(container_of(work, struct tvh_vq, done_work),
			     false);
}

/*
 * Remember where the response header goes: the first bytes of the
 * device-writable part, possibly spread over many descriptors.
 */
static int tvh_io_save_resp(struct tvh_cmd *cmd, const struct iovec *in,
			    unsigned int in_num)
{
	size_t left = sizeof(struct virtio_scsi_cmd_resp);
	unsigned int n;

	for (n = 0; left && n < in_num; n++)
		left -= min(left, in[n].iov_len);
	if (left)
		return -EINVAL;
	if (n > TVH_RESP_IOV_INLINE) {
		cmd->resp_iov = kmalloc_array(n, sizeof(*in),
					      GFP_KERNEL_ACCOUNT);
		if (!cmd->resp_iov) {
			cmd->resp_iov = cmd->resp_iov_inline;
			return -ENOMEM;
		}
	}
	memcpy(cmd->resp_iov, in, n * sizeof(*in));
	cmd->resp_iov_cnt = n;
	return 0;
}

/*
 * The guest's task attribute, as target_core gets it.  ORDERED goes in as
 * SIMPLE, as QEMU's own virtio-scsi treats every attribute: target_core
 * holds an ORDERED command until the commands before it have left, and it
 * never counts out a command aborted while the backstore had it (6.1 and
 * 6.12).  After one ABORT TASK an ORDERED command would wait for ever, and
 * every later command of that backstore, from any initiator, behind it.
 */
static int tvh_io_task_attr(u8 virtio_attr)
{
	switch (virtio_attr) {
	case VIRTIO_SCSI_S_HEAD:
		return TCM_HEAD_TAG;
	case VIRTIO_SCSI_S_ACA:
		return TCM_ACA_TAG;
	default:
		return TCM_SIMPLE_TAG;
	}
}

/*
 * A request as its header gave it (whichever of the two layouts it had),
 * then what the checks made of it.
 */
struct tvh_req {
	u8 lun[8];
	u64 id;
	u8 task_attr;
	u32 pi_out;
	u32 pi_in;
	u8 cdb[VIRTIO_SCSI_CDB_SIZE];
	/* filled in by tvh_io_session() and tvh_io_check() */
	u8 target;
	u64 unpacked_lun;
	u32 data_len;
	enum dma_data_direction dir;
};

static bool tvh_io_read_header(struct vhost_virtqueue *vq,
			       struct iov_iter *out, struct tvh_req *req)
{
	union {
		struct virtio_scsi_cmd_req plain;
		struct virtio_scsi_cmd_req_pi pi;
	} h;

	if (vhost_has_feature(vq, VIRTIO_SCSI_F_T10_PI)) {
		if (!copy_from_iter_full(&h.pi, sizeof(h.pi), out))
			return false;
		memcpy(req->lun, h.pi.lun, sizeof(req->lun));
		req->id = vhost64_to_cpu(vq, h.pi.tag);
		req->task_attr = h.pi.task_attr;
		req->pi_out = vhost32_to_cpu(vq, h.pi.pi_bytesout);
		req->pi_in = vhost32_to_cpu(vq, h.pi.pi_bytesin);
		memcpy(req->cdb, h.pi.cdb, sizeof(req->cdb));
	} else {
		if (!copy_from_iter_full(&h.plain, sizeof(h.plain), out))
			return false;
		memcpy(req->lun, h.plain.lun, sizeof(req->lun));
		req->id = vhost64_to_cpu(vq, h.plain.tag);
		req->task_attr = h.plain.task_attr;
		req->pi_out = 0;
		req->pi_in = 0;
		memcpy(req->cdb, h.plain.cdb, sizeof(req->cdb));
	}
	return true;
}

/*
 * Hand @cmd, initialised and prepared, to its queue thread's executor
 * instead of executing it here, if offload is on and worth it: the queue
 * has other commands in flight, the CPUs the thread may run on had time
 * to spare lately, and the queue's offload budget has room.  The queue
 * thread (vq.mutex held) is the only caller that can have an executor.
 * Once handed over, @cmd belongs to the executor.
 */
static bool tvh_io_offload(struct tvh_cmd *cmd, u32 data_len)
{
	struct tvh_vq *tvq = cmd->tvq;
	struct tvh_vq_thread *thread;
	bool handed = false;

	if (!READ_ONCE(tvh_offload) || atomic_read(&tvq->inflight) < 2)
		return false;
	rcu_read_lock();
	thread = rcu_dereference(tvq->thread);
	if (thread && thread->exec_task && thread->idle_spare &&
	    tvh_io_offload_take(cmd, data_len)) {
		handed = true;
		if (llist_add(&cmd->exec_node, &thread->exec_cmds))
			wake_up_process(thread->exec_task);
	}
	rcu_read_unlock();
	return handed;
}

/**
 * tvh_io_exec_list - execute commands a queue thread handed over
 * @list: their exec_node entries, oldest first
 * @busy_ns: the executor's busy time, advanced after each command
 *
 * The executor thread runs this; each command is submitted as the queue
 * thread would have, and answers through the queue thread as usual.
 * @busy_ns moves per command, not per list, so that the queue thread's
 * next idle sample sees a long list's work while it is still going on; it
 * uses the clock of that sample, which, unlike local_clock(), stays
 * monotonic when the executor moves to another CPU mid-command.
 */
void tvh_io_exec_list(struct llist_node *list, u64 *busy_ns)
{
	struct tvh_cmd *cmd, *next;
	u64 then = ktime_get_ns(), now;

	llist_for_each_entry_safe(cmd, next, list, exec_node) {
		trace_tvh_cmd_submitted(tvh_vq_index(&cmd->tvq->vq), cmd->head,
					raw_smp_processor_id());
		tvh_target_submit(&cmd->se_cmd, true);
		now = ktime_get_ns();
		WRITE_ONCE(*busy_ns, *busy_ns + now - then);
		then = now;
	}
}

/*
 * Does @cdb send data to a disk (SBC, SPC)?  Other command sets give some
 * of these opcodes other meanings (to a CD-ROM, 0x42 and 0xa4 read).
 */
static bool tvh_io_cdb_sends_data(const u8 *cdb)
{
	switch (cdb[0]) {
	case FORMAT_UNIT:
	case REASSIGN_BLOCKS:
	case WRITE_6:
	case MODE_SELECT:
	case SEND_DIAGNOSTIC:
	case WRITE_10:
	case WRITE_VERIFY:
	case WRITE_BUFFER:
	case WRITE_LONG:
	case WRITE_SAME:
	case UNMAP:
	case LOG_SELECT:
	case XDWRITEREAD_10:
	case MODE_SELECT_10:
	case PERSISTENT_RESERVE_OUT:
	case EXTENDED_COPY:
	case COMPARE_AND_WRITE:
	case WRITE_16:
	case WRITE_ATTRIBUTE:
	case WRITE_VERIFY_16:
	case WRITE_SAME_16:
	case MAINTENANCE_OUT:
	case WRITE_12:
	case WRITE_VERIFY_12:
	case SECURITY_PROTOCOL_OUT:
		return true;
	case VARIABLE_LENGTH_CMD:
		switch (cdb[8] << 8 | cdb[9]) {	/* service action */
		case WRITE_32:
		case WRITE_VERIFY_32:
		case WRITE_SAME_32:
			return true;
		}
		return false;
	default:
		return false;
	}
}

/* Does @cdb always come with data for a disk (one block: WRITE SAME)? */
static bool tvh_io_cdb_needs_data(const u8 *cdb)
{
	if (cdb[0] == VARIABLE_LENGTH_CMD)
		return (cdb[8] << 8 | cdb[9]) == WRITE_SAME_32;
	return cdb[0] == WRITE_SAME || cdb[0] == WRITE_SAME_16;
}

/*
 * Does @cmd's buffer contradict what its CDB sends to its disk?
 * target_core takes the direction from the fabric and refuses a
 * write-protected LUN only data-out: a WRITE SAME, UNMAP or COMPARE AND
 * WRITE given a device-writable buffer, or none, would write or discard
 * blocks unchecked, or have its parameters parsed from a page the guest
 * can still change.  After target_submit_prep(): the device is known.
 */
static bool tvh_io_direction_refused(struct tvh_cmd *cmd)
{
	struct se_cmd *se_cmd = &cmd->se_cmd;
	struct se_device *dev = se_cmd->se_dev;
	bool contradicts;

	if (se_cmd->data_direction == DMA_FROM_DEVICE)
		contradicts = tvh_io_cdb_sends_data(cmd->cdb);
	else
		contradicts = se_cmd->data_direction == DMA_NONE &&
			      tvh_io_cdb_needs_data(cmd->cdb);
	/* The device type only then: an indirect call, not for every command. */
	return contradicts && dev->transport->get_device_type(dev) == TYPE_DISK;
}

/*
 * Hand a fully mapped command to target_core.
 *
 * A lone command is executed right here (direct_submit), which is the
 * shortest path.  With offload on, a command that finds others in flight
 * on its queue may go to the queue thread's executor (tvh_io_offload()),
 * so that one busy queue uses a second CPU where one is idle; whatever
 * does not fit in the queue's offload budget runs right here, so that
 * the thread shares large transfers with its executor.
 */
static void tvh_io_submit(struct tvh_cmd *cmd, struct se_session *sess,
			  const struct tvh_req *req)
{
	struct se_cmd *se_cmd = &cmd->se_cmd;

	if (target_init_cmd(se_cmd, sess, cmd->sense, req->unpacked_lun,
			    req->data_len, tvh_io_task_attr(req->task_attr),
			    req->dir, TARGET_SCF_ACK_KREF)) {
		/* The session is going away: report it as the core would. */
		cmd->response = VIRTIO_SCSI_S_TRANSPORT_FAILURE;
		set_bit(TVH_CMD_ANSWER_QUEUED, &cmd->flags);
		set_bit(TVH_CMD_RELEASED, &cmd->flags);
		tvh_io_push_done(cmd);
		return;
	}
	se_cmd->tag = req->id;
	if (target_submit_prep(se_cmd, cmd->cdb,
			       cmd->bounce_sgl ? : cmd->data.sgl,
			       cmd->bounce_sgl ? cmd->bounce_nents :
						 cmd->data.nents,
			       NULL, 0, cmd->prot_bounce_sgl,
			       cmd->prot_bounce_nents,
			       GFP_KERNEL))
		return;	/* answered with CHECK CONDITION by the core */
	if (tvh_io_direction_refused(cmd)) {
		tvh_guest_err(&cmd->tvq->vq, "request %u: opcode 0x%02x sends data to the disk, but its data buffer is %s\n",
			      cmd->head, cmd->cdb[0],
			      se_cmd->data_direction == DMA_NONE ?
			      "missing" : "device-writable");
		transport_generic_request_failure(se_cmd, TCM_INVALID_CDB_FIELD);
		return;
	}
	tvh_map_trim_prot(cmd);
	if (tvh_io_offload(cmd, req->data_len))
		return;
	trace_tvh_cmd_submitted(tvh_vq_index(&cmd->tvq->vq), cmd->head, -1);
	tvh_target_submit(se_cmd, tvh_direct_submit);
}

/*
 * Check the PI byte counts against the direction of the data.  PI precedes
 * the data it protects, in the same direction, in whole 8-byte tuples.
 */
static bool tvh_io_pi_valid(struct tvh_req *req, size_t out_len,
			    size_t in_len)
{
	if ((req->pi_out | req->pi_in) % TVH_PI_TUPLE_SIZE)
		return false;
	if (req->pi_out && (req->pi_in || req->pi_out >= out_len || in_len))
		return false;
	if (req->pi_in && (req->pi_in >= in_len || out_len))
		return false;
	return true;
}

/* The session of the target @req addresses, or NULL: BAD_TARGET. */
static struct se_session *tvh_io_session(struct tvh_tpg **targets,
					 struct tvh_req *req)
{
	if (!tvh_decode_lun(req->lun, &req->target, &req->unpacked_lun) ||
	    !targets[req->target])
		return NULL;
	return READ_ONCE(targets[req->target]->sess);
}

/*
 * Check @req against the @out_len and @in_len bytes that follow its header
 * and response: CDB size, PI, a single direction, the size bound.  Sets its
 * data length and direction.  False: INVALID FIELD IN CDB.
 */
static bool tvh_io_check(struct vhost_virtqueue *vq, int head,
			 struct tvh_req *req, size_t out_len, size_t in_len)
{
	size_t data_len;

	if (scsi_command_size(req->cdb) > VIRTIO_SCSI_CDB_SIZE) {
		tvh_guest_err(vq, "request %d: CDB of %u bytes, at most %u fit\n",
			      head, scsi_command_size(req->cdb),
			      VIRTIO_SCSI_CDB_SIZE);
		return false;
	}
	if (!tvh_io_pi_valid(req, out_len, in_len)) {
		tvh_guest_err(vq, "request %d: PI bytes out %u in %u do not fit the data\n",
			      head, req->pi_out, req->pi_in);
		return false;
	}
	out_len -= req->pi_out;
	in_len -= req->pi_in;
	if (out_len && in_len) {
		tvh_guest_err(vq, "request %d: bidirectional commands are not supported\n",
			      head);
		return false;
	}
	data_len = out_len ? out_len : in_len;
	if (data_len + req->pi_out + req->pi_in > TVH_MAX_IO_BYTES) {
		tvh_guest_err(vq, "request %d: %zu data bytes, at most %u\n",
			      head, data_len, TVH_MAX_IO_BYTES);
		return false;
	}
	req->data_len = data_len;
	req->dir = out_len ? DMA_TO_DEVICE :
		   in_len ? DMA_FROM_DEVICE : DMA_NONE;
	return true;
}

/*
 * A free command of @tvq for the request at @head, filled in from @req, or
 * NULL when all are in flight.  Not LIVE yet: group TMFs do not see it.
 */
static struct tvh_cmd *tvh_io_get_cmd(struct tvh_vq *tvq, int head,
				      const struct tvh_req *req)
{
	struct tvh_cmd *cmd;
	int tag, inflight;

	tag = sbitmap_get(&tvq->tags);
	if (tag < 0)
		return NULL;
	inflight = atomic_inc_return(&tvq->inflight);
	tvh_stat_max(&tvq->vq, TVH_STAT_INFLIGHT_MAX, inflight);
	cmd = &tvq->cmds[tag];
	cmd->seq = tvq->taken++;
	memset(&cmd->se_cmd, 0, sizeof(cmd->se_cmd));
	/*
	 * target_core builds its sense in place and sets only the bytes it
	 * needs: the rest must not be the last command's (another LUN's
	 * INFORMATION field, say).
	 */
	memset(cmd->sense, 0, sizeof(cmd->sense));
	/* A new generation; a scan that looked at the last one leaves it. */
	WRITE_ONCE(cmd->flags, (READ_ONCE(cmd->flags) & ~TVH_CMD_BITS) +
			       TVH_CMD_GEN_ONE);
	smp_wmb();	/* pairs with the second smp_rmb() in tvh_tmf_scan_cmd() */
	cmd->head = head;
	WRITE_ONCE(cmd->target, req->target);
	WRITE_ONCE(cmd->lun, req->unpacked_lun);
	WRITE_ONCE(cmd->id, req->id);
	cmd->data_len = req->data_len;
	cmd->prot_len = req->dir == DMA_TO_DEVICE ? req->pi_out : req->pi_in;
	memcpy(cmd->cdb, req->cdb, sizeof(cmd->cdb));
	if (req->dir == DMA_FROM_DEVICE)
		__set_bit(TVH_CMD_DATA_IN, &cmd->flags);
	cmd->taken_ns = trace_tvh_cmd_done_enabled() ? ktime_get_ns() : 0;
	return cmd;
}

/* Give back a command that was never submitted nor wrote guest memory. */
static void tvh_io_put_unsubmitted(struct tvh_cmd *cmd)
{
	__set_bit(TVH_CMD_ANSWER_QUEUED, &cmd->flags);
	__clear_bit(TVH_CMD_DATA_IN, &cmd->flags);
	tvh_io_recycle(cmd);
}

/*
 * What @cmd needs of guest memory: where its response goes, a copy of the
 * dirty log entries, its PI and data pinned (@out or @in, after the
 * header), then aligned copies where those are needed.  -EBUSY when the
 * device holds its share of copies already.
 */
static int tvh_io_map(struct tvh_cmd *cmd, struct vhost_virtqueue *vq,
		      unsigned int out_num, unsigned int in_num,
		      struct iov_iter *out, struct iov_iter *in, int dir)
{
	struct iov_iter *data = dir == DMA_TO_DEVICE ? out : in;
	struct tvh_vq *tvq = cmd->tvq;
	int ret;

	ret = tvh_io_save_resp(cmd, &vq->iov[out_num], in_num);
	if (ret)
		return ret;
	if (tvq->log_num) {
		cmd->log = kmemdup(tvq->log, tvq->log_num * sizeof(*tvq->log),
				   GFP_KERNEL_ACCOUNT);
		if (!cmd->log)
			return -ENOMEM;
		WRITE_ONCE(cmd->log_num, tvq->log_num);
	}
	if (dir != DMA_NONE) {
		ret = tvh_map_pin(&cmd->prot, data, cmd->prot_len);
		if (!ret)
			ret = tvh_map_pin(&cmd->data, data, cmd->data_len);
		if (ret)
			return ret;
	}
	ret = tvh_map_bounce(cmd, dir);
	if (!ret)
		ret = tvh_map_bounce_prot(cmd, dir);
	return ret;
}

/* One request chain as taken off a request queue. */
struct tvh_io_desc {
	int head;
	unsigned int out_num, in_num;
	struct iov_iter out;		/* after the request header */
	struct iov_iter in;		/* after the response header */
	struct iov_iter resp;		/* the response header */
};

/*
 * Take a command for a checked request and hand it to target_core; the
 * failures on the way are answered here.
 */
static int tvh_io_start(struct vhost_virtqueue *vq, struct se_session *sess,
			struct tvh_req *req, struct tvh_io_desc *d)
{
	struct tvh_vq *tvq = to_tvh_vq(vq);
	struct tvh_cmd *cmd;
	int ret;

	if (unlikely(!tvq->cmds) && tvh_io_pool_create(tvq)) {
		tvh_guest_err(vq, "request %d: no memory for the command pool\n",
			      d->head);
		goto answer_failure;
	}
	cmd = tvh_io_get_cmd(tvq, d->head, req);
	if (!cmd) {
		trace_tvh_queue_full(tvh_vq_index(vq), d->head,
				     atomic_read(&tvq->inflight));
		tvh_io_send_resp(vq, &d->resp, d->head, VIRTIO_SCSI_S_OK,
				 SAM_STAT_TASK_SET_FULL, NULL, 0);
		return TVH_ANSWERED;
	}
	trace_tvh_cmd_taken(tvh_vq_index(vq), d->head, req->id, req->target,
			    req->unpacked_lun, req->cdb[0], req->data_len,
			    req->dir);
	/* Counted before mapping: a request that fails late cost the pinning. */
	tvq->pass_bytes += req->data_len;
	ret = tvh_io_map(cmd, vq, d->out_num, d->in_num, &d->out, &d->in,
			 req->dir);
	if (ret == -EBUSY)
		goto put_cmd_busy;
	if (ret) {
		tvh_guest_err(vq, "request %d: cannot map the guest buffers: %d\n",
			      d->head, ret);
		goto put_cmd;
	}

	/* Pairs with the test_bit() and smp_rmb() in tvh_tmf_scan_cmd(). */
	smp_mb__before_atomic();
	set_bit(TVH_CMD_LIVE, &cmd->flags);
	tvh_io_submit(cmd, sess, req);
	return TVH_SUBMITTED;

put_cmd_busy:
	/* The device holds TVH_MAX_BOUNCE_PAGES already: let the guest retry. */
	tvh_io_put_unsubmitted(cmd);
	tvh_io_send_resp(vq, &d->resp, d->head, VIRTIO_SCSI_S_OK,
			 SAM_STAT_BUSY, NULL, 0);
	return TVH_ANSWERED;
put_cmd:
	tvh_io_put_unsubmitted(cmd);
answer_failure:
	tvh_io_send_resp(vq, &d->resp, d->head, VIRTIO_SCSI_S_FAILURE, 0,
			 NULL, 0);
	return TVH_ANSWERED;
}

/* Take one request off the ring and answer or submit it. */
int tvh_io_handle_one(struct vhost_virtqueue *vq,
		      struct tvh_tpg **targets)
{
	struct se_session *sess;
	struct tvh_io_desc d;
	struct tvh_req req;

	d.head = tvh_vq_get_desc(vq, &d.out_num, &d.in_num);
	if (d.head < 0)
		return d.head;	/* the vhost core has logged it */
	if (d.head == vq->num)
		return TVH_EMPTY;

	tvh_vq_desc_iters(vq, d.out_num, d.in_num, &d.out, &d.in);
	if (iov_iter_count(&d.in) < sizeof(struct virtio_scsi_cmd_resp)) {
		tvh_guest_err(vq, "request %d: %zu bytes for a %zu byte response, dropped\n",
			      d.head, iov_iter_count(&d.in),
			      sizeof(struct virtio_scsi_cmd_resp));
		vhost_add_used(vq, d.head, 0);
		return TVH_ANSWERED;
	}
	d.resp = d.in;
	iov_iter_advance(&d.in, sizeof(struct virtio_scsi_cmd_resp));

	if (!tvh_io_read_header(vq, &d.out, &req)) {
		tvh_guest_err(vq, "request %d: short or unreadable header\n",
			      d.head);
		tvh_io_send_resp(vq, &d.resp, d.head, VIRTIO_SCSI_S_FAILURE,
				 0, NULL, 0);
		return TVH_ANSWERED;
	}
	sess = tvh_io_session(targets, &req);
	if (unlikely(!sess)) {
		tvh_io_send_resp(vq, &d.resp, d.head, VIRTIO_SCSI_S_BAD_TARGET,
				 0, NULL, 0);
		return TVH_ANSWERED;
	}
	if (!tvh_io_check(vq, d.head, &req, iov_iter_count(&d.out),
			  iov_iter_count(&d.in))) {
		tvh_io_check_condition(vq, &d.resp, d.head,
				       TVH_ASC_INVALID_FIELD_IN_CDB);
		return TVH_ANSWERED;
	}
	return tvh_io_start(vq, sess, &req, &d);
}

/* A request queue was kicked: the vhost worker runs this. */
void tvh_io_handle_kick(struct vhost_work *work)
{
	struct vhost_virtqueue *vq = container_of(work, struct vhost_virtqueue,
						  poll.work);
	struct tvh_charge charge;

	if (tvh_vq_thread_wake(to_tvh_vq(vq), TVH_VQ_KICK))
		return;
	tvh_charge_begin(&charge, vq->dev->mm);
	tvh_vq_serve(vq, tvh_io_handle_one, 0);
	tvh_charge_end(&charge);
}

/*
 * A command taken from @tvq before dirty logging was switched on is in
 * flight: it has no log, so what it writes into guest memory would escape
 * the migration.  A command taken while logging always has a log, if only
 * for its response descriptor.  Tags are taken and logs attached under the
 * queue's mutex, which is why this looks under it.
 */
static bool tvh_io_unlogged_inflight(struct tvh_vq *tvq)
{
	bool found = false;
	unsigned int i;

	mutex_lock(&tvq->vq.mutex);
	for (i = 0; i < tvq->ncmds && !found; i++)
		found = sbitmap_test_bit(&tvq->tags, i) &&
			!READ_ONCE(tvq->cmds[i].log_num);
	mutex_unlock(&tvq->vq.mutex);
	return found;
}

/* Does anything taken from queue @i before logging still owe an answer? */
static bool tvh_vq_owes_unlogged(struct tvh_dev *vdev, int i, u32 unused)
{
	if (i == VHOST_SCSI_VQ_CTL)
		return atomic_read(&vdev->tmf_unlogged);
	if (i == VHOST_SCSI_VQ_EVT)
		return false;	/* events are written where they are taken */
	return tvh_io_unlogged_inflight(&vdev->vqs[i]);
}

/*
 * Sleep until @owes(@vdev, @i, @mark) is false; every TVH_DRAIN_REPORT of
 * it, say what waits (@what).  Returns 0, or -EINTR if the caller got a
 * fatal signal meanwhile.
 */
static int tvh_io_wait_queue(struct tvh_dev *vdev, int i,
			     bool (*owes)(struct tvh_dev *vdev, int i, u32 mark),
			     u32 mark, const char *what)
{
	unsigned long report = jiffies + TVH_DRAIN_REPORT;

	while (owes(vdev, i, mark)) {
		if (fatal_signal_pending(current))
			return -EINTR;
		if (time_after(jiffies, report)) {
			pr_warn("%s: %s waits for commands taken before it\n",
				vdev->wwpn, what);
			report = jiffies + TVH_DRAIN_REPORT;
		}
		usleep_range(500, 1000);
	}
	return 0;
}

/**
 * tvh_io_wait_unlogged - wait out the commands taken before dirty logging
 * @vdev: the device, dev.mutex held, VHOST_F_LOG_ALL acked on every queue
 *
 * Live migration switches logging on under I/O.  Once this returns, every
 * command still in flight logs what it writes, so no page the guest gets
 * data in is missed by the VMM's first pass over the dirty log.  Commands
 * are not cancelled: this waits as long as the backstore takes, as endpoint
 * teardown does (a QEMU that cannot start logging aborts).
 *
 * Returns 0, or -EINTR if the caller got a fatal signal while waiting.
 */
int tvh_io_wait_unlogged(struct tvh_dev *vdev)
{
	int i, ret = 0;

	lockdep_assert_held(&vdev->dev.mutex);
	for (i = VHOST_SCSI_VQ_CTL; i < vdev->nvqs && !ret; i++)
		ret = tvh_io_wait_queue(vdev, i, tvh_vq_owes_unlogged, 0,
					"dirty logging");
	return ret;
}

/*
 * Mark where queue @i stands: what is taken from it from now on is not
 * waited for.  The control queue's TMFs change epoch.
 */
static u32 tvh_vq_taken_mark(struct tvh_dev *vdev, int i)
{
	struct vhost_virtqueue *vq = &vdev->vqs[i].vq;
	u32 mark;

	mutex_lock(&vq->mutex);
	if (i == VHOST_SCSI_VQ_CTL) {
		mark = vdev->tmf_epoch & 1;
		vdev->tmf_epoch++;
	} else {
		mark = vdev->vqs[i].taken;
	}
	mutex_unlock(&vq->mutex);
	return mark;
}

/* Does something taken from queue @i before @mark still owe an answer? */
static bool tvh_vq_owes_taken(struct tvh_dev *vdev, int i, u32 mark)
{
	struct tvh_vq *tvq = &vdev->vqs[i];
	bool found = false;
	unsigned int t;

	if (i == VHOST_SCSI_VQ_CTL)
		return atomic_read(&vdev->tmf_taken[mark]);
	mutex_lock(&tvq->vq.mutex);
	for (t = 0; t < tvq->ncmds && !found; t++)
		found = sbitmap_test_bit(&tvq->tags, t) &&
			(s32)(mark - tvq->cmds[t].seq) > 0;
	mutex_unlock(&tvq->vq.mutex);
	return found;
}

/**
 * tvh_io_wait_taken - wait for the answers of what the guest sent so far
 * @vdev: the device, dev.mutex held
 *
 * For the vhost core's device ioctls (memory table, log base): a command
 * or TMF taken before holds addresses of the VMM's that the old table
 * translated, and a VMM may unmap them once its ioctl returns.  Once this
 * returns, each has written its answer.  Commands taken meanwhile are not
 * waited for.  A TMF taken before is answered once no command is owed an
 * answer before a TMF's (tmf_owed counts for the whole device), so a
 * guest that keeps resetting a busy LUN can hold this wait, and its own
 * VMM, until it stops (or the VMM is killed).
 *
 * Returns 0, or -EINTR if the caller got a fatal signal while waiting.
 */
int tvh_io_wait_taken(struct tvh_dev *vdev)
{
	int i, ret = 0;

	lockdep_assert_held(&vdev->dev.mutex);
	for (i = VHOST_SCSI_VQ_CTL; i < vdev->nvqs && !ret; i++) {
		if (i == VHOST_SCSI_VQ_EVT)
			continue;	/* events are written where they are taken */
		ret = tvh_io_wait_queue(vdev, i, tvh_vq_owes_taken,
					tvh_vq_taken_mark(vdev, i),
					"a memory table or log change");
	}
	return ret;
}

/* Pool size for a ring: every slot plus room for late releases. */
static unsigned int tvh_io_pool_size(unsigned int num)
{
	return min_t(unsigned int, num + num / 8 + 1, 4096);
}

/**
 * tvh_io_pool_create - preallocate the commands of a request queue
 * @tvq: a request queue whose ring is set up
 *
 * Each command owns inline_sg scatterlist entries, carved from one array
 * shared by the pool, so that ordinary I/O never allocates.  That array is
 * virtually contiguous only: at 145 commands of 64 entries it is 290 KiB,
 * which kmalloc would round up to 512.
 * Runs at SET_ENDPOINT (backend unset), or in the queue's worker with its
 * mutex held on the first request of a ring set up after the endpoint.  A
 * group TMF may scan the queue meanwhile: the pool is published last.
 */
int tvh_io_pool_create(struct tvh_vq *tvq)
{
	unsigned int n = tvh_io_pool_size(tvq->vq.num);
	/* One value for the whole pool: the parameter is writable (0644). */
	unsigned int inline_sg = READ_ONCE(tvh_inline_sg);
	struct scatterlist *sgl;
	struct tvh_cmd *cmds;
	unsigned int i;
	int ret = -ENOMEM;

	cmds = kvcalloc(n, sizeof(*cmds), GFP_KERNEL_ACCOUNT);
	if (!cmds)
		goto out;
	sgl = __vmalloc(array3_size(n, inline_sg, sizeof(*sgl)),
			GFP_KERNEL_ACCOUNT | __GFP_ZERO);
	if (!sgl)
		goto out_free_cmds;
	ret = sbitmap_init_node(&tvq->tags, n, -1, GFP_KERNEL, NUMA_NO_NODE,
				false, true);
	if (ret)
		goto out_free_sgl;

	for (i = 0; i < n; i++) {
		struct tvh_cmd *cmd = &cmds[i];

		cmd->tvq = tvq;
		cmd->tag = i;
		cmd->resp_iov = cmd->resp_iov_inline;
		cmd->data.own_sgl = sgl + i * inline_sg;
		cmd->data.own_cap = inline_sg;
		cmd->data.sgl = cmd->data.own_sgl;
		cmd->data.cap = inline_sg;
		/* PI is rare: its list is allocated per command. */
	}
	tvq->ncmds = n;
	atomic_set(&tvq->inflight, 0);
	atomic_set(&tvq->offloaded, 0);
	/* Pairs with smp_load_acquire() in tvh_tmf_scan_all(). */
	smp_store_release(&tvq->cmds, cmds);
	return 0;

out_free_sgl:
	vfree(sgl);
out_free_cmds:
	kvfree(cmds);
out:
	return ret;
}

/* Free a pool; every command must be back (inflight == 0). */
void tvh_io_pool_destroy(struct tvh_vq *tvq)
{
	if (!tvq->cmds)
		return;
	WARN_ON(atomic_read(&tvq->inflight));
	sbitmap_free(&tvq->tags);
	vfree(tvq->cmds[0].data.own_sgl);
	kvfree(tvq->cmds);
	tvq->cmds = NULL;
	tvq->ncmds = 0;
}
