/* oci_spec.c - OCI runtime config from an image config (see oci_spec.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipfs/oci_spec.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define DB_LINE_MAX 4096

static int
parse_id(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/*
 * Looks up key (a name, or with by_id a number) in a passwd/group style
 * file; on a match copies the line's fields into f (at most nf) and
 * returns the number of fields, 0 if absent, -1 if the file is unreadable.
 */
static int
db_find(const char *path, const char *key, int by_id, char *line, size_t len, char **f, int nf)
{
	FILE *fp = fopen(path, "r");
	int n = 0;

	if (fp == NULL)
		return errno == ENOENT ? 0 : -1;
	while (fgets(line, (int)len, fp) != NULL) {
		char *tok, *p = line;
		line[strcspn(line, "\n")] = '\0';
		n = 0;
		/* strsep keeps empty fields (a group with no members). */
		while (n < nf && (tok = strsep(&p, ":")) != NULL)
			f[n++] = tok;
		if (n >= 3 && strcmp(f[by_id ? 2 : 0], key) == 0)
			break;
		n = 0;
	}
	fclose(fp);
	return n;
}

int
oci_user_resolve(const char *rootfs, const char *user, struct oci_user *out, char *msg,
    size_t msglen)
{
	char passwd[4096], group[4096], line[DB_LINE_MAX], name[256], grp[256];
	char *f[8];
	const char *colon;
	int n, have_group;
	FILE *fp;

	memset(out, 0, sizeof(*out));
	if (user == NULL || *user == '\0')
		return 0;
	snprintf(passwd, sizeof(passwd), "%s/etc/passwd", rootfs);
	snprintf(group, sizeof(group), "%s/etc/group", rootfs);
	colon = strchr(user, ':');
	snprintf(name, sizeof(name), "%.*s", (int)(colon ? (size_t)(colon - user) : strlen(user)),
	    user);
	have_group = colon != NULL && colon[1] != '\0';
	if (have_group)
		snprintf(grp, sizeof(grp), "%s", colon + 1);

	if (parse_id(name, &out->uid) == 0) {
		n = db_find(passwd, name, 1, line, sizeof(line), f, 7);
		if (n >= 4)
			parse_id(f[3], &out->gid);
	} else {
		n = db_find(passwd, name, 0, line, sizeof(line), f, 7);
		if (n < 4 || parse_id(f[2], &out->uid) != 0 || parse_id(f[3], &out->gid) != 0) {
			snprintf(msg, msglen, "user '%s' is not in the image's /etc/passwd", name);
			return -1;
		}
	}
	if (have_group) {
		if (parse_id(grp, &out->gid) != 0) {
			n = db_find(group, grp, 0, line, sizeof(line), f, 4);
			if (n < 3 || parse_id(f[2], &out->gid) != 0) {
				snprintf(msg, msglen, "group '%s' is not in the image's /etc/group", grp);
				return -1;
			}
		}
		return 0;
	}
	/* Supplementary groups: every group that lists the user by name. */
	fp = fopen(group, "r");
	while (fp != NULL && fgets(line, sizeof(line), fp) != NULL &&
	    out->nextra < sizeof(out->extra_gids) / sizeof(out->extra_gids[0])) {
		char *p = line, *members, *m, *save = NULL;
		uint32_t gid;
		line[strcspn(line, "\n")] = '\0';
		n = 0;
		while (n < 4 && (f[n] = strsep(&p, ":")) != NULL)
			n++;
		if (n < 4 || parse_id(f[2], &gid) != 0 || gid == out->gid)
			continue;
		members = f[3];
		for (m = strtok_r(members, ",", &save); m; m = strtok_r(NULL, ",", &save))
			if (strcmp(m, name) == 0) {
				out->extra_gids[out->nextra++] = gid;
				break;
			}
	}
	if (fp != NULL)
		fclose(fp);
	return 0;
}

static json_t *
string_array(const char *const *v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *
mount_entry(const char *dest, const char *type, const char *src, const char *const *opts,
    size_t nopts)
{
	json_t *m = json_pack("{s:s,s:s,s:s}", "destination", dest, "type", type, "source", src);

	if (nopts > 0)
		json_object_set_new(m, "options", string_array(opts, nopts));
	return m;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static json_t *
default_mounts(void)
{
	static const char *const dev[] = { "nosuid", "strictatime", "mode=755", "size=65536k" };
	static const char *const pts[] = { "nosuid", "noexec", "newinstance", "ptmxmode=0666",
		"mode=0620", "gid=5" };
	static const char *const shm[] = { "nosuid", "noexec", "nodev", "mode=1777", "size=65536k" };
	static const char *const mq[] = { "nosuid", "noexec", "nodev" };
	static const char *const sys[] = { "nosuid", "noexec", "nodev", "ro" };
	static const char *const cg[] = { "nosuid", "noexec", "nodev", "relatime", "ro" };
	json_t *a = json_array();

	json_array_append_new(a, mount_entry("/proc", "proc", "proc", NULL, 0));
	json_array_append_new(a, mount_entry("/dev", "tmpfs", "tmpfs", dev, N(dev)));
	json_array_append_new(a, mount_entry("/dev/pts", "devpts", "devpts", pts, N(pts)));
	json_array_append_new(a, mount_entry("/dev/shm", "tmpfs", "shm", shm, N(shm)));
	json_array_append_new(a, mount_entry("/dev/mqueue", "mqueue", "mqueue", mq, N(mq)));
	json_array_append_new(a, mount_entry("/sys", "sysfs", "sysfs", sys, N(sys)));
	json_array_append_new(a, mount_entry("/sys/fs/cgroup", "cgroup", "cgroup", cg, N(cg)));
	return a;
}

static json_t *
default_linux(void)
{
	static const char *const masked[] = { "/proc/acpi", "/proc/asound", "/proc/kcore",
		"/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
		"/proc/sched_debug", "/sys/firmware", "/proc/scsi" };
	static const char *const ro[] = { "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
		"/proc/sysrq-trigger" };
	json_t *l = json_object(), *ns = json_array();
	static const char *const types[] = { "pid", "network", "ipc", "uts", "mount" };
	size_t i;

	for (i = 0; i < N(types); i++)
		json_array_append_new(ns, json_pack("{s:s}", "type", types[i]));
	json_object_set_new(l, "namespaces", ns);
	json_object_set_new(l, "resources", json_pack("{s:[{s:b,s:s}]}", "devices",
	    "allow", 0, "access", "rwm"));
	json_object_set_new(l, "maskedPaths", string_array(masked, N(masked)));
	json_object_set_new(l, "readonlyPaths", string_array(ro, N(ro)));
	return l;
}

static json_t *
default_caps(void)
{
	static const char *const caps[] = { "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" };

	return json_pack("{s:o,s:o,s:o,s:o}", "bounding", string_array(caps, N(caps)),
	    "effective", string_array(caps, N(caps)), "permitted", string_array(caps, N(caps)),
	    "ambient", string_array(caps, N(caps)));
}

static void
append_strings(json_t *dst, json_t *src)
{
	size_t i;
	json_t *v;

	json_array_foreach(src, i, v)
		if (json_is_string(v))
			json_array_append(dst, v);
}

json_t *
oci_spec_build(json_t *cfg, const struct oci_user *user, const char *root_path, int readonly,
    char *msg, size_t msglen)
{
	json_t *spec, *process, *args, *env, *uj, *gids, *v;
	const char *cwd;
	size_t i, has_path = 0;

	args = json_array();
	append_strings(args, json_object_get(cfg, "Entrypoint"));
	append_strings(args, json_object_get(cfg, "Cmd"));
	if (json_array_size(args) == 0) {
		json_decref(args);
		snprintf(msg, msglen, "the image config has neither Entrypoint nor Cmd");
		return NULL;
	}
	env = json_array();
	append_strings(env, json_object_get(cfg, "Env"));
	json_array_foreach(env, i, v)
		if (strncmp(json_string_value(v), "PATH=", 5) == 0)
			has_path = 1;
	if (!has_path)
		json_array_insert_new(env, 0, json_string(DEFAULT_PATH));
	cwd = json_string_value(json_object_get(cfg, "WorkingDir"));
	if (cwd == NULL || *cwd == '\0')
		cwd = "/";
	uj = json_pack("{s:I,s:I}", "uid", (json_int_t)user->uid, "gid", (json_int_t)user->gid);
	if (user->nextra > 0) {
		gids = json_array();
		for (i = 0; i < user->nextra; i++)
			json_array_append_new(gids, json_integer(user->extra_gids[i]));
		json_object_set_new(uj, "additionalGids", gids);
	}
	process = json_pack("{s:b,s:o,s:o,s:o,s:s,s:o,s:[{s:s,s:i,s:i}],s:b}",
	    "terminal", 0, "user", uj, "args", args, "env", env, "cwd", cwd,
	    "capabilities", default_caps(),
	    "rlimits", "type", "RLIMIT_NOFILE", "hard", 1024, "soft", 1024,
	    "noNewPrivileges", 1);
	spec = json_pack("{s:s,s:o,s:{s:s,s:b},s:s,s:o,s:o}",
	    "ociVersion", "1.0.2",
	    "process", process,
	    "root", "path", root_path, "readonly", readonly,
	    "hostname", "clipfs",
	    "mounts", default_mounts(),
	    "linux", default_linux());
	if (spec == NULL)
		snprintf(msg, msglen, "building config.json failed");
	return spec;
}
