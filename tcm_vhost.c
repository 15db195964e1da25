// SPDX-License-Identifier: GPL-2.0
/*
 * Module load/unload, parameters, the /dev/vhost-scsi device,
 * its ioctls, and attaching a device to the TPGs of a WWPN (the endpoint).
 *
 * A device is one open of /dev/vhost-scsi by a VMM.  The generic vhost
 * ioctls (owner, memory table, rings, eventfds, log) go to the vhost core;
 * the VHOST_SCSI_* ones are handled here.  SET_ENDPOINT attaches every TPG
 * of the named WWPN that has a nexus, preallocates the commands of each
 * request queue and starts the queues; CLEAR_ENDPOINT, close and process
 * exit stop the queues, wait for every command and TMF to be answered, and
 * give everything back.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/namei.h>
#include <linux/slab.h>
#include <target/target_core_base.h>
#include <target/target_core_fabric.h>

#include "tcm_vhost.h"

/* The trace events of tcm_vhost_trace.h are defined here, once. */
#define CREATE_TRACE_POINTS
#include "tcm_vhost_trace.h"

/*
 * Everything the vhost core offers, plus hotplug events, T10 PI and
 * parameter-change events (the TPG's capacity_changed attribute).
 */
#define TVH_FEATURES (VHOST_FEATURES | BIT_ULL(VIRTIO_SCSI_F_HOTPLUG) | \
		      BIT_ULL(VIRTIO_SCSI_F_T10_PI) | BIT_ULL(VIRTIO_SCSI_F_CHANGE))

unsigned int tvh_max_io_vqs = 128;
unsigned int tvh_inline_sg = 64;
bool tvh_direct_submit = true;
bool tvh_offload = true;
bool tvh_vq_threads = true;
unsigned int tvh_poll_us;
unsigned int tvh_signal_delay_us;

/* Set an unsigned parameter, refusing values outside [min, max]. */
static int tvh_param_set_range(const char *val, const struct kernel_param *kp,
			       unsigned int min, unsigned int max)
{
	unsigned int n;
	int ret;

	ret = kstrtouint(val, 0, &n);
	if (ret)
		return ret;
	if (n < min || n > max) {
		pr_err("%s=%u refused: must be between %u and %u\n",
		       kp->name, n, min, max);
		return -EINVAL;
	}
	*(unsigned int *)kp->arg = n;
	return 0;
}

static int tvh_param_set_io_vqs(const char *val, const struct kernel_param *kp)
{
	return tvh_param_set_range(val, kp, 1, TVH_MAX_IO_VQS);
}

static int tvh_param_set_inline_sg(const char *val,
				   const struct kernel_param *kp)
{
	return tvh_param_set_range(val, kp, 1, 2048);
}

static int tvh_param_set_poll_us(const char *val, const struct kernel_param *kp)
{
	return tvh_param_set_range(val, kp, 0, TVH_MAX_POLL_US);
}

static int tvh_param_set_signal_delay_us(const char *val,
					 const struct kernel_param *kp)
{
	return tvh_param_set_range(val, kp, 0, TVH_MAX_SIGNAL_DELAY_US);
}

static const struct kernel_param_ops tvh_io_vqs_ops = {
	.set = tvh_param_set_io_vqs,
	.get = param_get_uint,
};

static const struct kernel_param_ops tvh_inline_sg_ops = {
	.set = tvh_param_set_inline_sg,
	.get = param_get_uint,
};

static const struct kernel_param_ops tvh_poll_us_ops = {
	.set = tvh_param_set_poll_us,
	.get = param_get_uint,
};

static const struct kernel_param_ops tvh_signal_delay_us_ops = {
	.set = tvh_param_set_signal_delay_us,
	.get = param_get_uint,
};

module_param_cb(max_io_vqs, &tvh_io_vqs_ops, &tvh_max_io_vqs, 0644);
MODULE_PARM_DESC(max_io_vqs,
		 "Request queues a device can use, 1-1024 (default 128); applies to devices opened afterwards");
module_param_cb(inline_sg, &tvh_inline_sg_ops, &tvh_inline_sg, 0644);
MODULE_PARM_DESC(inline_sg,
		 "Pages a command maps without allocating, 1-2048 (default 64); applies to endpoints set afterwards");
module_param_named(direct_submit, tvh_direct_submit, bool, 0644);
MODULE_PARM_DESC(direct_submit,
		 "Submit to target_core from the virtqueue worker (Y, default) or through target_core's workqueue (N); up to Linux 6.9 (from 6.10 on the backstore's attrib/submit_type decides)");
module_param_named(offload, tvh_offload, bool, 0644);
MODULE_PARM_DESC(offload,
		 "Give each queue thread an executor thread, in the VM's cgroups, that runs the commands finding others in flight on their queue while the CPUs the VM may use have idle time (Y, default; only with fewer queue threads than CPUs), or run every command where it was taken (N); applies to endpoints set afterwards");
module_param_named(vq_threads, tvh_vq_threads, bool, 0644);
MODULE_PARM_DESC(vq_threads,
		 "Serve request queues from threads of their own, at most one per CPU (Y, default), or all from the device's vhost worker (N); applies to endpoints set afterwards");
module_param_cb(poll_us, &tvh_poll_us_ops, &tvh_poll_us, 0644);
MODULE_PARM_DESC(poll_us,
		 "Microseconds a queue thread keeps polling a ring, guest kicks off, after its last work, once the guest sent 2 or more requests with one kick, 0-1000 (default 0: sleep until kicked); stops while another task could run on its CPU");
module_param_cb(signal_delay_us, &tvh_signal_delay_us_ops,
		&tvh_signal_delay_us, 0644);
MODULE_PARM_DESC(signal_delay_us,
		 "Microseconds a queue thread may hold back the guest's interrupt for answers while more commands of that queue are in flight, so that one interrupt covers more of them, 0-1000 (default 0: signal every batch at once); a queue with nothing more in flight is signalled at once");

static bool tvh_dev_idle(struct tvh_dev *vdev)
{
	int i;

	if (atomic_read(&vdev->tmf_inflight))
		return false;
	for (i = VHOST_SCSI_VQ_IO; i < vdev->nvqs; i++)
		if (atomic_read(&vdev->vqs[i].inflight))
			return false;
	return true;
}

/* Wait until target_core has given back every command and TMF. */
static void tvh_dev_wait_idle(struct tvh_dev *vdev)
{
	while (!wait_event_timeout(vdev->idle_wq, tvh_dev_idle(vdev),
				   TVH_DRAIN_REPORT))
		pr_warn("%s: still waiting for commands in the backstore to finish\n",
			vdev->wwpn);
}

static void tvh_set_backends(struct tvh_dev *vdev, struct tvh_tpg **targets)
{
	int i;

	for (i = 0; i < vdev->nvqs; i++) {
		struct vhost_virtqueue *vq = &vdev->vqs[i].vq;

		mutex_lock(&vq->mutex);
		vhost_vq_set_backend(vq, targets);
		mutex_unlock(&vq->mutex);
	}
}

/* Stop the request queues' threads and free their pools; all are idle. */
static void tvh_release_request_queues(struct tvh_dev *vdev)
{
	int i;

	tvh_vq_threads_stop(vdev);
	for (i = VHOST_SCSI_VQ_IO; i < vdev->nvqs; i++)
		tvh_io_pool_destroy(&vdev->vqs[i]);
}

/*
 * Stop the queues and drain: nothing of the endpoint survives.  The drain
 * waits for the backstore under this device's dev.mutex only, never a
 * global lock: one stuck backstore must not hold up every other device's
 * attach and teardown.  The TPGs stay pinned until tvh_tpgs_detach().
 */
static void tvh_endpoint_teardown(struct tvh_dev *vdev)
{
	struct tvh_tpg **targets = vdev->targets;

	lockdep_assert_held(&vdev->dev.mutex);
	if (!targets)
		return;
	tvh_set_backends(vdev, NULL);
	vhost_dev_flush(&vdev->dev);	/* no kick handler runs past here */
	tvh_dev_wait_idle(vdev);
	vhost_dev_flush(&vdev->dev);	/* nor any answer */
	tvh_release_request_queues(vdev);
	tvh_tpgs_detach(targets);
	kfree(targets);
	vdev->targets = NULL;
	memset(vdev->wwpn, 0, sizeof(vdev->wwpn));
}

/* The WWPN must be a NUL-terminated string within its 224 bytes. */
static int tvh_check_target(struct vhost_scsi_target *t)
{
	if (t->reserved)
		return -EOPNOTSUPP;
	if (!memchr(t->vhost_wwpn, '\0', sizeof(t->vhost_wwpn)))
		return -EINVAL;
	return 0;
}

/* Whether the caller may attach @vdev to @t now; under dev.mutex. */
static int tvh_endpoint_may_attach(struct tvh_dev *vdev,
				   struct vhost_scsi_target *t)
{
	int i, ret;

	lockdep_assert_held(&vdev->dev.mutex);
	/* Queue threads use the owner's mm and join its cgroups. */
	ret = vhost_dev_check_owner(&vdev->dev);
	if (ret) {
		pr_warn_ratelimited("SET_ENDPOINT %s refused: only the owner (VHOST_SET_OWNER) may attach\n",
				    t->vhost_wwpn);
		return ret;
	}
	for (i = 0; i < vdev->nvqs; i++)
		if (!vhost_vq_access_ok(&vdev->vqs[i].vq))
			return -EFAULT;
	if (vdev->targets) {
		pr_warn_ratelimited("SET_ENDPOINT %s refused: endpoint %s is set; CLEAR_ENDPOINT first\n",
				    t->vhost_wwpn, vdev->wwpn);
		return -EEXIST;
	}
	return 0;
}

/* Command pools and threads for the set-up request queues; under dev.mutex. */
static int tvh_request_queues_prepare(struct tvh_dev *vdev)
{
	int i, ret;

	lockdep_assert_held(&vdev->dev.mutex);
	for (i = VHOST_SCSI_VQ_IO; i < vdev->nvqs; i++) {
		if (!vhost_vq_is_setup(&vdev->vqs[i].vq))
			continue;
		ret = tvh_io_pool_create(&vdev->vqs[i]);
		if (ret)
			goto out_release;
	}
	if (tvh_vq_threads) {
		ret = tvh_vq_threads_start(vdev);
		if (ret)
			goto out_release;
	}
	return 0;

out_release:
	tvh_release_request_queues(vdev);
	return ret;
}

/*
 * Publish @targets to every queue and start serving; on failure the
 * endpoint is torn down again.  vhost_vq_init_access() needs the backend
 * set: it reloads the used index, which the guest may have reset since the
 * last endpoint (the firmware drives the device before Linux).
 */
static int tvh_endpoint_start(struct tvh_dev *vdev, struct tvh_tpg **targets,
			      const char *wwpn)
{
	int i, ret = 0;

	lockdep_assert_held(&vdev->dev.mutex);
	strscpy(vdev->wwpn, wwpn, sizeof(vdev->wwpn));
	vdev->targets = targets;
	for (i = 0; i < vdev->nvqs; i++) {
		struct vhost_virtqueue *vq = &vdev->vqs[i].vq;

		mutex_lock(&vq->mutex);
		vhost_vq_set_backend(vq, targets);
		if (vhost_vq_is_setup(vq))
			ret = vhost_vq_init_access(vq);
		mutex_unlock(&vq->mutex);
		if (ret) {
			pr_warn_ratelimited("SET_ENDPOINT %s: cannot access ring %d: %d\n",
					    wwpn, i, ret);
			tvh_endpoint_teardown(vdev);
			return ret;
		}
	}
	/* Serve whatever the guest queued before the endpoint existed. */
	for (i = 0; i < vdev->nvqs; i++)
		if (vhost_vq_is_setup(&vdev->vqs[i].vq))
			vhost_poll_queue(&vdev->vqs[i].vq.poll);
	return 0;
}

/* SET_ENDPOINT under dev.mutex: attach, prepare the queues, start them. */
static int tvh_set_endpoint_locked(struct tvh_dev *vdev,
				   struct vhost_scsi_target *t)
{
	struct tvh_tpg **targets;
	int ret;

	lockdep_assert_held(&vdev->dev.mutex);
	ret = tvh_endpoint_may_attach(vdev, t);
	if (ret)
		return ret;
	targets = kcalloc(VHOST_SCSI_MAX_TARGET, sizeof(*targets), GFP_KERNEL_ACCOUNT);
	if (!targets)
		return -ENOMEM;
	ret = tvh_tpgs_attach(vdev, t->vhost_wwpn, targets);
	if (ret)
		goto out_free_targets;
	ret = tvh_request_queues_prepare(vdev);
	if (ret)
		goto out_detach;
	/* On failure, its teardown detaches and frees @targets. */
	return tvh_endpoint_start(vdev, targets, t->vhost_wwpn);

out_detach:
	tvh_tpgs_detach(targets);
out_free_targets:
	kfree(targets);
	return ret;
}

/* CLEAR_ENDPOINT under dev.mutex: only of the endpoint that is set, if any. */
static int tvh_clear_endpoint_locked(struct tvh_dev *vdev,
				     struct vhost_scsi_target *t)
{
	lockdep_assert_held(&vdev->dev.mutex);
	if (vdev->targets && strcmp(vdev->wwpn, t->vhost_wwpn)) {
		pr_warn_ratelimited("CLEAR_ENDPOINT %s refused: the endpoint is %s\n",
				    t->vhost_wwpn, vdev->wwpn);
		return -EINVAL;
	}
	tvh_endpoint_teardown(vdev);
	return 0;
}

/* VHOST_SCSI_SET_ENDPOINT and VHOST_SCSI_CLEAR_ENDPOINT. */
static int tvh_endpoint_ioctl(struct tvh_dev *vdev, unsigned int ioctl,
			      void __user *argp)
{
	struct vhost_scsi_target t;
	int ret;

	if (copy_from_user(&t, argp, sizeof(t)))
		return -EFAULT;
	ret = tvh_check_target(&t);
	if (ret)
		return ret;
	mutex_lock(&vdev->dev.mutex);
	if (ioctl == VHOST_SCSI_SET_ENDPOINT)
		ret = tvh_set_endpoint_locked(vdev, &t);
	else
		ret = tvh_clear_endpoint_locked(vdev, &t);
	mutex_unlock(&vdev->dev.mutex);
	return ret;
}

/*
 * Give every queue its dirty-log scratch before VHOST_F_LOG_ALL is acked.
 * Only a migrating device pays for it; queues that already have one keep
 * it, and what a failed call allocated stays for the next try or release.
 */
static int tvh_alloc_logs(struct tvh_dev *vdev)
{
	int i;

	lockdep_assert_held(&vdev->dev.mutex);
	for (i = 0; i < vdev->nvqs; i++) {
		struct tvh_vq *tvq = &vdev->vqs[i];

		if (tvq->log)
			continue;
		tvq->log = kmalloc_array(ARRAY_SIZE(tvq->vq.iov),
					 sizeof(*tvq->log), GFP_KERNEL_ACCOUNT);
		if (!tvq->log)
			return -ENOMEM;
	}
	return 0;
}

static int tvh_set_features(struct tvh_dev *vdev, u64 features)
{
	int i, ret = 0;

	if (features & ~TVH_FEATURES)
		return -EOPNOTSUPP;

	mutex_lock(&vdev->dev.mutex);
	if (features & BIT_ULL(VHOST_F_LOG_ALL)) {
		ret = -EFAULT;
		if (!vhost_log_access_ok(&vdev->dev))
			goto out_unlock;
		ret = tvh_alloc_logs(vdev);
		if (ret)
			goto out_unlock;
	}
	for (i = 0; i < vdev->nvqs; i++) {
		struct vhost_virtqueue *vq = &vdev->vqs[i].vq;

		mutex_lock(&vq->mutex);
		vq->acked_features = features;
		mutex_unlock(&vq->mutex);
	}
	if (features & BIT_ULL(VHOST_F_LOG_ALL))
		ret = tvh_io_wait_unlogged(vdev);
out_unlock:
	mutex_unlock(&vdev->dev.mutex);
	return ret;
}

/*
 * Run @work on the worker serving @vq.  A worker that died with its owner
 * runs nothing any more; what waits for it is then finished by reap_work,
 * unanswered, so that teardown still sees every command come back.
 */
void tvh_dev_queue_work(struct tvh_dev *vdev, struct vhost_virtqueue *vq,
			struct vhost_work *work)
{
	if (!tvh_vq_work_queue(vq, work)) {
		pr_warn_once("vhost worker gone (owner killed?): answers dropped\n");
		queue_work(system_wq, &vdev->reap_work);
	}
}

static void tvh_dev_reap_work(struct work_struct *work)
{
	struct tvh_dev *vdev = container_of(work, struct tvh_dev, reap_work);
	int i;

	tvh_tmf_drop_answers(vdev);
	for (i = VHOST_SCSI_VQ_IO; i < vdev->nvqs; i++)
		if (!rcu_access_pointer(vdev->vqs[i].thread))
			tvh_io_drop_answers(&vdev->vqs[i]);
}

static int tvh_open(struct inode *inode, struct file *f)
{
	int nvqs = VHOST_SCSI_VQ_IO + READ_ONCE(tvh_max_io_vqs);
	struct vhost_virtqueue **vqs;
	struct tvh_dev *vdev;
	int i;

	vdev = kvzalloc(sizeof(*vdev), GFP_KERNEL_ACCOUNT);
	if (!vdev)
		goto out;
	vdev->vqs = kvcalloc(nvqs, sizeof(*vdev->vqs), GFP_KERNEL_ACCOUNT);
	if (!vdev->vqs)
		goto out_free_dev;
	vqs = kmalloc_array(nvqs, sizeof(*vqs), GFP_KERNEL_ACCOUNT);
	if (!vqs)
		goto out_free_vqs;

	vdev->nvqs = nvqs;
	init_waitqueue_head(&vdev->idle_wq);
	init_llist_head(&vdev->tmf_done);
	init_llist_head(&vdev->tmf_parked);
	vhost_work_init(&vdev->tmf_work, tvh_tmf_done_work);
	INIT_WORK(&vdev->reap_work, tvh_dev_reap_work);
	INIT_LIST_HEAD(&vdev->evt_list);
	vhost_work_init(&vdev->evt_work, tvh_evt_work);

	for (i = 0; i < nvqs; i++) {
		struct tvh_vq *tvq = &vdev->vqs[i];

		tvq->vdev = vdev;
		init_llist_head(&tvq->done);
		vhost_work_init(&tvq->done_work, tvh_io_done_work);
		if (i == VHOST_SCSI_VQ_CTL)
			tvq->vq.handle_kick = tvh_ctl_handle_kick;
		else if (i == VHOST_SCSI_VQ_EVT)
			tvq->vq.handle_kick = tvh_evt_handle_kick;
		else
			tvq->vq.handle_kick = tvh_io_handle_kick;
		vqs[i] = &tvq->vq;
	}
	vhost_dev_init(&vdev->dev, vqs, nvqs, TVH_CORE_IOV_LIMIT, TVH_WEIGHT,
		       TVH_BYTE_WEIGHT, true,
		       NULL);
	for (i = VHOST_SCSI_VQ_IO; i < nvqs; i++)
		tvh_vq_init_kick(&vdev->vqs[i]);
	f->private_data = vdev;
	return 0;

out_free_vqs:
	kvfree(vdev->vqs);
out_free_dev:
	kvfree(vdev);
out:
	return -ENOMEM;
}

static int tvh_release(struct inode *inode, struct file *f)
{
	struct tvh_dev *vdev = f->private_data;
	int i;

	mutex_lock(&vdev->dev.mutex);
	tvh_endpoint_teardown(vdev);
	mutex_unlock(&vdev->dev.mutex);
	/*
	 * A completion that pushed the last answer may still be queueing the
	 * done work on the vhost worker (tvh_io_push_done(), under RCU) after
	 * that answer was sent and the command recycled; vhost_dev_cleanup()
	 * frees the workers without a grace period.
	 */
	synchronize_rcu();

	vhost_dev_stop(&vdev->dev);
	vhost_dev_cleanup(&vdev->dev);
	/*
	 * Let the last waker of idle_wq (tvh_io_recycle()) and the last
	 * queuer of reap_work (tvh_tmf_owed_put()) leave.
	 */
	synchronize_rcu();
	flush_work(&vdev->reap_work);
	tvh_evt_drain(vdev);
	for (i = 0; i < vdev->nvqs; i++)
		kfree(vdev->vqs[i].log);
	if (vdev->owner)
		put_task_struct(vdev->owner);
	kfree(vdev->dev.vqs);
	kvfree(vdev->vqs);
	kvfree(vdev);
	return 0;
}

static long tvh_events_missed_ioctl(struct tvh_dev *vdev, unsigned int ioctl,
				    u32 __user *argp)
{
	struct vhost_virtqueue *vq = &vdev->vqs[VHOST_SCSI_VQ_EVT].vq;
	u32 missed;

	if (ioctl == VHOST_SCSI_SET_EVENTS_MISSED) {
		if (get_user(missed, argp))
			return -EFAULT;
		mutex_lock(&vq->mutex);
		vdev->events_missed = missed;
		mutex_unlock(&vq->mutex);
		return 0;
	}
	mutex_lock(&vq->mutex);
	missed = vdev->events_missed;
	mutex_unlock(&vq->mutex);
	return put_user(missed, argp);
}

static long tvh_ioctl(struct file *f, unsigned int ioctl, unsigned long arg)
{
	struct tvh_dev *vdev = f->private_data;
	void __user *argp = (void __user *)arg;
	u64 features;
	long ret;

	switch (ioctl) {
	case VHOST_SCSI_SET_ENDPOINT:
	case VHOST_SCSI_CLEAR_ENDPOINT:
		return tvh_endpoint_ioctl(vdev, ioctl, argp);
	case VHOST_SCSI_GET_ABI_VERSION:
		return put_user(VHOST_SCSI_ABI_VERSION, (int __user *)argp);
	case VHOST_SCSI_SET_EVENTS_MISSED:
	case VHOST_SCSI_GET_EVENTS_MISSED:
		return tvh_events_missed_ioctl(vdev, ioctl, argp);
	case VHOST_GET_FEATURES:
		features = TVH_FEATURES;
		if (copy_to_user(argp, &features, sizeof(features)))
			return -EFAULT;
		return 0;
	case VHOST_SET_FEATURES:
		if (copy_from_user(&features, argp, sizeof(features)))
			return -EFAULT;
		return tvh_set_features(vdev, features);
	case VHOST_NEW_WORKER:
	case VHOST_FREE_WORKER:
	case VHOST_ATTACH_VRING_WORKER:
	case VHOST_GET_VRING_WORKER:
		/*
		 * Request queues have threads of their own (or, with
		 * vq_threads=N, share the device's one worker, which orders
		 * a TMF's answer after those of the commands it aborted).
		 * QEMU's worker_per_virtqueue=on takes -ENOTTY as "one worker
		 * per device" and goes on; so does every other client.
		 */
		pr_info_once("worker ioctls (QEMU worker_per_virtqueue=on) are not needed: request queues have their own threads\n");
		return -ENOTTY;
	default:
		mutex_lock(&vdev->dev.mutex);
		ret = vhost_dev_ioctl(&vdev->dev, ioctl, argp);
		if (ioctl == VHOST_SET_OWNER && !ret)
			vdev->owner = get_task_struct(current);
		if (ret == -ENOIOCTLCMD) {
			ret = vhost_vring_ioctl(&vdev->dev, ioctl, argp);
		} else {
			/*
			 * A new memory table or log: once this returns, the
			 * VMM may unmap what the old one mapped.  A caller
			 * killed meanwhile has no VMM left to care.
			 */
			tvh_io_wait_taken(vdev);
			vhost_dev_flush(&vdev->dev);
		}
		mutex_unlock(&vdev->dev.mutex);
		return ret;
	}
}

static const struct file_operations tvh_fops = {
	.owner		= THIS_MODULE,
	.open		= tvh_open,
	.release	= tvh_release,
	.unlocked_ioctl	= tvh_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice tvh_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "vhost-scsi",
	.fops	= &tvh_fops,
};

/*
 * Debian's vhost_scsi provides the same device node and the same "vhost"
 * fabric; only one of the two can be loaded.  Say so instead of letting
 * the driver core fail on a duplicate name.
 */
static int tvh_check_conflict(void)
{
	struct path path;

	if (kern_path("/sys/class/misc/vhost-scsi", LOOKUP_FOLLOW, &path))
		return 0;
	path_put(&path);
	pr_err("/dev/vhost-scsi and the \"vhost\" fabric are already provided (is vhost_scsi loaded?); unload it first: rmmod vhost_scsi\n");
	return -EBUSY;
}

static int __init tvh_init(void)
{
	int ret;

	ret = tvh_check_conflict();
	if (ret)
		goto out;
	ret = tvh_fabric_register();
	if (ret)
		goto out;
	ret = misc_register(&tvh_misc);
	if (ret)
		goto out_fabric;
	pr_info("version %s: /dev/vhost-scsi and fabric \"vhost\" ready, max_io_vqs=%u\n",
		TVH_VERSION, tvh_max_io_vqs);
	return 0;

out_fabric:
	tvh_fabric_unregister();
out:
	return ret;
}

static void __exit tvh_exit(void)
{
	misc_deregister(&tvh_misc);
	tvh_fabric_unregister();
}

module_init(tvh_init);
module_exit(tvh_exit);

MODULE_DESCRIPTION("LIO fabric serving SCSI LUNs to KVM guests through vhost");
MODULE_VERSION(TVH_VERSION);
MODULE_LICENSE("GPL");
