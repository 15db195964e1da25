// SPDX-License-Identifier: GPL-2.0
/*
 * Virtqueue machinery that every queue of a device uses: taking a descriptor
 * chain, writing a response into it (with its dirty log), the bounded serve
 * loop, the request queues' kick hook and the threads that serve them.
 *
 * What a request means is for tcm_vhost_io.c (request queues) and
 * tcm_vhost_ctl.c (control and event queues); this file only moves chains.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cgroup.h>
#include <linux/completion.h>
#include <linux/hrtimer.h>
#include <linux/kcov.h>
#include <linux/kthread.h>
#include <linux/llist.h>
#include <linux/sched/clock.h>
#include <linux/sched/mm.h>
#include <linux/sched/stat.h>
#include <linux/slab.h>
#include <linux/tick.h>
#include <linux/timekeeping.h>
#include <scsi/scsi_proto.h>

#include "tcm_vhost.h"

/**
 * tvh_vq_get_desc - take the next descriptor chain of @vq into vq->iov
 * @vq: the queue, mutex held
 * @out_num: device-readable iovecs, first in vq->iov
 * @in_num: device-writable iovecs, after them
 *
 * Returns the head, vq->num when the ring is empty, or a negative errno
 * (the vhost core has logged it).  While dirty logging is on (live
 * migration), the writable descriptors are also recorded in tvq->log.
 */
int tvh_vq_get_desc(struct vhost_virtqueue *vq, unsigned int *out_num,
		    unsigned int *in_num)
{
	struct tvh_vq *tvq = to_tvh_vq(vq);
	bool logging = vhost_has_feature(vq, VHOST_F_LOG_ALL);

	lockdep_assert_held(&vq->mutex);

	tvq->log_num = 0;
	return vhost_get_vq_desc(vq, vq->iov, ARRAY_SIZE(vq->iov), out_num,
				 in_num, logging ? tvq->log : NULL,
				 logging ? &tvq->log_num : NULL);
}

/*
 * Describe the chain tvh_vq_get_desc() just took: @out over its device-readable
 * part (the request), @in over its device-writable part (the response).
 */
void tvh_vq_desc_iters(struct vhost_virtqueue *vq, unsigned int out_num,
		       unsigned int in_num, struct iov_iter *out,
		       struct iov_iter *in)
{
	iov_iter_init(out, ITER_SOURCE, vq->iov, out_num,
		      iov_length(vq->iov, out_num));
	iov_iter_init(in, ITER_DEST, &vq->iov[out_num], in_num,
		      iov_length(&vq->iov[out_num], in_num));
}

/*
 * Mark the first @len bytes of the writable descriptors in @log dirty:
 * what we just wrote into guest memory.  Under the queue's mutex, so the
 * log base cannot change underneath (CVE-2025-38074).  A log that cannot
 * be written is reported on the queue's error eventfd: the VMM must not
 * believe a migration that lost dirty pages.  Nothing is written once
 * logging is off, whenever the command was taken: a VMM that cancels a
 * migration frees the log without setting another base.
 */
void tvh_vq_log_write(struct vhost_virtqueue *vq, struct vhost_log *log,
		      unsigned int log_num, u64 len)
{
	u64 room = 0;
	unsigned int i;

	lockdep_assert_held(&vq->mutex);
	if (!vhost_has_feature(vq, VHOST_F_LOG_ALL))
		return;
	/* vhost_log_write() BUGs on more than the descriptors hold. */
	for (i = 0; i < log_num; i++)
		room += log[i].len;
	len = min(len, room);
	if (log_num && len &&
	    vhost_log_write(vq, log, log_num, len, NULL, 0) < 0) {
		tvh_guest_err(vq, "cannot write the dirty log\n");
		vq_err(vq, "dirty log not writable\n");
	}
}

/*
 * Write the @len bytes of @resp at the start of a chain's writable part
 * @in.  A guest whose buffer is too small is told in the kernel log; its
 * chain is returned all the same.
 */
void tvh_vq_put_resp(struct vhost_virtqueue *vq, struct iov_iter *in,
		     unsigned int head, const void *resp, size_t len)
{
	if (copy_to_iter(resp, len, in) != len)
		tvh_guest_err(vq, "chain %u: no room for the %zu-byte response\n",
			      head, len);
}

/**
 * tvh_vq_answer - answer a chain with a response and nothing else
 * @vq: the queue, mutex held
 * @in: the chain's writable part (consumed)
 * @head: the chain, as tvh_vq_get_desc() returned it
 * @resp: the response
 * @len: its size, the used length the guest sees
 *
 * The response is dirty-logged with the chain's descriptors; the caller
 * signals the guest.
 */
void tvh_vq_answer(struct vhost_virtqueue *vq, struct iov_iter *in,
		   unsigned int head, const void *resp, size_t len)
{
	struct tvh_vq *tvq = to_tvh_vq(vq);

	lockdep_assert_held(&vq->mutex);
	tvh_vq_put_resp(vq, in, head, resp, len);
	tvh_vq_log_write(vq, tvq->log, tvq->log_num, len);
	vhost_add_used(vq, head, len);
}

/* Have the queue's thread do @what; false if the queue has no thread. */
bool tvh_vq_thread_wake(struct tvh_vq *tvq, enum tvh_vq_pending what)
{
	struct tvh_vq_thread *thread;
	bool woken = false;

	rcu_read_lock();
	thread = rcu_dereference(tvq->thread);
	if (thread) {
		set_bit(what, &tvq->pending);
		/* Pairs with set_current_state() in tvh_vq_thread(). */
		smp_mb__after_atomic();
		wake_up_process(thread->task);
		woken = true;
	}
	rcu_read_unlock();
	return woken;
}

/* Signal the guest for what was just added to @vq's used ring (mutex held). */
void tvh_vq_signal(struct vhost_virtqueue *vq)
{
	tvh_stat_add(vq, TVH_STAT_SIGNALS, 1);
	vhost_signal(vq->dev, vq);
}

/*
 * A kick since the last pass over @tvq starts its count of requests taken
 * per kick again (vq.mutex held).
 */
static void tvh_vq_count_kicks(struct tvh_vq *tvq)
{
	u64 kicks = READ_ONCE(tvq->stats[TVH_STAT_KICKS]);

	lockdep_assert_held(&tvq->vq.mutex);
	if (kicks != tvq->kicks_seen) {
		tvq->kicks_seen = kicks;
		tvq->taken_since_kick = 0;
	}
}

/**
 * tvh_vq_serve - take requests off a queue until it is empty or has had
 * its share
 * @vq: the queue; its poll work or its thread runs this
 * @handle_one: takes one chain; returns enum tvh_pass or a negative errno
 * @flags: TVH_SERVE_POLL: the caller polls the ring next, so the guest's
 *	kicks stay off when it runs dry (tvh_vq_poll_end() turns them on),
 *	if the guest sent TVH_POLL_MIN_BATCH requests or more since its last
 *	kick: one that waits for each answer before it sends the next request
 *	would come back after the polling window, which then only took CPU
 *	from it
 *
 * After TVH_WEIGHT requests or TVH_BYTE_WEIGHT bytes of data the pass is
 * requeued so that other queues and devices get the CPU, and the answers
 * finished meanwhile go out, however busy the guest keeps this ring.  The
 * guest is signalled once per pass for everything answered in it.
 */
void tvh_vq_serve(struct vhost_virtqueue *vq,
		  int (*handle_one)(struct vhost_virtqueue *vq,
				    struct tvh_tpg **targets),
		  unsigned int flags)
{
	struct tvh_vq *tvq = to_tvh_vq(vq);
	struct vhost_dev *dev = vq->dev;
	struct tvh_tpg **targets;
	bool answered = false;
	int handled = 0;
	int ret;

	mutex_lock(&vq->mutex);
	targets = vhost_vq_get_backend(vq);
	if (!targets)
		goto out;

	vhost_disable_notify(dev, vq);
	tvq->kicks_off = false;
	tvq->pass_bytes = 0;
	tvh_vq_count_kicks(tvq);
	do {
		ret = handle_one(vq, targets);
		if (ret == TVH_EMPTY) {
			if ((flags & TVH_SERVE_POLL) &&
			    tvq->taken_since_kick >= TVH_POLL_MIN_BATCH) {
				tvq->kicks_off = true;
				break;
			}
			/* Recheck after enabling: the guest may have raced. */
			if (unlikely(vhost_enable_notify(dev, vq))) {
				vhost_disable_notify(dev, vq);
				continue;
			}
			break;
		}
		/* A ring we cannot read waits for a kick or reset, unpolled. */
		if (ret < 0)
			break;
		if (tvq->taken_since_kick < TVH_POLL_MIN_BATCH)
			tvq->taken_since_kick++;
		tvh_stat_add(vq, TVH_STAT_REQUESTS, 1);
		if (ret == TVH_ANSWERED)
			answered = true;
	} while (!vhost_exceeds_weight(vq, ++handled, tvq->pass_bytes));

	if (answered)
		tvh_vq_signal_answers(tvq, false);
out:
	mutex_unlock(&vq->mutex);
}

/**
 * tvh_vq_signal_answers - signal the guest for answers just put on the ring
 * @tvq: the queue, vq.mutex held
 * @may_delay: the queue's thread calls, and will send a held signal in time
 *
 * With signal_delay_us, a signal waits while the queue has more commands in
 * flight, so that one interrupt covers their answers too; for about
 * signal_delay_us after the first answer it holds at most (the thread looks
 * at its deadlines between passes).  A queue with nothing more in flight (a
 * lone command at QD1, say) is signalled at once.
 */
void tvh_vq_signal_answers(struct tvh_vq *tvq, bool may_delay)
{
	unsigned int delay_us = READ_ONCE(tvh_signal_delay_us);
	struct vhost_virtqueue *vq = &tvq->vq;
	u64 now;

	lockdep_assert_held(&vq->mutex);
	/* Heads taken off the avail ring and not on the used ring yet. */
	if (may_delay && delay_us && vq->last_avail_idx != vq->last_used_idx) {
		now = ktime_get_ns();
		if (!tvq->signal_due) {
			WRITE_ONCE(tvq->signal_due,
				   now + (u64)delay_us * NSEC_PER_USEC);
			tvh_stat_add(vq, TVH_STAT_SIGNALS_HELD, 1);
			return;
		}
		if (now < tvq->signal_due)
			return;
	}
	WRITE_ONCE(tvq->signal_due, 0);
	tvh_vq_signal(vq);
}

/* Send the signal held back on @tvq, if there is one (vq.mutex held). */
void tvh_vq_signal_held(struct tvh_vq *tvq)
{
	lockdep_assert_held(&tvq->vq.mutex);
	if (tvq->signal_due)
		tvh_vq_signal_answers(tvq, false);
}

/*
 * Send the signals held back on @thread's queues whose time has come (all
 * of them with @all, as the thread stops).  Returns the earliest deadline
 * still ahead, in ktime_get_ns(), or 0.
 */
static u64 tvh_vq_thread_signal_due(struct tvh_vq_thread *thread, bool all)
{
	u64 now = 0, next = 0, due;
	unsigned int i;

	for (i = 0; i < thread->nqueues; i++) {
		struct tvh_vq *tvq = thread->queues[i];

		due = READ_ONCE(tvq->signal_due);
		if (!due)
			continue;
		if (!now)
			now = ktime_get_ns();
		if (due > now && !all) {
			if (!next || due < next)
				next = due;
			continue;
		}
		mutex_lock(&tvq->vq.mutex);
		tvh_vq_signal_held(tvq);
		mutex_unlock(&tvq->vq.mutex);
	}
	return next;
}

/*
 * The guest's kick eventfd fired (any context, the eventfd's wait queue lock
 * held).  A queue with a thread wakes it here, saving the vhost worker's
 * wake-up that would only pass the kick on; otherwise this does what the
 * vhost core's own poll callback does.
 */
static int tvh_vq_kick_wakeup(wait_queue_entry_t *wait, unsigned int mode,
			      int sync, void *key)
{
	struct vhost_poll *poll = container_of(wait, struct vhost_poll, wait);
	struct tvh_vq *tvq = container_of(poll, struct tvh_vq, vq.poll);

	if (!(key_to_poll(key) & poll->mask))
		return 0;
	WRITE_ONCE(tvq->stats[TVH_STAT_KICKS], tvq->stats[TVH_STAT_KICKS] + 1);
	if (!tvh_vq_thread_wake(tvq, TVH_VQ_KICK))
		vhost_poll_queue(poll);
	return 0;
}

/* At open, after vhost_dev_init(): request queue kicks go through us. */
void tvh_vq_init_kick(struct tvh_vq *tvq)
{
	tvh_vq_poll_set_wakeup(&tvq->vq.poll, tvh_vq_kick_wakeup);
}

/* Is the ring of @tvq, whose kicks are off, holding requests? */
static bool tvh_vq_poll_ring(struct tvh_vq *tvq)
{
	struct vhost_virtqueue *vq = &tvq->vq;
	bool found;

	mutex_lock(&vq->mutex);
	found = vhost_vq_get_backend(vq) && !vhost_vq_avail_empty(vq->dev, vq);
	if (found)
		tvh_stat_add(vq, TVH_STAT_POLLED, 1);
	mutex_unlock(&vq->mutex);
	return found;
}

/*
 * The thread stops polling @tvq: the guest's kicks go back on, and requests
 * that came in meanwhile are marked for the thread.
 */
static void tvh_vq_poll_end(struct tvh_vq *tvq)
{
	struct vhost_virtqueue *vq = &tvq->vq;
	bool more;

	if (!tvq->kicks_off)
		return;
	mutex_lock(&vq->mutex);
	tvq->kicks_off = false;
	more = vhost_enable_notify(vq->dev, vq);
	mutex_unlock(&vq->mutex);
	if (more)
		set_bit(TVH_VQ_KICK, &tvq->pending);
}

/* No ring of @thread stays muted, so no deadline for that is due. */
static void tvh_vq_thread_poll_end(struct tvh_vq_thread *thread)
{
	unsigned int i;

	thread->kicks_due = 0;
	for (i = 0; i < thread->nqueues; i++)
		tvh_vq_poll_end(thread->queues[i]);
}

/*
 * Host polling: instead of sleeping until the guest kicks (an exit of the
 * guest each time), look at the rings whose kicks are off until one holds
 * requests, other work is pending, or @poll_us passed since the last work;
 * then the kicks go back on.  Polling also stops while the CPU is wanted by
 * anyone else: any other runnable task on this CPU, not only one the
 * scheduler would switch to now, since a vCPU thread sharing the CPU would
 * otherwise lose up to half of it to the polling, which then slows the
 * guest it serves.  The kicks then stay off for the rest of the window
 * while the thread sleeps (thread->kicks_due): a kick turned on again
 * would cost the guest an exit for its next request, with EVENT_IDX even
 * if the thread muted the ring again before it came.  A signal held back is
 * sent when @due (ktime_get_ns(), or 0), polling on.  The thread runs in
 * the owner's cgroups, so the CPU it spends here is charged to the guest.
 */
static void tvh_vq_thread_poll(struct tvh_vq_thread *thread,
			       unsigned int poll_us, u64 due)
{
	u64 end = local_clock() + (u64)poll_us * NSEC_PER_USEC;
	unsigned int i;
	u64 now;

	thread->kicks_due = 0;
	do {
		bool polling = false;

		if (due && ktime_get_ns() >= due)
			due = tvh_vq_thread_signal_due(thread, false);

		for (i = 0; i < thread->nqueues; i++) {
			struct tvh_vq *tvq = thread->queues[i];

			if (READ_ONCE(tvq->pending))
				return;
			if (!tvq->kicks_off)
				continue;
			if (tvh_vq_poll_ring(tvq)) {
				set_bit(TVH_VQ_KICK, &tvq->pending);
				return;
			}
			polling = true;
		}
		if (!polling)
			return;
		cpu_relax();
		now = local_clock();
	} while (!need_resched() && single_task_running() &&
		 !kthread_should_stop() && now < end);

	if (now < end && !kthread_should_stop())
		thread->kicks_due = ktime_get_ns() + (end - now);
	else
		tvh_vq_thread_poll_end(thread);
}

/*
 * Polling stopped early and its window has passed: turn the kicks of the
 * rings still muted back on (any requests that came meanwhile are marked
 * for the thread).  Returns the deadline still ahead, or 0.
 */
static u64 tvh_vq_thread_kicks_due(struct tvh_vq_thread *thread)
{
	if (thread->kicks_due && ktime_get_ns() >= thread->kicks_due)
		tvh_vq_thread_poll_end(thread);
	return thread->kicks_due;
}

/*
 * Answer finished commands, then take new requests, on each queue.  A
 * polling thread (TVH_SERVE_POLL) looks at the ring after answering too:
 * the guest sends its next request once it sees the answers, and that pass
 * turns its kicks off for the polling that follows.  Polling may have
 * ended, kicks on, only because the backstore's completion work became
 * runnable on this CPU.
 */
static void tvh_vq_thread_pass(struct tvh_vq_thread *thread,
			       unsigned int flags)
{
	unsigned int i;

	for (i = 0; i < thread->nqueues; i++) {
		struct tvh_vq *tvq = thread->queues[i];
		bool serve = test_and_clear_bit(TVH_VQ_KICK, &tvq->pending);

		if (test_and_clear_bit(TVH_VQ_DONE, &tvq->pending)) {
			tvh_io_flush_answers(tvq, true);
			serve |= !!(flags & TVH_SERVE_POLL);
		}
		if (serve)
			tvh_vq_serve(&tvq->vq, tvh_io_handle_one, flags);
	}
}

/*
 * Refresh thread->idle_spare of a thread with an executor, at most every
 * TVH_IDLE_SAMPLE_NS: did the CPUs this thread may run on (the owner's
 * cpuset) have at least half a CPU's worth of the interval since the last
 * sample to spare, idle or already running the executor?  Only then is
 * handing commands to the executor worth a wake-up: the scheduler would
 * otherwise put it on a busy CPU, a vCPU's perhaps.  The executor's own
 * time counts as spare because it is this thread's work moved over: were
 * it left out, a busy executor would make its CPU look taken, offload
 * would stop, the CPU would go idle and offload would start again.  An
 * idle CPU's current idle period counts; without NOHZ no idle time is
 * known, and nothing is spare.
 */
static void tvh_vq_thread_sample_idle(struct tvh_vq_thread *thread)
{
	u64 now = ktime_get_ns(), idle = 0, t, exec_ns, spare_ns;
	int cpu;

	if (!thread->exec_task || now - thread->idle_at_ns < TVH_IDLE_SAMPLE_NS)
		return;
	for_each_cpu_and(cpu, current->cpus_ptr, cpu_online_mask) {
		t = get_cpu_idle_time_us(cpu, NULL);
		if (t == (u64)-1) {
			idle = 0;
			break;
		}
		idle += t;
	}
	exec_ns = READ_ONCE(thread->exec_busy_ns);
	spare_ns = exec_ns - thread->exec_seen_ns;
	if (idle > thread->idle_us)
		spare_ns += (idle - thread->idle_us) * NSEC_PER_USEC;
	thread->idle_spare = thread->idle_at_ns && idle &&
		spare_ns * 2 >= now - thread->idle_at_ns;
	thread->idle_us = idle;
	thread->exec_seen_ns = exec_ns;
	thread->idle_at_ns = now;
}

/*
 * Coverage of a thread's work goes to the owner's KCOV remote handle, if it
 * has one (a coverage-guided fuzzer), as the vhost worker's does.
 */
static void tvh_vq_kcov_start(struct tvh_vq_thread *thread)
{
	if (thread->kcov_handle)
		kcov_remote_start_common(thread->kcov_handle);
}

static void tvh_vq_kcov_stop(struct tvh_vq_thread *thread)
{
	if (thread->kcov_handle)
		kcov_remote_stop();
}

/*
 * A queue thread's executor: submits what the queue thread hands it
 * (tvh_io_offload()), oldest first, then sleeps until handed more.
 */
static int tvh_vq_exec_thread(void *data)
{
	struct tvh_vq_thread *thread = data;
	struct llist_node *list;
	struct tvh_charge charge;

	thread->start_ret = cgroup_attach_task_all(thread->owner, current);
	complete(&thread->started);
	tvh_charge_begin(&charge, thread->vdev->dev.mm);

	for (;;) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (kthread_should_stop()) {
			__set_current_state(TASK_RUNNING);
			break;
		}
		/* Pairs with llist_add() in tvh_io_offload(). */
		list = llist_del_all(&thread->exec_cmds);
		if (!list) {
			schedule();
			continue;
		}
		__set_current_state(TASK_RUNNING);
		tvh_vq_kcov_start(thread);
		tvh_io_exec_list(llist_reverse_order(list),
				 &thread->exec_busy_ns);
		tvh_vq_kcov_stop(thread);
		cond_resched();
	}
	WARN_ON_ONCE(!llist_empty(&thread->exec_cmds));
	tvh_charge_end(&charge);
	return 0;
}

/* Sleep until woken, or until @due (ktime_get_ns()) if not 0. */
static void tvh_vq_thread_sleep(u64 due)
{
	ktime_t expires = ns_to_ktime(due);

	if (due)
		schedule_hrtimeout_range(&expires, TVH_SIGNAL_SLACK_NS,
					 HRTIMER_MODE_ABS);
	else
		schedule();
}

/*
 * A request queue thread: passes over its queues while any has work
 * pending, polls them for a while if poll_us says so, then sleeps until
 * woken by a kick or a completion, or until a signal it holds back is due.
 * Each pass over a queue is bounded (tvh_vq_serve), so one busy ring does
 * not starve the thread's others.
 */
static int tvh_vq_thread(void *data)
{
	struct tvh_vq_thread *thread = data;
	struct mm_struct *mm = thread->vdev->dev.mm;
	struct tvh_charge charge;
	unsigned int i, poll_us;

	thread->start_ret = cgroup_attach_task_all(thread->owner, current);
	complete(&thread->started);
	kthread_use_mm(mm);
	tvh_charge_begin(&charge, mm);
	tvh_vq_thread_sample_idle(thread);

	for (;;) {
		u64 due = tvh_vq_thread_signal_due(thread, false);
		u64 kicks_due = tvh_vq_thread_kicks_due(thread);
		bool busy = false;

		if (kicks_due && (!due || kicks_due < due))
			due = kicks_due;

		set_current_state(TASK_INTERRUPTIBLE);
		if (kthread_should_stop()) {
			__set_current_state(TASK_RUNNING);
			break;
		}
		for (i = 0; i < thread->nqueues && !busy; i++)
			busy = READ_ONCE(thread->queues[i]->pending);
		if (!busy) {
			tvh_vq_thread_sleep(due);
			continue;
		}
		__set_current_state(TASK_RUNNING);
		tvh_vq_thread_sample_idle(thread);
		poll_us = READ_ONCE(tvh_poll_us);
		tvh_vq_kcov_start(thread);
		tvh_vq_thread_pass(thread, poll_us ? TVH_SERVE_POLL : 0);
		due = tvh_vq_thread_signal_due(thread, false);
		if (poll_us)
			tvh_vq_thread_poll(thread, poll_us, due);
		else	/* poll_us was just set to 0: no ring may stay muted */
			tvh_vq_thread_poll_end(thread);
		tvh_vq_kcov_stop(thread);
		cond_resched();
	}

	tvh_vq_thread_poll_end(thread);
	tvh_vq_thread_signal_due(thread, true);
	tvh_charge_end(&charge);
	kthread_unuse_mm(mm);
	return 0;
}

/*
 * Start @fn on @thread, named after the owner and @idx; it joins the
 * owner's cgroups before it does anything else.  An owner thread that has
 * exited leaves that to the caller (the VMM's thread setting the endpoint).
 */
static struct task_struct *tvh_vq_task_start(struct tvh_vq_thread *thread,
					     int (*fn)(void *),
					     const char *kind, unsigned int idx)
{
	struct task_struct *owner = thread->vdev->owner;
	struct task_struct *task;

	if (!owner || (READ_ONCE(owner->flags) & PF_EXITING))
		owner = current;
	thread->owner = owner;
	thread->kcov_handle = kcov_common_handle();
	init_completion(&thread->started);
	task = kthread_create(fn, thread, "vhost-%d-%s%u",
			      task_pid_nr(owner), kind, idx);
	if (IS_ERR(task))
		return task;
	get_task_struct(task);
	wake_up_process(task);
	wait_for_completion(&thread->started);
	thread->owner = NULL;
	if (thread->start_ret) {
		kthread_stop(task);
		put_task_struct(task);
		return ERR_PTR(thread->start_ret);
	}
	return task;
}

static void tvh_vq_task_stop(struct task_struct *task)
{
	if (task) {
		kthread_stop(task);
		put_task_struct(task);
	}
}

/*
 * Start @thread, whose queues are assigned, and its executor if the
 * device is to offload (@exec).
 */
static int tvh_vq_thread_run(struct tvh_vq_thread *thread, unsigned int idx,
			     bool exec)
{
	struct task_struct *task;

	if (exec) {
		init_llist_head(&thread->exec_cmds);
		task = tvh_vq_task_start(thread, tvh_vq_exec_thread, "ex", idx);
		if (IS_ERR(task))
			return PTR_ERR(task);
		thread->exec_task = task;
	}
	task = tvh_vq_task_start(thread, tvh_vq_thread, "io", idx);
	if (IS_ERR(task))
		return PTR_ERR(task);
	thread->task = task;
	return 0;
}

/* Stop (if started) and free the threads of @threads. */
static void tvh_vq_threads_free(struct tvh_vq_thread **threads,
				unsigned int nthreads)
{
	unsigned int t;

	for (t = 0; t < nthreads; t++) {
		if (threads[t]) {
			tvh_vq_task_stop(threads[t]->task);
			tvh_vq_task_stop(threads[t]->exec_task);
		}
		kfree(threads[t]);
	}
	kfree(threads);
}

/**
 * tvh_vq_threads_start - give the request queues their threads
 * @vdev: the device, in the owner's SET_ENDPOINT ioctl under dev.mutex;
 *	pools created, backends not yet set
 *
 * One thread per set-up request queue, but no more than there are online
 * CPUs: with more queues, queue k is served by thread k modulo that (more
 * threads than CPUs would only add switching).  Each thread's queues are
 * assigned before it starts and never change.
 */
int tvh_vq_threads_start(struct tvh_dev *vdev)
{
	unsigned int nqueues = 0, nthreads, k = 0, t;
	struct tvh_vq_thread **threads;
	bool spare;
	int i, ret;

	for (i = VHOST_SCSI_VQ_IO; i < vdev->nvqs; i++)
		if (vhost_vq_is_setup(&vdev->vqs[i].vq))
			nqueues++;
	if (!nqueues)
		return 0;
	nthreads = min(nqueues, num_online_cpus());
	threads = kcalloc(nthreads, sizeof(*threads), GFP_KERNEL);
	if (!threads)
		return -ENOMEM;
	for (t = 0; t < nthreads; t++) {
		threads[t] = kzalloc(struct_size(threads[t], queues,
						 DIV_ROUND_UP(nqueues - t, nthreads)),
				     GFP_KERNEL);
		if (!threads[t]) {
			ret = -ENOMEM;
			goto out_free;
		}
		threads[t]->vdev = vdev;
	}
	for (i = VHOST_SCSI_VQ_IO; i < vdev->nvqs; i++) {
		struct tvh_vq_thread *thread = threads[k % nthreads];

		if (!vhost_vq_is_setup(&vdev->vqs[i].vq))
			continue;
		thread->queues[thread->nqueues++] = &vdev->vqs[i];
		k++;
	}
	spare = nthreads < num_online_cpus();
	for (t = 0; t < nthreads; t++) {
		ret = tvh_vq_thread_run(threads[t], t, spare && tvh_offload);
		if (ret)
			goto out_free;
	}
	for (t = 0; t < nthreads; t++) {
		for (k = 0; k < threads[t]->nqueues; k++) {
			threads[t]->queues[k]->pending = 0;
			rcu_assign_pointer(threads[t]->queues[k]->thread,
					   threads[t]);
		}
	}
	vdev->threads = threads;
	vdev->nthreads = nthreads;
	return 0;

out_free:
	tvh_vq_threads_free(threads, nthreads);
	return ret;
}

/**
 * tvh_vq_threads_stop - stop the request queue threads
 * @vdev: the device, under dev.mutex, every request queue idle
 *
 * Kick wake-ups and completions that looked a thread up just before it was
 * unpublished finish under RCU; kicks passed on to the vhost worker finish
 * with its flush.  Only then do the threads go.
 */
void tvh_vq_threads_stop(struct tvh_dev *vdev)
{
	int i;

	if (!vdev->threads)
		return;
	for (i = VHOST_SCSI_VQ_IO; i < vdev->nvqs; i++)
		RCU_INIT_POINTER(vdev->vqs[i].thread, NULL);
	synchronize_rcu();
	vhost_dev_flush(&vdev->dev);
	tvh_vq_threads_free(vdev->threads, vdev->nthreads);
	vdev->threads = NULL;
	vdev->nthreads = 0;
}
