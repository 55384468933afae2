// SPDX-License-Identifier: GPL-2.0
/*
 * tideflow_sysinfo - /proc/tideflow_sysinfo as one JSON object: host memory
 * and every process that runs in a container (pid, pid inside its PID
 * namespace, comm, RSS, CPU time, cgroup path, container id).
 *
 * Reading works on a snapshot taken when the file is opened:
 *
 *   phase 1 (under rcu_read_lock, nothing that sleeps): walk the task list,
 *     copy the scalar figures of every thread group and take a reference on
 *     each non-root cgroup it belongs to (cgroup v2 and every v1 hierarchy);
 *   phase 2 (process context, may sleep): turn the held cgroups into paths
 *     with cgroup_path() (kernfs), find the container id in them, keep the
 *     processes that belong to a container, drop the references.
 *
 * The seq_file iterator then prints the header, one record per process and
 * the footer from that snapshot, so small reads (dd bs=7) and seq_file's
 * buffer growth always see the same, consistent content.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cgroup.h>
#include <linux/kernfs.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/overflow.h>
#include <linux/pid_namespace.h>
#include <linux/proc_fs.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/seq_file.h>
#include <linux/seqlock.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <linux/utsname.h>

#define TF_PROC_NAME	"tideflow_sysinfo"
#define TF_FORMAT_VER	1
#define TF_ID_LEN	64
#define TF_MAX_MATCH	8
/* dfl (v2) cgroup + at most one cgroup per v1 controller */
#define TF_MAX_CGRPS	(CGROUP_SUBSYS_COUNT + 1)
#define TF_SNAP_TRIES	4

static char *match[TF_MAX_MATCH];
static int match_count;
module_param_array(match, charp, &match_count, 0444);
MODULE_PARM_DESC(match,
		 "Extra cgroup path substrings (comma-separated, up to 8) that mark a process as containerized; also accepted as a prefix before a 64-hex id in a path component");

static bool list_all;
module_param(list_all, bool, 0644);
MODULE_PARM_DESC(list_all,
		 "List every process, not only the ones in containers (container_id is null for the others); writable at runtime");

struct tf_proc {
	pid_t pid;
	pid_t ns_pid;
	bool in_pid_ns;
	bool has_id;
	u8 ncgrps;
	unsigned int threads;
	u64 rss_kb;
	u64 cpu_ns;
	char comm[TASK_COMM_LEN];
	char id[TF_ID_LEN + 1];
	const char *runtime;		/* static string or NULL */
	char *cgroup_path;		/* kmalloc'ed in phase 2 */
	struct cgroup *cgrps[TF_MAX_CGRPS];	/* held between phase 1 and 2 */
};

struct tf_snap {
	u64 mono_ns;
	u64 boot_ns;
	unsigned long total_kb;
	unsigned long free_kb;
	unsigned long available_kb;
	unsigned long used_kb;
	bool list_all;
	bool truncated;
	size_t scanned;
	size_t nr;
	size_t cap;
	struct tf_proc procs[];
};

/* ---------------------------------------------------------------- JSON -- */

/* Length of a valid UTF-8 sequence at s (RFC 3629), 0 if it is not valid. */
static size_t tf_utf8_len(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;	/* no UTF-16 surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;	/* <= U+10FFFF */
	} else {
		return 0;	/* continuation byte, overlong lead, > U+10FFFF */
	}
	if (avail < n)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/*
 * Writes s[0..len) as a JSON string. Quotes, backslashes and control bytes
 * are escaped, valid UTF-8 is copied, each byte of invalid UTF-8 becomes
 * U+FFFD, so the output is valid JSON (and valid UTF-8) whatever the bytes.
 */
static void tf_json_str(struct seq_file *m, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, n;

	seq_putc(m, '"');
	while (i < len) {
		unsigned char c = s[i];

		if (c >= 0x80) {
			n = tf_utf8_len(s + i, len - i);
			if (n) {
				seq_write(m, s + i, n);
				i += n;
			} else {
				seq_puts(m, "\\ufffd");
				i++;
			}
			continue;
		}
		switch (c) {
		case '"':
			seq_puts(m, "\\\"");
			break;
		case '\\':
			seq_puts(m, "\\\\");
			break;
		case '\n':
			seq_puts(m, "\\n");
			break;
		case '\r':
			seq_puts(m, "\\r");
			break;
		case '\t':
			seq_puts(m, "\\t");
			break;
		case '\b':
			seq_puts(m, "\\b");
			break;
		case '\f':
			seq_puts(m, "\\f");
			break;
		default:
			if (c < 0x20 || c == 0x7f)
				seq_printf(m, "\\u%04x", c);
			else
				seq_putc(m, c);
		}
		i++;
	}
	seq_putc(m, '"');
}

/* ----------------------------------------------------- container ids -- */

struct tf_prefix {
	const char *prefix;
	const char *runtime;
};

/* systemd-driver scope names: <prefix><64 hex>.scope */
static const struct tf_prefix tf_prefixes[] = {
	{ "docker-", "docker" },
	{ "cri-containerd-", "containerd" },
	{ "crio-", "cri-o" },
	{ "libpod-", "podman" },
	{ "containerd-", "containerd" },
};

static bool tf_is_id(const char *s, size_t len)
{
	size_t i;

	if (len != TF_ID_LEN)
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool tf_has_prefix(const char *s, size_t len, const char *p, size_t *plen)
{
	size_t n = strlen(p);

	if (n == 0 || n > len || memcmp(s, p, n))
		return false;
	*plen = n;
	return true;
}

static bool tf_comp_eq(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && !memcmp(s, word, len);
}

/* Runtime of a bare "<64 hex>" component, from the component before it. */
static const char *tf_bare_runtime(const char *path, const char *comp)
{
	const char *end = comp - 1;	/* the '/' before comp */
	const char *start = end;

	while (start > path && start[-1] != '/')
		start--;
	if (tf_comp_eq(start, end - start, "docker"))
		return "docker";
	if (tf_comp_eq(start, end - start, "libpod_parent"))
		return "podman";
	if (strstr(path, "kubepods"))
		return "kubernetes";
	return "unknown";
}

/*
 * Finds the container id in a cgroup path. Components are tried from the
 * deepest up, so the innermost container wins and a container's own nested
 * groups still belong to it. Recognised layouts (cgroup v1 and v2 alike):
 *   /docker/<id>                                      docker, cgroupfs driver
 *   /system.slice/docker-<id>.scope                   docker, systemd driver
 *   /kubepods/burstable/pod<uid>/<id>                 kubernetes, cgroupfs
 *   /kubepods.slice/.../cri-containerd-<id>.scope     containerd (CRI)
 *   /kubepods.slice/.../crio-<id>.scope               cri-o
 *   /machine.slice/libpod-<id>.scope, /libpod_parent/libpod-<id>   podman
 *   /default/<id>                                     containerd (nerdctl)
 * plus "<match><id>" for each extra match string. conmon scopes
 * (libpod-conmon-<id>, crio-conmon-<id>) are not containers.
 * Returns true with the id in id[] and the runtime name in *runtime.
 */
static bool tf_find_id(const char *path, char *id, const char **runtime)
{
	const char *end = path + strlen(path);

	while (end > path) {
		const char *comp = end, *s;
		size_t len, plen;
		unsigned int i;

		while (comp > path && comp[-1] != '/')
			comp--;
		s = comp;
		len = end - comp;
		if (len > 6 && !memcmp(s + len - 6, ".scope", 6))
			len -= 6;

		if (tf_is_id(s, len) && comp > path) {
			memcpy(id, s, TF_ID_LEN);
			id[TF_ID_LEN] = '\0';
			*runtime = tf_bare_runtime(path, comp);
			return true;
		}
		for (i = 0; i < ARRAY_SIZE(tf_prefixes); i++) {
			if (tf_has_prefix(s, len, tf_prefixes[i].prefix, &plen) &&
			    tf_is_id(s + plen, len - plen)) {
				memcpy(id, s + plen, TF_ID_LEN);
				id[TF_ID_LEN] = '\0';
				*runtime = tf_prefixes[i].runtime;
				return true;
			}
		}
		for (i = 0; i < match_count && i < TF_MAX_MATCH; i++) {
			if (match[i] &&
			    tf_has_prefix(s, len, match[i], &plen) &&
			    tf_is_id(s + plen, len - plen)) {
				memcpy(id, s + plen, TF_ID_LEN);
				id[TF_ID_LEN] = '\0';
				*runtime = "custom";
				return true;
			}
		}
		end = comp > path ? comp - 1 : path;
	}
	return false;
}

static bool tf_extra_match(const char *path)
{
	int i;

	for (i = 0; i < match_count && i < TF_MAX_MATCH; i++)
		if (match[i] && match[i][0] && strstr(path, match[i]))
			return true;
	return false;
}

/* ----------------------------------------------------------- phase 1 -- */

static void tf_hold_cgroup(struct tf_proc *r, struct cgroup *cgrp)
{
	unsigned int i;

	if (!cgrp || !cgroup_parent(cgrp))	/* a root path has no id */
		return;
	for (i = 0; i < r->ncgrps; i++)
		if (r->cgrps[i] == cgrp)	/* co-mounted v1 controllers */
			return;
	if (r->ncgrps < TF_MAX_CGRPS && cgroup_tryget(cgrp))
		r->cgrps[r->ncgrps++] = cgrp;
}

/* Called under rcu_read_lock(): takes spinlocks only, never sleeps. */
static void tf_fill(struct tf_proc *r, struct task_struct *p)
{
	struct signal_struct *sig = p->signal;
	struct pid_namespace *ns;
	struct task_struct *t;
	struct css_set *cset;
	unsigned int seq, nextseq = 0, threads, i;
	unsigned long flags;
	u64 cpu;

	memset(r, 0, offsetof(struct tf_proc, cgrps));
	r->pid = task_tgid_nr(p);
	ns = task_active_pid_ns(p);	/* NULL once the task is being reaped */
	r->ns_pid = ns ? task_tgid_nr_ns(p, ns) : 0;
	r->in_pid_ns = ns && ns != &init_pid_ns;
	get_task_comm(r->comm, p);

	/*
	 * CPU time of the whole thread group: the live threads' runtime plus
	 * what exited threads left in signal->sum_sched_runtime, read under
	 * stats_lock (a seqlock; __exit_signal moves a thread's runtime there
	 * and unhashes it in one write section), like thread_group_cputime().
	 */
	do {
		seq = nextseq;
		flags = read_seqbegin_or_lock_irqsave(&sig->stats_lock, &seq);
		cpu = sig->sum_sched_runtime;
		threads = 0;
		for_each_thread(p, t) {
			cpu += READ_ONCE(t->se.sum_exec_runtime);
			threads++;
		}
		nextseq = 1;	/* second round takes the lock */
	} while (need_seqretry(&sig->stats_lock, seq));
	done_seqretry_irqrestore(&sig->stats_lock, seq, flags);
	r->cpu_ns = cpu;
	r->threads = threads;

	/* RSS as /proc/<pid>/status VmRSS; the leader may have exited already. */
	if (!(p->flags & PF_KTHREAD)) {
		for_each_thread(p, t) {
			bool found = false;

			task_lock(t);
			if (t->mm) {
				r->rss_kb = (u64)get_mm_rss(t->mm) << (PAGE_SHIFT - 10);
				found = true;
			}
			task_unlock(t);
			if (found)
				break;
		}
	}

	/* The v2 cgroup first, then one cgroup per mounted v1 hierarchy. */
	r->ncgrps = 0;
	cset = task_css_set(p);
	tf_hold_cgroup(r, cset->dfl_cgrp);
	for (i = 0; i < CGROUP_SUBSYS_COUNT; i++) {
		struct cgroup_subsys_state *css = cset->subsys[i];

		if (css && css->cgroup && css->cgroup->root != &cgrp_dfl_root)
			tf_hold_cgroup(r, css->cgroup);
	}
}

static size_t tf_count_processes(void)
{
	struct task_struct *p;
	size_t n = 0;

	rcu_read_lock();
	for_each_process(p)
		n++;
	rcu_read_unlock();
	return n;
}

static void tf_put_cgroups(struct tf_proc *r)
{
	while (r->ncgrps)
		cgroup_put(r->cgrps[--r->ncgrps]);
}

static void tf_free(struct tf_snap *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->nr; i++) {
		tf_put_cgroups(&s->procs[i]);
		kfree(s->procs[i].cgroup_path);
	}
	kvfree(s);
}

/* ----------------------------------------------------------- phase 2 -- */

static int tf_resolve(struct tf_snap *s, char *buf, size_t buflen)
{
	size_t i, kept = 0;

	for (i = 0; i < s->nr; i++) {
		struct tf_proc *r = &s->procs[i];
		const char *path = "/";
		bool keep = false;
		unsigned int c;
		int len;

		for (c = 0; c < r->ncgrps; c++) {
			len = cgroup_path(r->cgrps[c], buf, buflen);
			if (len < 0 || len >= buflen)
				continue;	/* unnamed or longer than PATH_MAX */
			if (!r->has_id && tf_find_id(buf, r->id, &r->runtime)) {
				r->has_id = true;
				keep = true;
				kfree(r->cgroup_path);
				r->cgroup_path = kstrdup(buf, GFP_KERNEL);
				if (!r->cgroup_path)
					goto nomem;
				break;
			}
			if (!r->cgroup_path) {
				/* first non-root path: shown when nothing matches */
				r->cgroup_path = kstrdup(buf, GFP_KERNEL);
				if (!r->cgroup_path)
					goto nomem;
			}
			if (tf_extra_match(buf)) {
				keep = true;
				r->runtime = "custom";
				kfree(r->cgroup_path);
				r->cgroup_path = kstrdup(buf, GFP_KERNEL);
				if (!r->cgroup_path)
					goto nomem;
			}
		}
		tf_put_cgroups(r);
		if (!r->cgroup_path) {
			r->cgroup_path = kstrdup(path, GFP_KERNEL);
			if (!r->cgroup_path)
				goto nomem;
		}
		if (keep || s->list_all) {
			if (kept != i) {
				s->procs[kept] = *r;
				r->cgroup_path = NULL;
			}
			kept++;
		} else {
			kfree(r->cgroup_path);
			r->cgroup_path = NULL;
		}
	}
	s->nr = kept;
	return 0;

nomem:
	/* records [kept, i] may still hold refs/paths: free them all here */
	for (; i < s->nr; i++) {
		tf_put_cgroups(&s->procs[i]);
		kfree(s->procs[i].cgroup_path);
		s->procs[i].cgroup_path = NULL;
	}
	s->nr = kept;
	return -ENOMEM;
}

static struct tf_snap *tf_snapshot(void)
{
	struct tf_snap *s = NULL;
	struct task_struct *p;
	struct sysinfo si;
	size_t cap = 0;
	char *buf;
	int tries, ret;

	buf = kmalloc(PATH_MAX, GFP_KERNEL);
	if (!buf)
		return ERR_PTR(-ENOMEM);

	/* The task list can grow between counting and copying: retry larger. */
	for (tries = 0; tries < TF_SNAP_TRIES; tries++) {
		size_t n = tf_count_processes();

		cap = max(cap * 2, n + n / 4 + 32);
		s = kvzalloc(struct_size(s, procs, cap), GFP_KERNEL);
		if (!s) {
			kfree(buf);
			return ERR_PTR(-ENOMEM);
		}
		s->cap = cap;
		s->list_all = READ_ONCE(list_all);
		s->mono_ns = ktime_get_ns();
		s->boot_ns = ktime_get_boottime_ns();

		rcu_read_lock();
		for_each_process(p) {
			if (s->nr == s->cap) {
				s->truncated = true;
				break;
			}
			tf_fill(&s->procs[s->nr++], p);
		}
		rcu_read_unlock();

		if (!s->truncated || tries == TF_SNAP_TRIES - 1)
			break;
		tf_free(s);	/* drops the cgroup refs taken above */
		s = NULL;
	}
	s->scanned = s->nr;

	si_meminfo(&si);
	s->total_kb = si.totalram << (PAGE_SHIFT - 10);
	s->free_kb = si.freeram << (PAGE_SHIFT - 10);
	s->available_kb = (unsigned long)si_mem_available() << (PAGE_SHIFT - 10);
	s->used_kb = s->total_kb > s->available_kb ?
		     s->total_kb - s->available_kb : 0;

	ret = tf_resolve(s, buf, PATH_MAX);
	kfree(buf);
	if (ret) {
		tf_free(s);
		return ERR_PTR(ret);
	}

	/* An open file keeps only the kept records: usually a few of many. */
	if (s->nr < s->cap / 2) {
		size_t size = struct_size(s, procs, s->nr);
		struct tf_snap *small = kvmalloc(size, GFP_KERNEL);

		if (small) {
			memcpy(small, s, size);	/* moves the cgroup_path pointers */
			small->cap = s->nr;
			kvfree(s);
			s = small;
		}
	}
	return s;
}

/* ---------------------------------------------------------- seq_file -- */

/* Position 0 is the header, 1..nr the processes, nr+1 the footer. */
static void *tf_seq_start(struct seq_file *m, loff_t *pos)
{
	struct tf_snap *s = m->private;

	if (*pos < 0 || *pos > (loff_t)s->nr + 1)
		return NULL;
	return (void *)(uintptr_t)(*pos + 1);
}

static void *tf_seq_next(struct seq_file *m, void *v, loff_t *pos)
{
	++*pos;
	return tf_seq_start(m, pos);
}

static void tf_seq_stop(struct seq_file *m, void *v)
{
}

static void tf_show_proc(struct seq_file *m, const struct tf_proc *r, bool first)
{
	seq_printf(m, "%s\n{\"pid\":%d,\"ns_pid\":%d,\"in_pid_ns\":%s,\"comm\":",
		   first ? "" : ",", r->pid, r->ns_pid,
		   r->in_pid_ns ? "true" : "false");
	tf_json_str(m, r->comm, strnlen(r->comm, sizeof(r->comm)));
	seq_printf(m, ",\"rss_kb\":%llu,\"cpu_ns\":%llu,\"threads\":%u,\"cgroup\":",
		   r->rss_kb, r->cpu_ns, r->threads);
	tf_json_str(m, r->cgroup_path, strlen(r->cgroup_path));
	if (r->has_id)
		seq_printf(m, ",\"container_id\":\"%s\"", r->id);
	else
		seq_puts(m, ",\"container_id\":null");
	if (r->runtime)
		seq_printf(m, ",\"runtime\":\"%s\"}", r->runtime);
	else
		seq_puts(m, ",\"runtime\":null}");
}

static int tf_seq_show(struct seq_file *m, void *v)
{
	struct tf_snap *s = m->private;
	size_t idx = (uintptr_t)v - 1;

	if (idx == 0) {
		seq_printf(m, "{\"version\":%d,\"kernel\":", TF_FORMAT_VER);
		tf_json_str(m, init_utsname()->release,
			    strlen(init_utsname()->release));
		seq_printf(m,
			   ",\"timestamp_ns\":%llu,\"boottime_ns\":%llu,\"list_all\":%s,\"truncated\":%s,\"scanned\":%zu",
			   s->mono_ns, s->boot_ns,
			   s->list_all ? "true" : "false",
			   s->truncated ? "true" : "false", s->scanned);
		seq_printf(m,
			   ",\n\"memory\":{\"total_kb\":%lu,\"free_kb\":%lu,\"available_kb\":%lu,\"used_kb\":%lu}",
			   s->total_kb, s->free_kb, s->available_kb, s->used_kb);
		seq_printf(m, ",\n\"process_count\":%zu,\"processes\":[", s->nr);
	} else if (idx <= s->nr) {
		tf_show_proc(m, &s->procs[idx - 1], idx == 1);
	} else {
		seq_puts(m, "\n]}\n");
	}
	return 0;
}

static const struct seq_operations tf_seq_ops = {
	.start = tf_seq_start,
	.next = tf_seq_next,
	.stop = tf_seq_stop,
	.show = tf_seq_show,
};

static int tf_open(struct inode *inode, struct file *file)
{
	struct tf_snap *s;
	int ret;

	s = tf_snapshot();
	if (IS_ERR(s))
		return PTR_ERR(s);
	ret = seq_open(file, &tf_seq_ops);
	if (ret) {
		tf_free(s);
		return ret;
	}
	((struct seq_file *)file->private_data)->private = s;
	return 0;
}

static int tf_release(struct inode *inode, struct file *file)
{
	struct seq_file *m = file->private_data;

	tf_free(m->private);
	return seq_release(inode, file);
}

static const struct proc_ops tf_proc_ops = {
	.proc_open = tf_open,
	.proc_read_iter = seq_read_iter,
	.proc_lseek = seq_lseek,
	.proc_release = tf_release,
};

static int __init tf_init(void)
{
	if (!proc_create(TF_PROC_NAME, 0444, NULL, &tf_proc_ops))
		return -ENOMEM;
	pr_info("loaded: /proc/%s (list_all=%d, %d extra match strings)\n",
		TF_PROC_NAME, list_all, match_count);
	return 0;
}

static void __exit tf_exit(void)
{
	/* waits for running readers and releases files still open */
	remove_proc_entry(TF_PROC_NAME, NULL);
	pr_info("unloaded\n");
}

module_init(tf_init);
module_exit(tf_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("tideflow");
MODULE_DESCRIPTION("Host memory and container processes as JSON in /proc/tideflow_sysinfo");
MODULE_VERSION("1.0");
