// SPDX-License-Identifier: GPL-2.0
/*
 * tvh_wake_delay: a test-only module that widens the window of #12.9 (the
 * last recycling of a queue touching the device after its count reached 0)
 * for tests/badinput's close_while_last_recycle_waits.  Loaded, it does
 * nothing until "armed" is written 1; then:
 *
 * - target_core's completion work of a command waits put_delay_ms (asleep)
 *   before it drops its reference (target_put_sess_cmd()), so that the
 *   queue's thread drops its own first: the work holds the last reference,
 *   and the command is recycled there, outside every thread that release
 *   stops and waits for;
 * - the first __wake_up() called within such a put (tvh_io_recycle() waking
 *   release after the queue's count reached 0) waits wake_delay_ms before
 *   it runs, spinning and letting the scheduler preempt it (never asleep:
 *   the caller may be inside rcu_read_lock()).  After the decrement,
 *   __wake_up() is tvh_io_recycle()'s only call: wq_has_sleeper() is
 *   inline and reads idle_wq before, while release still waits; the wait
 *   sits between the decrement and the wake-up's own reads of the device.
 *
 * Both are kprobes at function entry whose handler points the return of
 * the trap at a wrapper here; the wrapper waits, then calls the function
 * itself (that call is told by its return address, read at the stack
 * pointer of the function's entry as on x86_64, and passes).  Counters
 * tell the test what happened.
 */
#include <linux/atomic.h>
#include <linux/delay.h>
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/timekeeping.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <target/target_core_base.h>
#include <target/target_core_fabric.h>

#define WD_MAX_MS	10000
#define WD_SLOTS	16

static unsigned int put_delay_ms = 200;
module_param(put_delay_ms, uint, 0644);
MODULE_PARM_DESC(put_delay_ms, "Wait of a completion work before its put (ms)");
static unsigned int wake_delay_ms = 3000;
module_param(wake_delay_ms, uint, 0644);
MODULE_PARM_DESC(wake_delay_ms, "Wait of the delayed wake-up (ms)");

static atomic_t wd_puts, wd_waits, wd_waits_in_rcu, wd_overtaken, wd_shot;
module_param_named(puts_delayed, wd_puts.counter, int, 0444);
MODULE_PARM_DESC(puts_delayed, "Completion works' puts delayed since armed");
module_param_named(wakes_delayed, wd_waits.counter, int, 0444);
MODULE_PARM_DESC(wakes_delayed, "Delayed wake-ups done, outside any RCU read side");
module_param_named(wakes_delayed_in_rcu, wd_waits_in_rcu.counter, int, 0444);
MODULE_PARM_DESC(wakes_delayed_in_rcu, "Delayed wake-ups done inside rcu_read_lock()");
module_param_named(overtaken, wd_overtaken.counter, int, 0444);
MODULE_PARM_DESC(overtaken, "Wake-ups of the same wait queue during the delay");

static bool wd_armed;
/* The wait queue whose wake-up is being delayed, or NULL. */
static struct wait_queue_head *wd_wait_wq;
/* Tasks inside a delayed put. */
static struct task_struct *wd_slots[WD_SLOTS];

/* "armed": 1 zeroes the counters and allows one delayed wake-up. */
static int wd_armed_set(const char *val, const struct kernel_param *kp)
{
	bool on;
	int ret = kstrtobool(val, &on);

	if (ret)
		return ret;
	WRITE_ONCE(wd_armed, false);
	if (on) {
		atomic_set(&wd_puts, 0);
		atomic_set(&wd_waits, 0);
		atomic_set(&wd_waits_in_rcu, 0);
		atomic_set(&wd_overtaken, 0);
		atomic_set(&wd_shot, 1);
		WRITE_ONCE(wd_armed, true);
	}
	return 0;
}

static const struct kernel_param_ops wd_armed_ops = {
	.set = wd_armed_set,
	.get = param_get_bool,
};
module_param_cb(armed, &wd_armed_ops, &wd_armed, 0644);
MODULE_PARM_DESC(armed, "1: delay as described above; 0: pass everything through");

static unsigned int wd_ms(unsigned int *ms)
{
	return min_t(unsigned int, READ_ONCE(*ms), WD_MAX_MS);
}

static struct task_struct **wd_slot_claim(void)
{
	int i;

	for (i = 0; i < WD_SLOTS; i++)
		if (!cmpxchg(&wd_slots[i], NULL, current))
			return &wd_slots[i];
	return NULL;
}

static bool wd_in_slot(struct task_struct *task)
{
	int i;

	for (i = 0; i < WD_SLOTS; i++)
		if (READ_ONCE(wd_slots[i]) == task)
			return true;
	return false;
}

/* Whether the probed function was called from this module's wrappers. */
static bool wd_called_from_here(struct pt_regs *regs)
{
	unsigned long ret = *(unsigned long *)kernel_stack_pointer(regs);

	return within_module(ret, THIS_MODULE);
}

/* Return from the trap into @wrapper, which gives the module back. */
static int wd_redirect(struct pt_regs *regs, void *wrapper)
{
	if (!try_module_get(THIS_MODULE))
		return 0;
	instruction_pointer_set(regs, (unsigned long)wrapper);
	return 1;
}

/*
 * In place of target_put_sess_cmd(): the put of a command's own completion
 * work waits first.  The wrappers make their calls with work left after
 * them, never as tail calls: their return address is here.
 */
static int wd_put(struct se_cmd *se_cmd)
{
	struct task_struct **slot = NULL;
	int ret;

	if (current_work() == &se_cmd->work && preemptible() &&
	    !rcu_preempt_depth()) {
		msleep(wd_ms(&put_delay_ms));
		atomic_inc(&wd_puts);
		slot = wd_slot_claim();
	}
	ret = target_put_sess_cmd(se_cmd);
	if (slot)
		WRITE_ONCE(*slot, NULL);
	module_put(THIS_MODULE);
	return ret;
}

/*
 * The delay of a wake-up: a busy wait in which the scheduler may preempt
 * the task whenever it could in this context (a preempted RCU reader still
 * holds up synchronize_rcu(); a sleep inside one is a bug).
 */
static void wd_hold(struct wait_queue_head *wq_head)
{
	u64 end = ktime_get_ns() + (u64)wd_ms(&wake_delay_ms) * NSEC_PER_MSEC;

	WRITE_ONCE(wd_wait_wq, wq_head);
	while (ktime_get_ns() < end) {
		cpu_relax();
#if defined(CONFIG_PREEMPT_DYNAMIC) || !defined(CONFIG_PREEMPTION)
		/* a preemption point: cond_resched() would warn in a reader */
		if (preemptible())
			__cond_resched();
#endif
	}
	WRITE_ONCE(wd_wait_wq, NULL);
}

/* In place of __wake_up() within a delayed put. */
static int wd_wake_up(struct wait_queue_head *wq_head, unsigned int mode,
		      int nr_exclusive, void *key)
{
	bool held = false, in_rcu = rcu_preempt_depth() > 0;
	int ret;

	if (in_task() && atomic_cmpxchg(&wd_shot, 1, 0) == 1) {
		wd_hold(wq_head);
		held = true;
	}
	ret = __wake_up(wq_head, mode, nr_exclusive, key);
	if (held)
		atomic_inc(in_rcu ? &wd_waits_in_rcu : &wd_waits);
	module_put(THIS_MODULE);
	return ret;
}

static int wd_put_pre(struct kprobe *p, struct pt_regs *regs)
{
	if (!READ_ONCE(wd_armed) || !(current->flags & PF_WQ_WORKER) ||
	    wd_called_from_here(regs))
		return 0;
	return wd_redirect(regs, wd_put);
}

static int wd_wake_pre(struct kprobe *p, struct pt_regs *regs)
{
	void *wq_head = (void *)regs_get_kernel_argument(regs, 0);

	if (!READ_ONCE(wd_armed))
		return 0;
	if (wq_head == READ_ONCE(wd_wait_wq))
		atomic_inc(&wd_overtaken);
	if (!atomic_read(&wd_shot) || !wd_in_slot(current) ||
	    wd_called_from_here(regs))
		return 0;
	return wd_redirect(regs, wd_wake_up);
}

/* A post handler keeps a kprobe from being optimized into a jump. */
static void wd_post(struct kprobe *p, struct pt_regs *regs,
		    unsigned long flags)
{
}

static struct kprobe wd_put_kp = {
	.symbol_name = "target_put_sess_cmd",
	.pre_handler = wd_put_pre,
	.post_handler = wd_post,
};

static struct kprobe wd_wake_kp = {
	.symbol_name = "__wake_up",
	.pre_handler = wd_wake_pre,
	.post_handler = wd_post,
};

static struct kprobe *wd_kps[] = { &wd_put_kp, &wd_wake_kp };

static int __init wd_init(void)
{
	return register_kprobes(wd_kps, ARRAY_SIZE(wd_kps));
}

static void __exit wd_exit(void)
{
	unregister_kprobes(wd_kps, ARRAY_SIZE(wd_kps));
}

module_init(wd_init);
module_exit(wd_exit);
MODULE_DESCRIPTION("Test only: delays chosen steps of target_core's completion (tcm_vhost #12.9)");
MODULE_LICENSE("GPL");
