/*
 * Differential scenario for libvirt's domain save/restore API on test:///default.
 *
 * Built against the system libvirt headers, run once against the real libvirt 9.0
 * and once against virshim's libvirt.so.0 (LD_LIBRARY_PATH); run.sh compares the two
 * traces step by step.
 *
 * Output format (stdout), one record per step:
 *
 *   <name> [tags] <STATUS> <label>=<value> <outcome> ...
 *     <continuation lines, two leading spaces>
 *
 * A record is keyed by its step name (no sequence number, so inserting a step leaves the
 * other records as they were): a name used twice stops the program ("FATAL duplicate
 * step name").  The last line, "END steps=N", counts the steps.
 *
 * STATUS is OK or FAIL for the primary call of the step (the first result recorded),
 * INFO for steps that only report.  For every recorded call:
 *   success: "lasterr=NULL" (virGetLastError() returned NULL afterwards) or
 *            "lasterr=SET[CODE/DOMAIN]" (it did not);
 *   failure: "err=CODE(n)/DOMAIN(n) "message"" taken from virGetLastError(),
 *            and a continuation line "errx|" with the remaining virError fields.
 * Everything libvirt prints on stderr during a step (the default error handler,
 * libxml2 warnings) is captured and shown as "stderr|" continuation lines.
 *
 * Normalization: the temporary directory is printed as $TMP; UUIDs that the program
 * did not choose itself are printed as <random-uuid>; the stale strerror that
 * libvirt's test driver appends to its short-read errors is replaced by
 * "<strerror>" (step tag [norm:strerror]); list results are sorted.
 *
 * Tags: [superset] virshim deliberately supports what libvirt's test driver
 * refuses: a difference is allowed only when libvirt failed and virshim succeeded.
 * [superset-err] same, and a difference is also allowed when both failed with
 * different errors.  [env] the result depends on the machine (a libvirt daemon socket).
 *
 * Only functions that virshim implements are used (see the list in run.sh).
 * No freed pointer is ever passed to libvirt; NULL is passed where documented to fail.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

/* ------------------------------------------------------------------------ */
/* Names of error codes and domains (taken from the enumerations in virterror.h). */

static const char *const err_names[] = {
    [VIR_ERR_OK] = "OK",
    [VIR_ERR_INTERNAL_ERROR] = "INTERNAL_ERROR",
    [VIR_ERR_NO_MEMORY] = "NO_MEMORY",
    [VIR_ERR_NO_SUPPORT] = "NO_SUPPORT",
    [VIR_ERR_UNKNOWN_HOST] = "UNKNOWN_HOST",
    [VIR_ERR_NO_CONNECT] = "NO_CONNECT",
    [VIR_ERR_INVALID_CONN] = "INVALID_CONN",
    [VIR_ERR_INVALID_DOMAIN] = "INVALID_DOMAIN",
    [VIR_ERR_INVALID_ARG] = "INVALID_ARG",
    [VIR_ERR_OPERATION_FAILED] = "OPERATION_FAILED",
    [VIR_ERR_GET_FAILED] = "GET_FAILED",
    [VIR_ERR_POST_FAILED] = "POST_FAILED",
    [VIR_ERR_HTTP_ERROR] = "HTTP_ERROR",
    [VIR_ERR_SEXPR_SERIAL] = "SEXPR_SERIAL",
    [VIR_ERR_NO_XEN] = "NO_XEN",
    [VIR_ERR_XEN_CALL] = "XEN_CALL",
    [VIR_ERR_OS_TYPE] = "OS_TYPE",
    [VIR_ERR_NO_KERNEL] = "NO_KERNEL",
    [VIR_ERR_NO_ROOT] = "NO_ROOT",
    [VIR_ERR_NO_SOURCE] = "NO_SOURCE",
    [VIR_ERR_NO_TARGET] = "NO_TARGET",
    [VIR_ERR_NO_NAME] = "NO_NAME",
    [VIR_ERR_NO_OS] = "NO_OS",
    [VIR_ERR_NO_DEVICE] = "NO_DEVICE",
    [VIR_ERR_NO_XENSTORE] = "NO_XENSTORE",
    [VIR_ERR_DRIVER_FULL] = "DRIVER_FULL",
    [VIR_ERR_CALL_FAILED] = "CALL_FAILED",
    [VIR_ERR_XML_ERROR] = "XML_ERROR",
    [VIR_ERR_DOM_EXIST] = "DOM_EXIST",
    [VIR_ERR_OPERATION_DENIED] = "OPERATION_DENIED",
    [VIR_ERR_OPEN_FAILED] = "OPEN_FAILED",
    [VIR_ERR_READ_FAILED] = "READ_FAILED",
    [VIR_ERR_PARSE_FAILED] = "PARSE_FAILED",
    [VIR_ERR_CONF_SYNTAX] = "CONF_SYNTAX",
    [VIR_ERR_WRITE_FAILED] = "WRITE_FAILED",
    [VIR_ERR_XML_DETAIL] = "XML_DETAIL",
    [VIR_ERR_INVALID_NETWORK] = "INVALID_NETWORK",
    [VIR_ERR_NETWORK_EXIST] = "NETWORK_EXIST",
    [VIR_ERR_SYSTEM_ERROR] = "SYSTEM_ERROR",
    [VIR_ERR_RPC] = "RPC",
    [VIR_ERR_GNUTLS_ERROR] = "GNUTLS_ERROR",
    [VIR_WAR_NO_NETWORK] = "WAR_NO_NETWORK",
    [VIR_ERR_NO_DOMAIN] = "NO_DOMAIN",
    [VIR_ERR_NO_NETWORK] = "NO_NETWORK",
    [VIR_ERR_INVALID_MAC] = "INVALID_MAC",
    [VIR_ERR_AUTH_FAILED] = "AUTH_FAILED",
    [VIR_ERR_INVALID_STORAGE_POOL] = "INVALID_STORAGE_POOL",
    [VIR_ERR_INVALID_STORAGE_VOL] = "INVALID_STORAGE_VOL",
    [VIR_WAR_NO_STORAGE] = "WAR_NO_STORAGE",
    [VIR_ERR_NO_STORAGE_POOL] = "NO_STORAGE_POOL",
    [VIR_ERR_NO_STORAGE_VOL] = "NO_STORAGE_VOL",
    [VIR_WAR_NO_NODE] = "WAR_NO_NODE",
    [VIR_ERR_INVALID_NODE_DEVICE] = "INVALID_NODE_DEVICE",
    [VIR_ERR_NO_NODE_DEVICE] = "NO_NODE_DEVICE",
    [VIR_ERR_NO_SECURITY_MODEL] = "NO_SECURITY_MODEL",
    [VIR_ERR_OPERATION_INVALID] = "OPERATION_INVALID",
    [VIR_WAR_NO_INTERFACE] = "WAR_NO_INTERFACE",
    [VIR_ERR_NO_INTERFACE] = "NO_INTERFACE",
    [VIR_ERR_INVALID_INTERFACE] = "INVALID_INTERFACE",
    [VIR_ERR_MULTIPLE_INTERFACES] = "MULTIPLE_INTERFACES",
    [VIR_WAR_NO_NWFILTER] = "WAR_NO_NWFILTER",
    [VIR_ERR_INVALID_NWFILTER] = "INVALID_NWFILTER",
    [VIR_ERR_NO_NWFILTER] = "NO_NWFILTER",
    [VIR_ERR_BUILD_FIREWALL] = "BUILD_FIREWALL",
    [VIR_WAR_NO_SECRET] = "WAR_NO_SECRET",
    [VIR_ERR_INVALID_SECRET] = "INVALID_SECRET",
    [VIR_ERR_NO_SECRET] = "NO_SECRET",
    [VIR_ERR_CONFIG_UNSUPPORTED] = "CONFIG_UNSUPPORTED",
    [VIR_ERR_OPERATION_TIMEOUT] = "OPERATION_TIMEOUT",
    [VIR_ERR_MIGRATE_PERSIST_FAILED] = "MIGRATE_PERSIST_FAILED",
    [VIR_ERR_HOOK_SCRIPT_FAILED] = "HOOK_SCRIPT_FAILED",
    [VIR_ERR_INVALID_DOMAIN_SNAPSHOT] = "INVALID_DOMAIN_SNAPSHOT",
    [VIR_ERR_NO_DOMAIN_SNAPSHOT] = "NO_DOMAIN_SNAPSHOT",
    [VIR_ERR_INVALID_STREAM] = "INVALID_STREAM",
    [VIR_ERR_ARGUMENT_UNSUPPORTED] = "ARGUMENT_UNSUPPORTED",
    [VIR_ERR_STORAGE_PROBE_FAILED] = "STORAGE_PROBE_FAILED",
    [VIR_ERR_STORAGE_POOL_BUILT] = "STORAGE_POOL_BUILT",
    [VIR_ERR_SNAPSHOT_REVERT_RISKY] = "SNAPSHOT_REVERT_RISKY",
    [VIR_ERR_OPERATION_ABORTED] = "OPERATION_ABORTED",
    [VIR_ERR_AUTH_CANCELLED] = "AUTH_CANCELLED",
    [VIR_ERR_NO_DOMAIN_METADATA] = "NO_DOMAIN_METADATA",
    [VIR_ERR_MIGRATE_UNSAFE] = "MIGRATE_UNSAFE",
    [VIR_ERR_OVERFLOW] = "OVERFLOW",
    [VIR_ERR_BLOCK_COPY_ACTIVE] = "BLOCK_COPY_ACTIVE",
    [VIR_ERR_OPERATION_UNSUPPORTED] = "OPERATION_UNSUPPORTED",
    [VIR_ERR_SSH] = "SSH",
    [VIR_ERR_AGENT_UNRESPONSIVE] = "AGENT_UNRESPONSIVE",
    [VIR_ERR_RESOURCE_BUSY] = "RESOURCE_BUSY",
    [VIR_ERR_ACCESS_DENIED] = "ACCESS_DENIED",
    [VIR_ERR_DBUS_SERVICE] = "DBUS_SERVICE",
    [VIR_ERR_STORAGE_VOL_EXIST] = "STORAGE_VOL_EXIST",
    [VIR_ERR_CPU_INCOMPATIBLE] = "CPU_INCOMPATIBLE",
    [VIR_ERR_XML_INVALID_SCHEMA] = "XML_INVALID_SCHEMA",
    [VIR_ERR_MIGRATE_FINISH_OK] = "MIGRATE_FINISH_OK",
    [VIR_ERR_AUTH_UNAVAILABLE] = "AUTH_UNAVAILABLE",
    [VIR_ERR_NO_SERVER] = "NO_SERVER",
    [VIR_ERR_NO_CLIENT] = "NO_CLIENT",
    [VIR_ERR_AGENT_UNSYNCED] = "AGENT_UNSYNCED",
    [VIR_ERR_LIBSSH] = "LIBSSH",
    [VIR_ERR_DEVICE_MISSING] = "DEVICE_MISSING",
    [VIR_ERR_INVALID_NWFILTER_BINDING] = "INVALID_NWFILTER_BINDING",
    [VIR_ERR_NO_NWFILTER_BINDING] = "NO_NWFILTER_BINDING",
    [VIR_ERR_INVALID_DOMAIN_CHECKPOINT] = "INVALID_DOMAIN_CHECKPOINT",
    [VIR_ERR_NO_DOMAIN_CHECKPOINT] = "NO_DOMAIN_CHECKPOINT",
    [VIR_ERR_NO_DOMAIN_BACKUP] = "NO_DOMAIN_BACKUP",
    [VIR_ERR_INVALID_NETWORK_PORT] = "INVALID_NETWORK_PORT",
    [VIR_ERR_NETWORK_PORT_EXIST] = "NETWORK_PORT_EXIST",
    [VIR_ERR_NO_NETWORK_PORT] = "NO_NETWORK_PORT",
    [VIR_ERR_NO_HOSTNAME] = "NO_HOSTNAME",
    [VIR_ERR_CHECKPOINT_INCONSISTENT] = "CHECKPOINT_INCONSISTENT",
    [VIR_ERR_MULTIPLE_DOMAINS] = "MULTIPLE_DOMAINS",
};

static const char *const dom_names[] = {
    [VIR_FROM_NONE] = "NONE",
    [VIR_FROM_XEN] = "XEN",
    [VIR_FROM_XEND] = "XEND",
    [VIR_FROM_XENSTORE] = "XENSTORE",
    [VIR_FROM_SEXPR] = "SEXPR",
    [VIR_FROM_XML] = "XML",
    [VIR_FROM_DOM] = "DOM",
    [VIR_FROM_RPC] = "RPC",
    [VIR_FROM_PROXY] = "PROXY",
    [VIR_FROM_CONF] = "CONF",
    [VIR_FROM_QEMU] = "QEMU",
    [VIR_FROM_NET] = "NET",
    [VIR_FROM_TEST] = "TEST",
    [VIR_FROM_REMOTE] = "REMOTE",
    [VIR_FROM_OPENVZ] = "OPENVZ",
    [VIR_FROM_XENXM] = "XENXM",
    [VIR_FROM_STATS_LINUX] = "STATS_LINUX",
    [VIR_FROM_LXC] = "LXC",
    [VIR_FROM_STORAGE] = "STORAGE",
    [VIR_FROM_NETWORK] = "NETWORK",
    [VIR_FROM_DOMAIN] = "DOMAIN",
    [VIR_FROM_UML] = "UML",
    [VIR_FROM_NODEDEV] = "NODEDEV",
    [VIR_FROM_XEN_INOTIFY] = "XEN_INOTIFY",
    [VIR_FROM_SECURITY] = "SECURITY",
    [VIR_FROM_VBOX] = "VBOX",
    [VIR_FROM_INTERFACE] = "INTERFACE",
    [VIR_FROM_ONE] = "ONE",
    [VIR_FROM_ESX] = "ESX",
    [VIR_FROM_PHYP] = "PHYP",
    [VIR_FROM_SECRET] = "SECRET",
    [VIR_FROM_CPU] = "CPU",
    [VIR_FROM_XENAPI] = "XENAPI",
    [VIR_FROM_NWFILTER] = "NWFILTER",
    [VIR_FROM_HOOK] = "HOOK",
    [VIR_FROM_DOMAIN_SNAPSHOT] = "DOMAIN_SNAPSHOT",
    [VIR_FROM_AUDIT] = "AUDIT",
    [VIR_FROM_SYSINFO] = "SYSINFO",
    [VIR_FROM_STREAMS] = "STREAMS",
    [VIR_FROM_VMWARE] = "VMWARE",
    [VIR_FROM_EVENT] = "EVENT",
    [VIR_FROM_LIBXL] = "LIBXL",
    [VIR_FROM_LOCKING] = "LOCKING",
    [VIR_FROM_HYPERV] = "HYPERV",
    [VIR_FROM_CAPABILITIES] = "CAPABILITIES",
    [VIR_FROM_URI] = "URI",
    [VIR_FROM_AUTH] = "AUTH",
    [VIR_FROM_DBUS] = "DBUS",
    [VIR_FROM_PARALLELS] = "PARALLELS",
    [VIR_FROM_DEVICE] = "DEVICE",
    [VIR_FROM_SSH] = "SSH",
    [VIR_FROM_LOCKSPACE] = "LOCKSPACE",
    [VIR_FROM_INITCTL] = "INITCTL",
    [VIR_FROM_IDENTITY] = "IDENTITY",
    [VIR_FROM_CGROUP] = "CGROUP",
    [VIR_FROM_ACCESS] = "ACCESS",
    [VIR_FROM_SYSTEMD] = "SYSTEMD",
    [VIR_FROM_BHYVE] = "BHYVE",
    [VIR_FROM_CRYPTO] = "CRYPTO",
    [VIR_FROM_FIREWALL] = "FIREWALL",
    [VIR_FROM_POLKIT] = "POLKIT",
    [VIR_FROM_THREAD] = "THREAD",
    [VIR_FROM_ADMIN] = "ADMIN",
    [VIR_FROM_LOGGING] = "LOGGING",
    [VIR_FROM_XENXL] = "XENXL",
    [VIR_FROM_PERF] = "PERF",
    [VIR_FROM_LIBSSH] = "LIBSSH",
    [VIR_FROM_RESCTRL] = "RESCTRL",
    [VIR_FROM_FIREWALLD] = "FIREWALLD",
    [VIR_FROM_DOMAIN_CHECKPOINT] = "DOMAIN_CHECKPOINT",
    [VIR_FROM_TPM] = "TPM",
    [VIR_FROM_BPF] = "BPF",
    [VIR_FROM_CH] = "CH",
};

static const char *state_names[] = {
    "NOSTATE", "RUNNING", "BLOCKED", "PAUSED", "SHUTDOWN", "SHUTOFF", "CRASHED", "PMSUSPENDED",
};

static const char *
name_of(const char *const *table, size_t n, int v)
{
    if (v >= 0 && (size_t)v < n && table[v])
        return table[v];
    return "?";
}
#define ERRNAME(c) name_of(err_names, sizeof(err_names) / sizeof(err_names[0]), (c))
#define DOMNAME(d) name_of(dom_names, sizeof(dom_names) / sizeof(dom_names[0]), (d))
#define STATENAME(s) name_of(state_names, sizeof(state_names) / sizeof(state_names[0]), (s))

/* ------------------------------------------------------------------------ */
/* Temporary directory, stderr capture, output buffers. */

static char tmpdir[PATH_MAX];
static size_t tmpdir_len;
static int stderr_cap_fd = -1;   /* the file fd 2 points to */
static off_t stderr_cap_off;

#define LINE_MAX_LEN (1 << 16)
#define CONT_MAX_LEN (1 << 20)
static char line_buf[LINE_MAX_LEN];
static size_t line_len;
static char cont_buf[CONT_MAX_LEN];
static size_t cont_len;
static int step_no;               /* steps begun: the END line's count */
static char step_name[128];
/* Every name used so far: a record is keyed by its step name, so a name may be used once. */
#define STEPS_MAX 1024
static char *step_names[STEPS_MAX];
static char step_tags[128];
static int step_status;          /* -1: nothing recorded yet, 0: OK, 1: FAIL */
static int step_norm_strerror;   /* set when a message was normalized */

/* error handlers: counters */
struct cbstat {
    int count;
    int code;
    int domain;
};
static struct cbstat global_cb, conn_cb;
static int conn_cb_installed;

static void
fatal(const char *what)
{
    fprintf(stdout, "FATAL %s: %s\n", what, strerror(errno));
    fflush(stdout);
    exit(2);
}

static void
vappend(char *buf, size_t *len, size_t cap, const char *fmt, va_list ap)
{
    if (*len >= cap - 1)
        return;
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    if (n < 0)
        return;
    *len += (size_t)n;
    if (*len > cap - 1)
        *len = cap - 1;
}

static void __attribute__((format(printf, 1, 2)))
add(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vappend(line_buf, &line_len, sizeof(line_buf), fmt, ap);
    va_end(ap);
}

static void __attribute__((format(printf, 1, 2)))
addc(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vappend(cont_buf, &cont_len, sizeof(cont_buf), fmt, ap);
    va_end(ap);
}

static int
is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Is s (at least 36 chars) a UUID in the 8-4-4-4-12 form? */
static int
looks_like_uuid(const char *s)
{
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!s[i] || !is_hex(s[i])) {
            return 0;
        }
    }
    return 1;
}

/* UUIDs the scenario chooses itself: the test driver's default domain and ours. */
#define OUR_UUID_PREFIX "c0ffee00-0000-4000-8000-"
#define TEST_UUID "6695eb01-f6a4-8304-79aa-97f2502e193f"

static int
known_uuid(const char *s)
{
    return strncmp(s, OUR_UUID_PREFIX, strlen(OUR_UUID_PREFIX)) == 0 ||
           strncasecmp(s, TEST_UUID, 36) == 0 ||
           strncmp(s, "00000000-0000-0000-0000-000000000000", 36) == 0;
}

/*
 * Normalize a string for printing: temp dir -> $TMP, unknown UUIDs -> <random-uuid>,
 * control characters escaped.  Result is malloc'd.
 */
static char *
norm(const char *in)
{
    if (!in)
        return strdup("(null)");
    size_t cap = strlen(in) * 4 + 64;
    char *out = malloc(cap);
    if (!out)
        fatal("malloc");
    size_t o = 0;
    for (const char *p = in; *p;) {
        if (tmpdir_len && strncmp(p, tmpdir, tmpdir_len) == 0) {
            o += (size_t)snprintf(out + o, cap - o, "$TMP");
            p += tmpdir_len;
            continue;
        }
        if ((p == in || !is_hex(p[-1])) && strlen(p) >= 36 && looks_like_uuid(p) &&
            !is_hex(p[36]) && !known_uuid(p)) {
            o += (size_t)snprintf(out + o, cap - o, "<random-uuid>");
            p += 36;
            continue;
        }
        unsigned char c = (unsigned char)*p;
        if (c == '\n')
            o += (size_t)snprintf(out + o, cap - o, "\\n");
        else if (c == '\t')
            o += (size_t)snprintf(out + o, cap - o, "\\t");
        else if (c < 0x20 || c == 0x7f)
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
        p++;
    }
    out[o] = '\0';
    return out;
}

/*
 * libvirt's test driver reports short reads of a save image with
 * virReportSystemError(errno, ...) although errno is stale after a short read, so the
 * text after "': " is whatever errno happened to hold.  Replace it.
 */
static char *
norm_message(const char *msg)
{
    static const char *const prefixes[] = {
        "incomplete save header in '",
        "failed to read metadata length in '",
        "incomplete metadata in '",
    };
    char *n = norm(msg);
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        char *at = strstr(n, prefixes[i]);
        if (at) {
            char *q = strstr(at + strlen(prefixes[i]), "': ");
            if (q) {
                size_t keep = (size_t)(q - n) + 3;
                char *r = malloc(keep + 16);
                if (!r)
                    fatal("malloc");
                memcpy(r, n, keep);
                strcpy(r + keep, "<strerror>");
                free(n);
                step_norm_strerror = 1;
                return r;
            }
        }
    }
    return n;
}

/* Read what was written to stderr since the last call; return malloc'd text or NULL. */
static char *
drain_stderr(void)
{
    fflush(stderr);
    off_t end = lseek(stderr_cap_fd, 0, SEEK_END);
    if (end <= stderr_cap_off)
        return NULL;
    size_t n = (size_t)(end - stderr_cap_off);
    char *buf = malloc(n + 1);
    if (!buf)
        fatal("malloc");
    ssize_t r = pread(stderr_cap_fd, buf, n, stderr_cap_off);
    if (r < 0)
        r = 0;
    buf[r] = '\0';
    stderr_cap_off = end;
    return buf;
}

/* ------------------------------------------------------------------------ */
/* Error handlers. */

static void
count_handler(void *userData, virErrorPtr err)
{
    struct cbstat *s = userData;
    if (!s)
        return;
    s->count++;
    s->code = err ? err->code : -1;
    s->domain = err ? err->domain : -1;
}

static void
reset_cb(void)
{
    memset(&global_cb, 0, sizeof(global_cb));
    memset(&conn_cb, 0, sizeof(conn_cb));
}

/* ------------------------------------------------------------------------ */
/* Steps. */

#define NOPRIME 1

/* Put a known error in the thread's last-error slot so that we can see whether the
 * next call resets it. */
static void
prime_error(void)
{
    (void)virDomainGetName(NULL);
    char *junk = drain_stderr();
    free(junk);
}

static void
S(const char *name, const char *tags, int opts)
{
    line_len = 0;
    cont_len = 0;
    line_buf[0] = '\0';
    cont_buf[0] = '\0';
    for (int i = 0; i < step_no; i++)
        if (strcmp(step_names[i], name) == 0) {
            printf("FATAL duplicate step name %s\n", name);
            exit(2);
        }
    if (step_no == STEPS_MAX) {
        printf("FATAL more than %d steps\n", STEPS_MAX);
        exit(2);
    }
    step_names[step_no++] = strdup(name);
    snprintf(step_name, sizeof(step_name), "%s", name);
    snprintf(step_tags, sizeof(step_tags), "%s", tags ? tags : "");
    step_status = -1;
    step_norm_strerror = 0;
    if (!(opts & NOPRIME))
        prime_error();
    else {
        char *junk = drain_stderr();
        free(junk);
    }
    reset_cb();
}

static void
append_cb(void)
{
    if (global_cb.count)
        add(" cb=%d[%s/%s]", global_cb.count, ERRNAME(global_cb.code), DOMNAME(global_cb.domain));
    else
        add(" cb=0");
    if (conn_cb_installed) {
        if (conn_cb.count)
            add(" conncb=%d[%s/%s]", conn_cb.count, ERRNAME(conn_cb.code),
                DOMNAME(conn_cb.domain));
        else
            add(" conncb=0");
    }
    reset_cb();
}

/* Describe an error object: code, domain, message on the main line; the rest in errx. */
static void
describe_error(virErrorPtr e, const char *label)
{
    if (!e) {
        add(" err=NONE(virGetLastError()=NULL)");
        return;
    }
    int before = step_norm_strerror;
    step_norm_strerror = 0;
    char *m = norm_message(e->message);
    /* when the message carried a stale strerror, int1 holds the same stale errno */
    int stale_errno = step_norm_strerror;
    step_norm_strerror |= before;
    add(" err=%s(%d)/%s(%d) \"%s\"", ERRNAME(e->code), e->code, DOMNAME(e->domain), e->domain, m);
    free(m);
    char *s1 = norm(e->str1), *s2 = norm_message(e->str2 ? e->str2 : "(null)"),
         *s3 = norm(e->str3);
    if (!e->str2) {
        free(s2);
        s2 = strdup("(null)");
    }
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    char int1[32];
    if (stale_errno)
        snprintf(int1, sizeof(int1), "<errno>");
    else
        snprintf(int1, sizeof(int1), "%d", e->int1);
    addc("  errx| %s: level=%d str1=\"%s\" str2=\"%s\" str3=\"%s\" int1=%s int2=%d conn=%s dom=%s net=%s\n",
         label, e->level, s1, s2, s3, int1, e->int2, e->conn ? "non-NULL" : "NULL",
         e->dom ? "non-NULL" : "NULL", e->net ? "non-NULL" : "NULL");
#pragma GCC diagnostic pop
    free(s1);
    free(s2);
    free(s3);
}

/* Record the outcome of a call.  valstr is the printable return value. */
static void
R(const char *label, int failed, const char *valstr)
{
    if (step_status < 0)
        step_status = failed ? 1 : 0;
    add(" %s=%s", label, valstr);
    virErrorPtr e = virGetLastError();
    if (failed) {
        describe_error(e, label);
    } else if (e) {
        add(" lasterr=SET[%s/%s]", ERRNAME(e->code), DOMNAME(e->domain));
    } else {
        add(" lasterr=NULL");
    }
    append_cb();
}

static int
RI(const char *label, int rc)
{
    char v[32];
    snprintf(v, sizeof(v), "%d", rc);
    R(label, rc < 0, v);
    return rc;
}

static const void *
RP(const char *label, const void *p)
{
    R(label, p == NULL, p ? "non-NULL" : "NULL");
    return p;
}

/* A string result that is printed inline (names, URIs, types). */
static void
RSTR(const char *label, const char *s)
{
    if (!s) {
        R(label, 1, "NULL");
        return;
    }
    char *n = norm(s);
    size_t len = strlen(n) + 3;
    char *q = malloc(len);
    if (!q)
        fatal("malloc");
    snprintf(q, len, "\"%s\"", n);
    R(label, 0, q);
    free(q);
    free(n);
}

/* Plain information, not a libvirt result. */
static void __attribute__((format(printf, 1, 2)))
INFO(const char *fmt, ...)
{
    add(" ");
    va_list ap;
    va_start(ap, fmt);
    vappend(line_buf, &line_len, sizeof(line_buf), fmt, ap);
    va_end(ap);
}

/* Print a multi-line text (XML) as continuation lines. */
static void
show_text(const char *tag, const char *text)
{
    if (!text) {
        addc("  %s| (null)\n", tag);
        return;
    }
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char *piece = strndup(p, n);
        if (!piece)
            fatal("strndup");
        char *np = norm(piece);
        addc("  %s| %s\n", tag, np);
        free(np);
        free(piece);
        p += n;
        if (*p == '\n')
            p++;
    }
    size_t L = strlen(text);
    if (L && text[L - 1] != '\n')
        addc("  %s| <no trailing newline>\n", tag);
}

/* An XML string result: the whole document as continuation lines; frees it. */
static void
RXML(const char *label, char *xml)
{
    if (!xml) {
        R(label, 1, "NULL");
        return;
    }
    char v[64];
    snprintf(v, sizeof(v), "xml(%zu bytes)", strlen(xml));
    R(label, 0, v);
    show_text(label, xml);
    free(xml);
}

static void
E(void)
{
    char *err = drain_stderr();
    const char *status = step_status < 0 ? "INFO" : step_status ? "FAIL" : "OK";
    char tags[160];
    tags[0] = '\0';
    if (step_tags[0])
        snprintf(tags, sizeof(tags), " %s", step_tags);
    if (step_norm_strerror)
        strncat(tags, " [norm:strerror]", sizeof(tags) - strlen(tags) - 1);
    printf("%s%s %s%s\n", step_name, tags, status, line_buf);
    fputs(cont_buf, stdout);
    if (err) {
        char *save = NULL;
        for (char *l = strtok_r(err, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            char *n = norm_message(l);
            printf("  stderr| %s\n", n);
            free(n);
        }
        free(err);
    }
    fflush(stdout);
}

/* ------------------------------------------------------------------------ */
/* Domain helpers (sub-results inside a step). */

static void
show_state(const char *label, virDomainPtr d)
{
    int st = -1, reason = -1;
    int rc = virDomainGetState(d, &st, &reason, 0);
    char v[96];
    if (rc < 0)
        snprintf(v, sizeof(v), "%d", rc);
    else
        snprintf(v, sizeof(v), "%s/%d", STATENAME(st), reason);
    R(label, rc < 0, v);
}

static void
show_id(const char *label, virDomainPtr d)
{
    unsigned int id = virDomainGetID(d);
    char v[32];
    snprintf(v, sizeof(v), "%d", (int)id);
    R(label, id == (unsigned int)-1 && d == NULL, v);
}

static void
show_info(const char *label, virDomainPtr d)
{
    virDomainInfo info;
    memset(&info, 0xa5, sizeof(info));
    int rc = virDomainGetInfo(d, &info);
    char v[160];
    if (rc < 0)
        snprintf(v, sizeof(v), "%d", rc);
    else
        snprintf(v, sizeof(v), "{state=%s maxMem=%lu memory=%lu nrVirtCpu=%u}",
                 STATENAME(info.state), info.maxMem, info.memory, (unsigned)info.nrVirtCpu);
    R(label, rc < 0, v);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* virConnectListAllDomains: "n=<count> [name:STATE:id:persistent,...]" sorted by name. */
static void
show_list_all(const char *label, virConnectPtr c, unsigned int flags)
{
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(c, &doms, flags);
    if (n < 0) {
        RI(label, n);
        free(doms);
        return;
    }
    char **items = calloc((size_t)n + 1, sizeof(char *));
    if (!items)
        fatal("calloc");
    for (int i = 0; i < n; i++) {
        int st = -1, reason = -1;
        virDomainGetState(doms[i], &st, &reason, 0);
        const char *nm = virDomainGetName(doms[i]);
        if (asprintf(&items[i], "%s:%s:%d:%s", nm ? nm : "?", STATENAME(st),
                     (int)virDomainGetID(doms[i]),
                     virDomainIsPersistent(doms[i]) == 1 ? "persistent" : "transient") < 0)
            fatal("asprintf");
    }
    int term_null = doms ? (doms[n] == NULL) : -1;
    for (int i = 0; i < n; i++)
        virDomainFree(doms[i]);
    free(doms);
    qsort(items, (size_t)n, sizeof(char *), cmp_str);
    size_t cap = 64;
    for (int i = 0; i < n; i++)
        cap += strlen(items[i]) + 2;
    char *v = malloc(cap);
    if (!v)
        fatal("malloc");
    int o = snprintf(v, cap, "%d[", n);
    for (int i = 0; i < n; i++)
        o += snprintf(v + o, cap - (size_t)o, "%s%s", i ? "," : "", items[i]);
    snprintf(v + o, cap - (size_t)o, "]%s", term_null == 1 ? "" : "(array-not-NULL-terminated)");
    /* the list calls above reset the last error; record the outcome of the list itself */
    R(label, 0, v);
    free(v);
    for (int i = 0; i < n; i++)
        free(items[i]);
    free(items);
}

static const char *
domxml(char *buf, size_t cap, const char *name, int uuid_n, unsigned long mem_kib,
       const char *extra)
{
    char uuid[64] = "";
    if (uuid_n > 0)
        snprintf(uuid, sizeof(uuid), "<uuid>" OUR_UUID_PREFIX "%012d</uuid>", uuid_n);
    snprintf(buf, cap,
             "<domain type='test'>\n"
             "  <name>%s</name>\n"
             "  %s\n"
             "  <memory unit='KiB'>%lu</memory>\n"
             "  <currentMemory unit='KiB'>%lu</currentMemory>\n"
             "  <vcpu>1</vcpu>\n"
             "  <os><type>hvm</type></os>\n"
             "%s"
             "</domain>\n",
             name, uuid, mem_kib, mem_kib / 2, extra ? extra : "");
    return buf;
}

/* ------------------------------------------------------------------------ */
/* Files. */

static char *
tpath(const char *name)
{
    char *p;
    if (asprintf(&p, "%s/%s", tmpdir, name) < 0)
        fatal("asprintf");
    return p;
}

static void
write_file(const char *path, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        fatal(path);
    if (n && write(fd, data, n) != (ssize_t)n)
        fatal("write");
    close(fd);
}

#define TEST_MAGIC "TestGuestMagic" /* + NUL = 15 bytes */

/* Build a test-driver image: magic (15 bytes), int32 length field, payload. */
static void
write_image(const char *name, const char *magic15, int lenfield, const char *payload,
            size_t payload_len)
{
    char *path = tpath(name);
    size_t n = 15 + sizeof(int) + payload_len;
    char *buf = malloc(n);
    if (!buf)
        fatal("malloc");
    memcpy(buf, magic15, 15);
    memcpy(buf + 15, &lenfield, sizeof(int));
    if (payload_len)
        memcpy(buf + 15 + sizeof(int), payload, payload_len);
    write_file(path, buf, n);
    free(buf);
    free(path);
}

/* One step: restore from a crafted image (see write_image). */
static void
restore_crafted(virConnectPtr c, const char *step, const char *name, const char *magic15,
                int lenfield, const char *payload, size_t payload_len)
{
    S(step, NULL, 0);
    write_image(name, magic15, lenfield, payload, payload_len);
    char *p = tpath(name);
    RI("virDomainRestore", virDomainRestore(c, p));
    free(p);
    E();
}


/* Describe an image file as the test driver writes it. */
/* The whole content of a file, or NULL; its size in *n. */
static char *
slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0;
    *n = 0;
    for (;;) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 4096;
            char *more = realloc(buf, cap);
            if (!more)
                fatal("realloc");
            buf = more;
        }
        size_t got = fread(buf + *n, 1, cap - *n, f);
        if (got == 0)
            break;
        *n += got;
    }
    fclose(f);
    return buf;
}

static void
show_image_file(const char *label, const char *path, int show_xml)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        INFO("%s=absent", label);
        return;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        INFO("%s=unreadable", label);
        return;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        fatal("malloc");
    size_t n = fread(buf, 1, (size_t)st.st_size, f);
    fclose(f);
    buf[n] = '\0';
    int magic_ok = n >= 15 && memcmp(buf, TEST_MAGIC, 15) == 0;
    int len = -1;
    if (n >= 19)
        memcpy(&len, buf + 15, sizeof(int));
    INFO("%s={mode=%04o size=%zu magic=%s lenfield=%d lenfield+19==size:%s}", label,
         (unsigned)(st.st_mode & 07777), n, magic_ok ? "ok" : "BAD", len,
         (len >= 0 && (size_t)len + 19 == n) ? "yes" : "no");
    if (show_xml && n > 19) {
        char tag[64];
        snprintf(tag, sizeof(tag), "%s.xml", label);
        show_text(tag, buf + 19);
    }
    free(buf);
}

static void
rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *de;
            while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                    continue;
                char *p;
                if (asprintf(&p, "%s/%s", path, de->d_name) >= 0) {
                    rm_rf(p);
                    free(p);
                }
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int
file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ------------------------------------------------------------------------ */
/* Small wrappers to keep the scenario readable. */

static virDomainPtr
lookup(virConnectPtr c, const char *name)
{
    virDomainPtr d = virDomainLookupByName(c, name);
    return d;
}

static void
dfree(virDomainPtr *d)
{
    if (*d)
        virDomainFree(*d);
    *d = NULL;
}

/* Bring a domain (persistent or transient) to "does not run"; prints nothing. */
static void
quiet_destroy(virConnectPtr c, const char *name)
{
    virDomainPtr d = lookup(c, name);
    if (d) {
        if (virDomainIsActive(d) == 1)
            virDomainDestroy(d);
        virDomainFree(d);
    }
}

static void
quiet_remove(virConnectPtr c, const char *name)
{
    virDomainPtr d = lookup(c, name);
    if (d) {
        if (virDomainIsActive(d) == 1)
            virDomainDestroy(d);
        virDomainFree(d);
    }
    d = lookup(c, name);
    if (d) {
        virDomainUndefine(d);
        virDomainFree(d);
    }
}

static int auth_cb_calls;

static int
auth_cb(virConnectCredentialPtr cred, unsigned int ncred, void *cbdata)
{
    (void)cred;
    (void)ncred;
    (void)cbdata;
    auth_cb_calls++;
    return -1;
}

/* ------------------------------------------------------------------------ */

static void scenario(void);

int
main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    unsetenv("LIBVIRT_DEFAULT_URI");
    unsetenv("VIRSH_DEFAULT_CONNECT_URI");
    setenv("LC_ALL", "C", 1);

    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    snprintf(tmpdir, sizeof(tmpdir), "%s/virshim-diff-XXXXXX", base);
    if (!mkdtemp(tmpdir))
        fatal("mkdtemp");
    char real[PATH_MAX];
    if (realpath(tmpdir, real)) {
        /* keep the path as given (libvirt does not resolve symlinks) unless it is relative */
        if (tmpdir[0] != '/')
            snprintf(tmpdir, sizeof(tmpdir), "%s", real);
    }
    tmpdir_len = strlen(tmpdir);

    /* capture stderr: everything libvirt prints there becomes part of the trace.  The
     * file is kept where SCENARIO_STDERR_CAPTURE says (run.sh shows its end when the
     * program dies, e.g. of a "symbol lookup error"), else it lives unlinked in $TMP. */
    const char *capenv = getenv("SCENARIO_STDERR_CAPTURE");
    char *cap = capenv && *capenv ? strdup(capenv) : tpath("stderr.capture");
    stderr_cap_fd = open(cap, O_RDWR | O_CREAT | O_TRUNC | O_APPEND, 0600);
    if (stderr_cap_fd < 0)
        fatal("open stderr capture");
    if (!(capenv && *capenv))
        unlink(cap);
    free(cap);
    int saved_stderr = dup(2);
    if (dup2(stderr_cap_fd, 2) < 0)
        fatal("dup2");
    setvbuf(stderr, NULL, _IONBF, 0);

    scenario();

    printf("END steps=%d\n", step_no);
    fflush(stdout);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    close(stderr_cap_fd);
    rm_rf(tmpdir);
    for (int i = 0; i < step_no; i++)
        free(step_names[i]);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The scenario. */

#define X(buf, ...) domxml(buf, sizeof(buf), __VA_ARGS__)

static void
fail_lookup(virConnectPtr c)
{
    virDomainPtr d = virDomainLookupByName(c, "nosuch");
    if (d)
        virDomainFree(d);
}

static void
show_uuidstring(const char *label, virDomainPtr d)
{
    char buf[VIR_UUID_STRING_BUFLEN];
    memset(buf, 0, sizeof(buf));
    int rc = virDomainGetUUIDString(d, buf);
    if (rc < 0)
        RI(label, rc);
    else
        RSTR(label, buf);
}

static void
show_name(const char *label, virDomainPtr d)
{
    RSTR(label, virDomainGetName(d));
}

/* virDomainLookupByName as a sub-result; returns the handle (caller frees). */
static virDomainPtr
sub_lookup(const char *label, virConnectPtr c, const char *name)
{
    virDomainPtr d = virDomainLookupByName(c, name);
    RP(label, d);
    return d;
}

static void
show_imgxml(const char *label, virConnectPtr c, const char *path, unsigned int flags)
{
    RXML(label, virDomainSaveImageGetXMLDesc(c, path, flags));
}

/* Live XML of a domain with SECURE|INACTIVE, malloc'd (for building dxml). */
static char *
inactive_xml(virDomainPtr d)
{
    return virDomainGetXMLDesc(d, VIR_DOMAIN_XML_SECURE | VIR_DOMAIN_XML_INACTIVE);
}

/* Insert text right after the <name>...</name> element of an XML document. */
static char *
xml_insert_after_name(const char *xml, const char *text)
{
    const char *p = strstr(xml, "</name>");
    if (!p)
        return strdup(xml);
    p += strlen("</name>");
    char *r;
    if (asprintf(&r, "%.*s%s%s", (int)(p - xml), xml, text, p) < 0)
        fatal("asprintf");
    return r;
}

/* Replace the first occurrence of `from` with `to`. */
static char *
xml_replace(const char *xml, const char *from, const char *to)
{
    const char *p = strstr(xml, from);
    if (!p)
        return strdup(xml);
    char *r;
    if (asprintf(&r, "%.*s%s%s", (int)(p - xml), xml, to, p + strlen(from)) < 0)
        fatal("asprintf");
    return r;
}

static void
show_conn_error(const char *label, virConnectPtr c)
{
    virErrorPtr e = virConnGetLastError(c);
    if (!e) {
        INFO("%s=NULL", label);
        return;
    }
    char *m = norm(e->message);
    INFO("%s={code=%d domain=%d message=\"%s\"}", label, e->code, e->domain, m);
    free(m);
}

static void
scenario(void)
{
    char xml[8192], xml2[8192];
    unsigned long ver, tver;
    int rc, st, reason;
    virDomainPtr d = NULL, d2 = NULL;
    virConnectPtr x = NULL;
    virError ce;

    /* ================================================================== */
    /* Library initialisation and the error API with no error yet. */

    S("init.virInitialize", NULL, NOPRIME);
    RI("virInitialize", virInitialize());
    E();

    S("init.virInitialize.again", NULL, 0);
    RI("virInitialize", virInitialize());
    E();

    S("init.virGetVersion", NULL, 0);
    ver = 0;
    RI("virGetVersion", virGetVersion(&ver, NULL, NULL));
    INFO("libVer>=9000000:%s", ver >= 9000000 ? "yes" : "no");
    E();

    S("init.virGetVersion.type_Test", NULL, 0);
    ver = 0;
    tver = 12345;
    RI("virGetVersion", virGetVersion(&ver, "Test", &tver));
    INFO("typeVer==libVer:%s", tver == ver ? "yes" : "no");
    E();

    S("init.virGetVersion.type_bogus", NULL, 0);
    ver = 0;
    tver = 12345;
    RI("virGetVersion", virGetVersion(&ver, "Bogus", &tver));
    INFO("typeVer==libVer:%s", tver == ver ? "yes" : "no");
    E();

    S("init.virGetVersion.NULL_libVer", NULL, 0);
    RI("virGetVersion", virGetVersion(NULL, NULL, NULL));
    E();

    S("err.no_error.getters", NULL, NOPRIME);
    virResetLastError();
    INFO("virGetLastError=%s code=%d domain=%d message=\"%s\"",
         virGetLastError() ? "non-NULL" : "NULL", virGetLastErrorCode(), virGetLastErrorDomain(),
         virGetLastErrorMessage());
    E();

    S("err.no_error.virCopyLastError", NULL, NOPRIME);
    virResetLastError();
    memset(&ce, 0, sizeof(ce));
    rc = virCopyLastError(&ce);
    INFO("virCopyLastError=%d to.code=%d to.domain=%d to.level=%d to.message=%s", rc, ce.code,
         ce.domain, ce.level, ce.message ? "non-NULL" : "NULL");
    virResetError(&ce);
    E();

    S("err.no_error.virSaveLastError", NULL, NOPRIME);
    virResetLastError();
    {
        virErrorPtr se = virSaveLastError();
        if (se)
            INFO("virSaveLastError=non-NULL code=%d domain=%d level=%d message=%s", se->code,
                 se->domain, se->level, se->message ? "non-NULL" : "NULL");
        else
            INFO("virSaveLastError=NULL");
        virFreeError(se);
    }
    E();

    /* ================================================================== */
    /* Connections. */

    S("conn.open.test_default", NULL, 0);
    virConnectPtr c = virConnectOpen("test:///default");
    RP("virConnectOpen", c);
    E();
    if (!c) {
        printf("FATAL cannot open test:///default\n");
        exit(2);
    }

    /* virshim has no remote driver to fall back on. */
    S("conn.open.bogus_scheme", "[env] [deliberate]", 0);
    x = virConnectOpen("bogus:///x");
    RP("virConnectOpen", x);
    if (x)
        virConnectClose(x);
    E();

    S("conn.open.NULL_with_LIBVIRT_DEFAULT_URI", NULL, 0);
    setenv("LIBVIRT_DEFAULT_URI", "test:///default", 1);
    x = virConnectOpen(NULL);
    unsetenv("LIBVIRT_DEFAULT_URI");
    RP("virConnectOpen", x);
    if (x) {
        char *u = virConnectGetURI(x);
        RSTR("uri", u);
        free(u);
        RI("virConnectClose", virConnectClose(x));
    }
    E();

    /* virshim's default is test:///default, where libvirt tries its daemon. */
    S("conn.open.NULL_without_env", "[env] [superset]", 0);
    if (geteuid() == 0) {
        x = virConnectOpen(NULL);
        RP("virConnectOpen", x);
        if (x)
            virConnectClose(x);
    } else {
        INFO("skipped=non-root");
    }
    E();

    S("conn.open.empty_string", "[env] [superset]", 0);
    if (geteuid() == 0) {
        x = virConnectOpen("");
        RP("virConnectOpen", x);
        if (x)
            virConnectClose(x);
    } else {
        INFO("skipped=non-root");
    }
    E();

    S("conn.open.test_no_path", NULL, 0);
    x = virConnectOpen("test:///");
    RP("virConnectOpen", x);
    if (x)
        virConnectClose(x);
    E();

    S("conn.open.test_missing_file", NULL, 0);
    {
        char *u;
        if (asprintf(&u, "test://%s/nonexistent.xml", tmpdir) < 0)
            fatal("asprintf");
        x = virConnectOpen(u);
        RP("virConnectOpen", x);
        if (x)
            virConnectClose(x);
        free(u);
    }
    E();

    S("conn.open.unparsable_uri", NULL, 0);
    x = virConnectOpen("::bad");
    RP("virConnectOpen", x);
    if (x)
        virConnectClose(x);
    E();

    S("conn.openReadOnly.test_default", NULL, 0);
    virConnectPtr ro = virConnectOpenReadOnly("test:///default");
    RP("virConnectOpenReadOnly", ro);
    E();

    int credtypes[] = { VIR_CRED_AUTHNAME, VIR_CRED_PASSPHRASE };
    virConnectAuth auth = { credtypes, 2, auth_cb, NULL };

    S("conn.openAuth.custom_auth", NULL, 0);
    auth_cb_calls = 0;
    virConnectPtr ca = virConnectOpenAuth("test:///default", &auth, 0);
    RP("virConnectOpenAuth", ca);
    INFO("auth_callback_calls=%d", auth_cb_calls);
    E();

    S("conn.openAuth.NULL_auth_RO", NULL, 0);
    virConnectPtr ca2 = virConnectOpenAuth("test:///default", NULL, VIR_CONNECT_RO);
    RP("virConnectOpenAuth", ca2);
    if (ca2) {
        d = virDomainDefineXML(ca2, X(xml, "ro-probe", 90, 65536, NULL));
        RP("virDomainDefineXML", d);
        dfree(&d);
    }
    E();

    S("conn.openAuth.bad_flags", NULL, 0);
    x = virConnectOpenAuth("test:///default", &auth, 0x100);
    RP("virConnectOpenAuth", x);
    if (x)
        virConnectClose(x);
    E();

    S("conn.getURI", NULL, 0);
    {
        char *u = virConnectGetURI(c);
        RSTR("virConnectGetURI", u);
        free(u);
    }
    E();

    S("conn.getURI.readonly", NULL, 0);
    {
        char *u = virConnectGetURI(ro);
        RSTR("virConnectGetURI", u);
        free(u);
    }
    E();

    S("conn.getType", NULL, 0);
    RSTR("virConnectGetType", virConnectGetType(c));
    E();

    S("conn.getLibVersion", NULL, 0);
    ver = 0;
    RI("virConnectGetLibVersion", virConnectGetLibVersion(c, &ver));
    INFO("libVer>=9000000:%s", ver >= 9000000 ? "yes" : "no");
    E();

    S("conn.getLibVersion.NULL_arg", NULL, 0);
    RI("virConnectGetLibVersion", virConnectGetLibVersion(c, NULL));
    E();

    S("conn.isAlive", NULL, 0);
    RI("virConnectIsAlive", virConnectIsAlive(c));
    E();

    S("conn.NULL.getURI", NULL, 0);
    RSTR("virConnectGetURI", virConnectGetURI(NULL));
    E();

    S("conn.NULL.getType", NULL, 0);
    RSTR("virConnectGetType", virConnectGetType(NULL));
    E();

    S("conn.NULL.getLibVersion", NULL, 0);
    RI("virConnectGetLibVersion", virConnectGetLibVersion(NULL, &ver));
    E();

    S("conn.NULL.isAlive", NULL, 0);
    RI("virConnectIsAlive", virConnectIsAlive(NULL));
    E();

    S("conn.NULL.ref", NULL, 0);
    RI("virConnectRef", virConnectRef(NULL));
    E();

    S("conn.NULL.close", NULL, 0);
    RI("virConnectClose", virConnectClose(NULL));
    E();

    S("conn.close.with_extra_ref", NULL, 0);
    x = virConnectOpen("test:///default");
    RP("virConnectOpen", x);
    if (x) {
        RI("virConnectRef", virConnectRef(x));
        RI("virConnectClose#1", virConnectClose(x));
        RI("virConnectClose#2", virConnectClose(x));
    }
    E();

    S("conn.close.with_domain_ref", NULL, 0);
    x = virConnectOpen("test:///default");
    RP("virConnectOpen", x);
    if (x) {
        d = virDomainLookupByName(x, "test");
        RP("virDomainLookupByName", d);
        RI("virConnectClose", virConnectClose(x));
        show_name("name-after-close", d);
        INFO("getConnect==closed-conn:%s", virDomainGetConnect(d) == x ? "yes" : "no");
        show_state("state-after-close", d);
        RI("virDomainFree", virDomainFree(d));
        d = NULL;
    }
    E();

    S("conn.close.shared_state", NULL, 0);
    x = virConnectOpen("test:///default");
    RP("virConnectOpen", x);
    if (x) {
        d = virDomainDefineXML(x, X(xml, "shared", 80, 65536, NULL));
        RP("define-on-second-conn", d);
        dfree(&d);
        d = sub_lookup("lookup-on-first-conn", c, "shared");
        if (d) {
            RI("undefine", virDomainUndefine(d));
            dfree(&d);
        }
        RI("virConnectClose", virConnectClose(x));
    }
    E();

    /* ================================================================== */
    /* Lookups. */

    static const unsigned char test_uuid[VIR_UUID_BUFLEN] = {
        0x66, 0x95, 0xeb, 0x01, 0xf6, 0xa4, 0x83, 0x04,
        0x79, 0xaa, 0x97, 0xf2, 0x50, 0x2e, 0x19, 0x3f,
    };
    unsigned char other_uuid[VIR_UUID_BUFLEN];
    memset(other_uuid, 0x42, sizeof(other_uuid));

    S("lookup.byName.test", NULL, 0);
    virDomainPtr dt = virDomainLookupByName(c, "test");
    RP("virDomainLookupByName", dt);
    show_name("name", dt);
    show_id("id", dt);
    show_uuidstring("uuid", dt);
    E();

    S("lookup.byName.missing", NULL, 0);
    d = virDomainLookupByName(c, "nosuch");
    RP("virDomainLookupByName", d);
    dfree(&d);
    E();

    S("lookup.byName.empty", NULL, 0);
    d = virDomainLookupByName(c, "");
    RP("virDomainLookupByName", d);
    dfree(&d);
    E();

    S("lookup.byName.NULL_name", NULL, 0);
    d = virDomainLookupByName(c, NULL);
    RP("virDomainLookupByName", d);
    dfree(&d);
    E();

    S("lookup.byName.NULL_conn", NULL, 0);
    d = virDomainLookupByName(NULL, "test");
    RP("virDomainLookupByName", d);
    dfree(&d);
    E();

    S("lookup.byName.new_handle_each_time", NULL, 0);
    d = virDomainLookupByName(c, "test");
    RP("virDomainLookupByName", d);
    INFO("same-pointer-as-first-lookup:%s", d == dt ? "yes" : "no");
    dfree(&d);
    E();

    S("lookup.byID.1", NULL, 0);
    d = virDomainLookupByID(c, 1);
    RP("virDomainLookupByID", d);
    show_name("name", d);
    dfree(&d);
    E();

    S("lookup.byID.999", NULL, 0);
    d = virDomainLookupByID(c, 999);
    RP("virDomainLookupByID", d);
    dfree(&d);
    E();

    S("lookup.byID.0", NULL, 0);
    d = virDomainLookupByID(c, 0);
    RP("virDomainLookupByID", d);
    dfree(&d);
    E();

    S("lookup.byID.-1", NULL, 0);
    d = virDomainLookupByID(c, -1);
    RP("virDomainLookupByID", d);
    dfree(&d);
    E();

    S("lookup.byID.NULL_conn", NULL, 0);
    d = virDomainLookupByID(NULL, 1);
    RP("virDomainLookupByID", d);
    dfree(&d);
    E();

    S("lookup.byUUID.test", NULL, 0);
    d = virDomainLookupByUUID(c, test_uuid);
    RP("virDomainLookupByUUID", d);
    show_name("name", d);
    dfree(&d);
    E();

    S("lookup.byUUID.missing", NULL, 0);
    d = virDomainLookupByUUID(c, other_uuid);
    RP("virDomainLookupByUUID", d);
    dfree(&d);
    E();

    S("lookup.byUUID.NULL_uuid", NULL, 0);
    d = virDomainLookupByUUID(c, NULL);
    RP("virDomainLookupByUUID", d);
    dfree(&d);
    E();

    S("lookup.byUUID.NULL_conn", NULL, 0);
    d = virDomainLookupByUUID(NULL, test_uuid);
    RP("virDomainLookupByUUID", d);
    dfree(&d);
    E();

    S("lookup.byUUIDString.test", NULL, 0);
    d = virDomainLookupByUUIDString(c, TEST_UUID);
    RP("virDomainLookupByUUIDString", d);
    show_name("name", d);
    dfree(&d);
    E();

    S("lookup.byUUIDString.uppercase", NULL, 0);
    d = virDomainLookupByUUIDString(c, "6695EB01-F6A4-8304-79AA-97F2502E193F");
    RP("virDomainLookupByUUIDString", d);
    dfree(&d);
    E();

    S("lookup.byUUIDString.no_dashes", NULL, 0);
    d = virDomainLookupByUUIDString(c, "6695eb01f6a4830479aa97f2502e193f");
    RP("virDomainLookupByUUIDString", d);
    dfree(&d);
    E();

    S("lookup.byUUIDString.missing", NULL, 0);
    d = virDomainLookupByUUIDString(c, OUR_UUID_PREFIX "000000000999");
    RP("virDomainLookupByUUIDString", d);
    dfree(&d);
    E();

    S("lookup.byUUIDString.malformed", NULL, 0);
    d = virDomainLookupByUUIDString(c, "not-a-uuid");
    RP("virDomainLookupByUUIDString", d);
    dfree(&d);
    E();

    S("lookup.byUUIDString.too_long", NULL, 0);
    d = virDomainLookupByUUIDString(c, TEST_UUID "00");
    RP("virDomainLookupByUUIDString", d);
    dfree(&d);
    E();

    S("lookup.byUUIDString.NULL_uuid", NULL, 0);
    d = virDomainLookupByUUIDString(c, NULL);
    RP("virDomainLookupByUUIDString", d);
    dfree(&d);
    E();

    S("lookup.byUUIDString.NULL_conn", NULL, 0);
    d = virDomainLookupByUUIDString(NULL, TEST_UUID);
    RP("virDomainLookupByUUIDString", d);
    dfree(&d);
    E();

    S("lookup.readonly.byName", NULL, 0);
    virDomainPtr dt_ro = virDomainLookupByName(ro, "test");
    RP("virDomainLookupByName", dt_ro);
    E();

    /* ================================================================== */
    /* Domain accessors on the default domain "test". */

    /* successful accessors, each after a primed error: do they reset the last error? */
    S("dom.getName", NULL, 0);
    RSTR("virDomainGetName", virDomainGetName(dt));
    E();

    S("dom.getID", NULL, 0);
    show_id("virDomainGetID", dt);
    E();

    S("dom.getUUIDString", NULL, 0);
    show_uuidstring("virDomainGetUUIDString", dt);
    E();

    S("dom.getName.NULL", NULL, 0);
    RSTR("virDomainGetName", virDomainGetName(NULL));
    E();

    S("dom.getID.NULL", NULL, 0);
    show_id("virDomainGetID", NULL);
    E();

    S("dom.getUUID", NULL, 0);
    {
        unsigned char u[VIR_UUID_BUFLEN];
        memset(u, 0, sizeof(u));
        RI("virDomainGetUUID", virDomainGetUUID(dt, u));
        INFO("equals-expected:%s", memcmp(u, test_uuid, sizeof(u)) == 0 ? "yes" : "no");
    }
    E();

    S("dom.getUUID.NULL_buf", NULL, 0);
    RI("virDomainGetUUID", virDomainGetUUID(dt, NULL));
    E();

    S("dom.getUUID.NULL_dom", NULL, 0);
    {
        unsigned char u[VIR_UUID_BUFLEN];
        RI("virDomainGetUUID", virDomainGetUUID(NULL, u));
    }
    E();

    S("dom.getUUIDString.NULL_buf", NULL, 0);
    RI("virDomainGetUUIDString", virDomainGetUUIDString(dt, NULL));
    E();

    S("dom.getUUIDString.NULL_dom", NULL, 0);
    {
        char u[VIR_UUID_STRING_BUFLEN];
        RI("virDomainGetUUIDString", virDomainGetUUIDString(NULL, u));
    }
    E();

    /* virDomainGetHostname: the test driver makes one up; read-only is denied. */
    S("dom.getHostname", NULL, 0);
    {
        char *h = virDomainGetHostname(dt, 0);
        RSTR("virDomainGetHostname", h);
        free(h);
    }
    E();

    S("dom.getHostname.bad_flags", NULL, 0);
    RSTR("virDomainGetHostname", virDomainGetHostname(dt, VIR_DOMAIN_GET_HOSTNAME_LEASE));
    E();

    S("dom.getHostname.readonly", NULL, 0);
    RSTR("virDomainGetHostname", virDomainGetHostname(dt_ro, 0));
    E();

    S("dom.getHostname.NULL_dom", NULL, 0);
    RSTR("virDomainGetHostname", virDomainGetHostname(NULL, 0));
    E();

    S("dom.getState", NULL, 0);
    show_state("virDomainGetState", dt);
    E();

    S("dom.getState.NULL_reason", NULL, 0);
    st = -1;
    RI("virDomainGetState", virDomainGetState(dt, &st, NULL, 0));
    INFO("state=%s", STATENAME(st));
    E();

    S("dom.getState.NULL_state", NULL, 0);
    RI("virDomainGetState", virDomainGetState(dt, NULL, &reason, 0));
    E();

    S("dom.getState.bad_flags", NULL, 0);
    RI("virDomainGetState", virDomainGetState(dt, &st, &reason, 1));
    E();

    S("dom.getState.NULL_dom", NULL, 0);
    RI("virDomainGetState", virDomainGetState(NULL, &st, &reason, 0));
    E();

    S("dom.getInfo", NULL, 0);
    show_info("virDomainGetInfo", dt);
    E();

    S("dom.getInfo.NULL_info", NULL, 0);
    RI("virDomainGetInfo", virDomainGetInfo(dt, NULL));
    E();

    S("dom.getInfo.NULL_dom", NULL, 0);
    {
        virDomainInfo info;
        RI("virDomainGetInfo", virDomainGetInfo(NULL, &info));
    }
    E();

    S("dom.isActive", NULL, 0);
    RI("virDomainIsActive", virDomainIsActive(dt));
    E();

    S("dom.isPersistent", NULL, 0);
    RI("virDomainIsPersistent", virDomainIsPersistent(dt));
    E();

    S("dom.isActive.NULL", NULL, 0);
    RI("virDomainIsActive", virDomainIsActive(NULL));
    E();

    S("dom.isPersistent.NULL", NULL, 0);
    RI("virDomainIsPersistent", virDomainIsPersistent(NULL));
    E();

    S("dom.getXMLDesc.0", NULL, 0);
    RXML("virDomainGetXMLDesc", virDomainGetXMLDesc(dt, 0));
    E();

    S("dom.getXMLDesc.SECURE", NULL, 0);
    RXML("virDomainGetXMLDesc", virDomainGetXMLDesc(dt, VIR_DOMAIN_XML_SECURE));
    E();

    S("dom.getXMLDesc.INACTIVE", NULL, 0);
    RXML("virDomainGetXMLDesc", virDomainGetXMLDesc(dt, VIR_DOMAIN_XML_INACTIVE));
    E();

    S("dom.getXMLDesc.MIGRATABLE", NULL, 0);
    RXML("virDomainGetXMLDesc", virDomainGetXMLDesc(dt, VIR_DOMAIN_XML_MIGRATABLE));
    E();

    S("dom.getXMLDesc.bad_flag_0x100", NULL, 0);
    RXML("virDomainGetXMLDesc", virDomainGetXMLDesc(dt, 0x100));
    E();

    S("dom.getXMLDesc.NULL_dom", NULL, 0);
    RXML("virDomainGetXMLDesc", virDomainGetXMLDesc(NULL, 0));
    E();

    S("dom.getXMLDesc.readonly_0", NULL, 0);
    {
        char *s = virDomainGetXMLDesc(dt_ro, 0);
        R("virDomainGetXMLDesc", s == NULL, s ? "non-NULL" : "NULL");
        free(s);
    }
    E();

    S("dom.getXMLDesc.readonly_SECURE", NULL, 0);
    RXML("virDomainGetXMLDesc", virDomainGetXMLDesc(dt_ro, VIR_DOMAIN_XML_SECURE));
    E();

    S("dom.getConnect", NULL, 0);
    {
        virConnectPtr gc = virDomainGetConnect(dt);
        RP("virDomainGetConnect", gc);
        INFO("is-the-opening-conn:%s", gc == c ? "yes" : "no");
    }
    E();

    S("dom.getConnect.NULL", NULL, 0);
    RP("virDomainGetConnect", virDomainGetConnect(NULL));
    E();

    S("dom.ref_and_free", NULL, 0);
    d = virDomainLookupByName(c, "test");
    RP("virDomainLookupByName", d);
    if (d) {
        RI("virDomainRef", virDomainRef(d));
        RI("virDomainFree#1", virDomainFree(d));
        show_name("name-after-first-free", d);
        RI("virDomainFree#2", virDomainFree(d));
        d = NULL;
    }
    E();

    S("dom.ref.NULL", NULL, 0);
    RI("virDomainRef", virDomainRef(NULL));
    E();

    S("dom.free.NULL", NULL, 0);
    RI("virDomainFree", virDomainFree(NULL));
    E();

    d = virDomainLookupByName(c, "test");
    S("dom.ref", NULL, 0);
    RI("virDomainRef", virDomainRef(d));
    E();

    S("dom.free.first_of_two_refs", NULL, 0);
    RI("virDomainFree", virDomainFree(d));
    E();

    S("dom.free.last_ref", NULL, 0);
    RI("virDomainFree", virDomainFree(d));
    E();
    d = NULL;

    S("conn.ref", NULL, 0);
    RI("virConnectRef", virConnectRef(c));
    E();

    S("conn.close.extra_ref_of_open_conn", NULL, 0);
    RI("virConnectClose", virConnectClose(c));
    RI("isAlive-after", virConnectIsAlive(c));
    E();

    /* ================================================================== */
    /* The error API after a failure. */

    S("err.after_failure.getters", NULL, NOPRIME);
    d = virDomainLookupByName(c, "nosuch");
    RP("virDomainLookupByName", d);
    dfree(&d);
    {
        char *m = norm(virGetLastErrorMessage());
        INFO("virGetLastErrorCode=%d virGetLastErrorDomain=%d virGetLastErrorMessage=\"%s\"",
             virGetLastErrorCode(), virGetLastErrorDomain(), m);
        free(m);
        virErrorPtr e1 = virGetLastError(), e2 = virGetLastError();
        INFO("virGetLastError-same-pointer-twice:%s", e1 && e1 == e2 ? "yes" : "no");
    }
    E();

    S("err.after_failure.virCopyLastError", NULL, NOPRIME);
    fail_lookup(c);
    memset(&ce, 0, sizeof(ce));
    rc = virCopyLastError(&ce);
    {
        virErrorPtr e = virGetLastError();
        INFO("virCopyLastError=%d copy.code=%d copy.domain=%d copy.level=%d "
             "message-equal:%s message-is-distinct-buffer:%s",
             rc, ce.code, ce.domain, ce.level,
             (e && ce.message && e->message && !strcmp(ce.message, e->message)) ? "yes" : "no",
             (e && ce.message != e->message) ? "yes" : "no");
    }
    virResetError(&ce);
    INFO("after-virResetError: code=%d domain=%d level=%d message=%s str1=%s", ce.code,
         ce.domain, ce.level, ce.message ? "non-NULL" : "NULL", ce.str1 ? "non-NULL" : "NULL");
    E();

    S("err.after_failure.virSaveLastError", NULL, NOPRIME);
    fail_lookup(c);
    {
        virErrorPtr se = virSaveLastError();
        virErrorPtr e = virGetLastError();
        if (se) {
            char *m = norm(se->message);
            INFO("virSaveLastError=non-NULL distinct-from-lasterr:%s code=%d domain=%d level=%d "
                 "message=\"%s\"", se != e ? "yes" : "no", se->code, se->domain, se->level, m);
            free(m);
        } else {
            INFO("virSaveLastError=NULL");
        }
        virFreeError(se);
    }
    E();

    S("err.after_failure.virResetLastError", NULL, NOPRIME);
    fail_lookup(c);
    virResetLastError();
    INFO("virGetLastError=%s code=%d domain=%d message=\"%s\"",
         virGetLastError() ? "non-NULL" : "NULL", virGetLastErrorCode(), virGetLastErrorDomain(),
         virGetLastErrorMessage());
    E();

    S("err.virCopyLastError.NULL", NULL, NOPRIME);
    fail_lookup(c);
    rc = virCopyLastError(NULL);
    INFO("virCopyLastError(NULL)=%d lasterr-still-set:%s", rc, virGetLastError() ? "yes" : "no");
    E();

    S("err.virResetError_virFreeError.NULL", NULL, NOPRIME);
    virResetError(NULL);
    virFreeError(NULL);
    INFO("survived=yes");
    E();

    S("err.virConnGetLastError", NULL, NOPRIME);
    virConnResetLastError(c);
    fail_lookup(c);
    {
        virErrorPtr ge = virGetLastError();
        virErrorPtr e = virConnGetLastError(c);
        INFO("same-pointer-as-virGetLastError:%s same-pointer-twice:%s", e == ge ? "yes" : "no",
             e == virConnGetLastError(c) ? "yes" : "no");
        show_conn_error("virConnGetLastError", c);
        /* a successful call on the connection: does it clear the connection's copy? */
        char *u = virConnectGetURI(c);
        free(u);
        show_conn_error("after-successful-call:virConnGetLastError", c);
        memset(&ce, 0, sizeof(ce));
        rc = virConnCopyLastError(c, &ce);
        INFO("virConnCopyLastError=%d copy.code=%d copy.domain=%d", rc, ce.code, ce.domain);
        virResetError(&ce);
        virConnResetLastError(c);
        show_conn_error("after-virConnResetLastError:virConnGetLastError", c);
        memset(&ce, 0, sizeof(ce));
        rc = virConnCopyLastError(c, &ce);
        INFO("virConnCopyLastError=%d copy.code=%d", rc, ce.code);
        virResetError(&ce);
    }
    E();

    S("err.virConnGetLastError.not_for_connless_errors", NULL, NOPRIME);
    virConnResetLastError(c);
    RSTR("virDomainGetName", virDomainGetName(NULL));
    show_conn_error("virConnGetLastError(c)", c);
    E();

    S("err.virConnGetLastError.domain_call_sets_conn_error", NULL, NOPRIME);
    virConnResetLastError(c);
    RXML("virDomainGetXMLDesc", virDomainGetXMLDesc(dt, 0x100));
    show_conn_error("virConnGetLastError(c)", c);
    E();

    S("err.virConnGetLastError.other_connection", NULL, NOPRIME);
    virConnResetLastError(c);
    virConnResetLastError(ro);
    fail_lookup(ro);
    show_conn_error("conn-c", c);
    show_conn_error("conn-ro", ro);
    virConnResetLastError(ro);
    E();

    S("err.virConnGetLastError.NULL_conn", NULL, NOPRIME);
    fail_lookup(c);
    {
        virErrorPtr e = virConnGetLastError(NULL);
        memset(&ce, 0, sizeof(ce));
        rc = virConnCopyLastError(NULL, &ce);
        virConnResetLastError(NULL);
        INFO("virConnGetLastError(NULL)=%s virConnCopyLastError(NULL)=%d copy.code=%d "
             "global-still-set:%s", e ? "non-NULL" : "NULL", rc, ce.code,
             virGetLastError() ? "yes" : "no");
        virResetError(&ce);
    }
    virConnResetLastError(c);
    E();

    /* Error callbacks. */
    S("err.virSetErrorFunc.counting", NULL, 0);
    virSetErrorFunc(&global_cb, count_handler);
    d = virDomainLookupByName(c, "nosuch");
    RP("failing-lookup", d);
    dfree(&d);
    show_name("successful-call", dt);
    RSTR("connless-failure", virDomainGetName(NULL));
    RI("arg-failure", virDomainGetState(dt, NULL, NULL, 0));
    E();

    S("err.virConnSetErrorFunc.precedence", NULL, 0);
    virConnSetErrorFunc(c, &conn_cb, count_handler);
    conn_cb_installed = 1;
    reset_cb();
    d = virDomainLookupByName(c, "nosuch");
    RP("failing-lookup-on-conn", d);
    dfree(&d);
    RXML("failing-domain-call-on-conn", virDomainGetXMLDesc(dt, 0x100));
    RSTR("connless-failure", virDomainGetName(NULL));
    d = virDomainLookupByName(ro, "nosuch");
    RP("failing-lookup-on-other-conn", d);
    dfree(&d);
    x = virConnectOpen("test:///");
    RP("failing-open", x);
    if (x)
        virConnectClose(x);
    E();

    S("err.virConnSetErrorFunc.NULL_reset", NULL, 0);
    virConnSetErrorFunc(c, NULL, NULL);
    reset_cb();
    d = virDomainLookupByName(c, "nosuch");
    RP("failing-lookup-on-conn", d);
    dfree(&d);
    conn_cb_installed = 0;
    E();

    S("err.virSetErrorFunc.NULL_reset_default_prints", NULL, 0);
    virSetErrorFunc(NULL, NULL);
    reset_cb();
    d = virDomainLookupByName(c, "nosuch");
    RP("failing-lookup", d);
    dfree(&d);
    E();

    S("err.virSetErrorFunc.handler_with_NULL_userdata", NULL, 0);
    virSetErrorFunc(NULL, count_handler);
    d = virDomainLookupByName(c, "nosuch");
    RP("failing-lookup", d);
    dfree(&d);
    virSetErrorFunc(NULL, NULL);
    E();

    S("err.virDefaultErrorFunc.direct", NULL, 0);
    d = virDomainLookupByName(c, "nosuch");
    RP("failing-lookup", d);
    dfree(&d);
    memset(&ce, 0, sizeof(ce));
    virCopyLastError(&ce);
    virDefaultErrorFunc(&ce);
    ce.domain = VIR_FROM_NONE;
    virDefaultErrorFunc(&ce);
    ce.domain = VIR_FROM_DOMAIN;
    virDefaultErrorFunc(&ce);
    ce.level = VIR_ERR_WARNING;
    virDefaultErrorFunc(&ce);
    virResetError(&ce);
    virDefaultErrorFunc(&ce); /* code 0 */
    virDefaultErrorFunc(NULL);
    INFO("called=6");
    E();

    /* Not called: virDefaultErrorFunc() on an error whose message is NULL and whose code
     * is not 0 crashes libvirt 9.0 (strlen(NULL)). */

    /* ================================================================== */
    /* Domain lifecycle. */

    S("life.defineXML.alpha", NULL, 0);
    virDomainPtr da = virDomainDefineXML(c, X(xml, "alpha", 1, 65536, NULL));
    RP("virDomainDefineXML", da);
    show_state("state", da);
    show_id("id", da);
    show_uuidstring("uuid", da);
    RI("isActive", virDomainIsActive(da));
    RI("isPersistent", virDomainIsPersistent(da));
    show_info("info", da);
    E();

    S("life.defineXML.alpha.getXMLDesc", NULL, 0);
    RXML("virDomainGetXMLDesc", virDomainGetXMLDesc(da, 0));
    E();

    S("life.defineXML.NULL_xml", NULL, 0);
    d = virDomainDefineXML(c, NULL);
    RP("virDomainDefineXML", d);
    dfree(&d);
    E();

    S("life.defineXML.NULL_conn", NULL, 0);
    d = virDomainDefineXML(NULL, X(xml, "nullconn", 91, 65536, NULL));
    RP("virDomainDefineXML", d);
    dfree(&d);
    E();

    S("life.defineXML.malformed", NULL, 0);
    d = virDomainDefineXML(c, "<domain type='test'><name>bad</name>");
    RP("virDomainDefineXML", d);
    dfree(&d);
    E();

    S("life.defineXML.empty_string", NULL, 0);
    d = virDomainDefineXML(c, "");
    RP("virDomainDefineXML", d);
    dfree(&d);
    E();

    S("life.defineXML.not_a_domain", NULL, 0);
    d = virDomainDefineXML(c, "<network><name>n</name></network>");
    RP("virDomainDefineXML", d);
    dfree(&d);
    E();

    S("life.defineXML.missing_name", NULL, 0);
    d = virDomainDefineXML(c, "<domain type='test'><memory>65536</memory>"
                              "<os><type>hvm</type></os></domain>");
    RP("virDomainDefineXML", d);
    dfree(&d);
    E();

    S("life.defineXML.missing_type_attr", NULL, 0);
    d = virDomainDefineXML(c, "<domain><name>notype</name><memory>65536</memory>"
                              "<os><type>hvm</type></os></domain>");
    RP("virDomainDefineXML", d);
    dfree(&d);
    E();

    S("life.defineXML.bad_uuid", NULL, 0);
    d = virDomainDefineXML(c, "<domain type='test'><name>baduuid</name><uuid>zzz</uuid>"
                              "<memory>65536</memory><os><type>hvm</type></os></domain>");
    RP("virDomainDefineXML", d);
    dfree(&d);
    E();

    S("life.defineXML.dup_name_other_uuid", NULL, 0);
    d = virDomainDefineXML(c, X(xml, "alpha", 99, 65536, NULL));
    RP("virDomainDefineXML", d);
    dfree(&d);
    E();

    S("life.defineXML.dup_uuid_other_name", NULL, 0);
    d = virDomainDefineXML(c, X(xml, "alpha2", 1, 65536, NULL));
    RP("virDomainDefineXML", d);
    dfree(&d);
    E();

    S("life.defineXML.dup_name_of_running_test", NULL, 0);
    d = virDomainDefineXML(c, X(xml, "test", 98, 65536, NULL));
    RP("virDomainDefineXML", d);
    dfree(&d);
    E();

    S("life.defineXML.redefine_same_name_uuid", NULL, 0);
    d = virDomainDefineXML(c, X(xml, "alpha", 1, 131072, NULL));
    RP("virDomainDefineXML", d);
    INFO("new-handle:%s", d && d != da ? "yes" : "no");
    show_info("info-via-old-handle", da);
    dfree(&d);
    E();

    S("life.defineXML.no_uuid_generates_one", NULL, 0);
    d = virDomainDefineXML(c, X(xml, "norand", 0, 65536, NULL));
    RP("virDomainDefineXML", d);
    show_uuidstring("uuid", d);
    if (d)
        RI("undefine", virDomainUndefine(d));
    dfree(&d);
    E();

    S("life.defineXMLFlags.VALIDATE", NULL, 0);
    virDomainPtr db = virDomainDefineXMLFlags(c, X(xml, "beta", 2, 65536, NULL),
                                              VIR_DOMAIN_DEFINE_VALIDATE);
    RP("virDomainDefineXMLFlags", db);
    E();

    S("life.defineXMLFlags.VALIDATE_invalid_schema", NULL, 0);
    d = virDomainDefineXMLFlags(c, "<domain type='test'><name>inval</name><bogus/>"
                                   "<memory>65536</memory><os><type>hvm</type></os></domain>",
                                VIR_DOMAIN_DEFINE_VALIDATE);
    RP("virDomainDefineXMLFlags", d);
    dfree(&d);
    E();

    S("life.defineXMLFlags.unknown_element_without_VALIDATE", NULL, 0);
    d = virDomainDefineXMLFlags(c, "<domain type='test'><name>unk</name><bogus/>"
                                   "<memory>65536</memory><os><type>hvm</type></os></domain>", 0);
    RP("virDomainDefineXMLFlags", d);
    if (d)
        virDomainUndefine(d);
    dfree(&d);
    E();

    S("life.defineXMLFlags.bad_flags", NULL, 0);
    d = virDomainDefineXMLFlags(c, X(xml, "flagged", 92, 65536, NULL), 0x100);
    RP("virDomainDefineXMLFlags", d);
    dfree(&d);
    E();

    S("life.create.alpha", NULL, 0);
    RI("virDomainCreate", virDomainCreate(da));
    show_state("state", da);
    show_id("id-same-handle", da);
    d = sub_lookup("lookup", c, "alpha");
    show_id("id-new-handle", d);
    dfree(&d);
    RI("isActive", virDomainIsActive(da));
    show_info("info", da);
    E();

    S("life.create.alpha.getXMLDesc", NULL, 0);
    RXML("virDomainGetXMLDesc", virDomainGetXMLDesc(da, 0));
    E();

    S("life.create.alpha.getXMLDesc_INACTIVE", NULL, 0);
    RXML("virDomainGetXMLDesc", virDomainGetXMLDesc(da, VIR_DOMAIN_XML_INACTIVE));
    E();

    S("life.create.already_running", NULL, 0);
    RI("virDomainCreate", virDomainCreate(da));
    E();

    S("life.create.NULL", NULL, 0);
    RI("virDomainCreate", virDomainCreate(NULL));
    E();

    S("life.createWithFlags.bad_flags", NULL, 0);
    RI("virDomainCreateWithFlags", virDomainCreateWithFlags(db, 0x100));
    show_state("state", db);
    E();

    S("life.createWithFlags.START_PAUSED", NULL, 0);
    RI("virDomainCreateWithFlags", virDomainCreateWithFlags(db, VIR_DOMAIN_START_PAUSED));
    show_state("state", db);
    show_id("id", db);
    E();

    S("life.createWithFlags.0_beta", NULL, 0);
    RI("virDomainCreateWithFlags", virDomainCreateWithFlags(db, 0));
    show_state("state", db);
    show_id("id", db);
    E();

    S("life.suspend.beta", NULL, 0);
    RI("virDomainSuspend", virDomainSuspend(db));
    show_state("state", db);
    E();

    S("life.createWithFlags.already_running", NULL, 0);
    RI("virDomainCreateWithFlags", virDomainCreateWithFlags(db, 0));
    E();

    S("life.createWithFlags.NULL", NULL, 0);
    RI("virDomainCreateWithFlags", virDomainCreateWithFlags(NULL, 0));
    E();

    S("life.suspend.alpha", NULL, 0);
    RI("virDomainSuspend", virDomainSuspend(da));
    show_state("state", da);
    E();

    S("life.suspend.already_paused", NULL, 0);
    RI("virDomainSuspend", virDomainSuspend(da));
    E();

    S("life.resume.alpha", NULL, 0);
    RI("virDomainResume", virDomainResume(da));
    show_state("state", da);
    E();

    S("life.resume.not_paused", NULL, 0);
    RI("virDomainResume", virDomainResume(da));
    E();

    S("life.suspend.NULL", NULL, 0);
    RI("virDomainSuspend", virDomainSuspend(NULL));
    E();

    S("life.resume.NULL", NULL, 0);
    RI("virDomainResume", virDomainResume(NULL));
    E();

    S("life.destroy.paused_beta", NULL, 0);
    RI("virDomainDestroy", virDomainDestroy(db));
    show_state("state", db);
    show_id("id-same-handle", db);
    E();

    S("life.destroy.inactive", NULL, 0);
    RI("virDomainDestroy", virDomainDestroy(db));
    E();

    S("life.suspend.inactive", NULL, 0);
    RI("virDomainSuspend", virDomainSuspend(db));
    E();

    S("life.resume.inactive", NULL, 0);
    RI("virDomainResume", virDomainResume(db));
    E();

    S("life.destroy.NULL", NULL, 0);
    RI("virDomainDestroy", virDomainDestroy(NULL));
    E();

    S("life.destroyFlags.bad_flags", NULL, 0);
    RI("virDomainDestroyFlags", virDomainDestroyFlags(da, 0x100));
    show_state("state", da);
    E();

    S("life.destroyFlags.GRACEFUL", NULL, 0);
    RI("virDomainDestroyFlags", virDomainDestroyFlags(da, VIR_DOMAIN_DESTROY_GRACEFUL));
    show_state("state", da);
    E();

    S("life.destroyFlags.inactive", NULL, 0);
    RI("virDomainDestroyFlags", virDomainDestroyFlags(da, 0));
    E();

    S("life.create.alpha_again", NULL, 0);
    RI("virDomainCreate", virDomainCreate(da));
    show_state("state", da);
    show_id("id", da);
    E();

    S("life.createXML.gamma_transient", NULL, 0);
    virDomainPtr dg = virDomainCreateXML(c, X(xml, "gamma", 3, 65536, NULL), 0);
    RP("virDomainCreateXML", dg);
    show_state("state", dg);
    show_id("id", dg);
    RI("isPersistent", virDomainIsPersistent(dg));
    E();

    S("life.createXML.dup_running_name", NULL, 0);
    d = virDomainCreateXML(c, X(xml, "gamma", 3, 65536, NULL), 0);
    RP("virDomainCreateXML", d);
    dfree(&d);
    E();

    S("life.createXML.dup_uuid_running", NULL, 0);
    d = virDomainCreateXML(c, X(xml, "gamma2", 3, 65536, NULL), 0);
    RP("virDomainCreateXML", d);
    dfree(&d);
    E();

    S("life.createXML.malformed", NULL, 0);
    d = virDomainCreateXML(c, "<domain", 0);
    RP("virDomainCreateXML", d);
    dfree(&d);
    E();

    S("life.createXML.NULL_xml", NULL, 0);
    d = virDomainCreateXML(c, NULL, 0);
    RP("virDomainCreateXML", d);
    dfree(&d);
    E();

    S("life.createXML.NULL_conn", NULL, 0);
    d = virDomainCreateXML(NULL, X(xml, "nullconn", 91, 65536, NULL), 0);
    RP("virDomainCreateXML", d);
    dfree(&d);
    E();

    S("life.createXML.bad_flags", NULL, 0);
    d = virDomainCreateXML(c, X(xml, "flagged", 92, 65536, NULL), 0x100);
    RP("virDomainCreateXML", d);
    dfree(&d);
    E();

    S("life.createXML.START_PAUSED", NULL, 0);
    d = virDomainCreateXML(c, X(xml, "delta", 4, 65536, NULL), VIR_DOMAIN_START_PAUSED);
    RP("virDomainCreateXML", d);
    dfree(&d);
    E();

    S("life.createXML.delta_then_suspend", NULL, 0);
    virDomainPtr dd = virDomainCreateXML(c, X(xml, "delta", 4, 65536, NULL), 0);
    RP("virDomainCreateXML", dd);
    RI("suspend", virDomainSuspend(dd));
    show_state("state", dd);
    show_id("id", dd);
    E();

    S("life.createXML.inactive_persistent_same_uuid", NULL, 0);
    d = virDomainCreateXML(c, X(xml, "beta", 2, 98304, NULL), 0);
    RP("virDomainCreateXML", d);
    show_state("state", d);
    RI("isPersistent", virDomainIsPersistent(d));
    show_info("info", d);
    dfree(&d);
    E();

    S("life.createXML.inactive_persistent_other_uuid", NULL, 0);
    virDomainPtr de = virDomainDefineXML(c, X(xml, "eps", 5, 65536, NULL));
    RP("define-eps", de);
    d = virDomainCreateXML(c, X(xml, "eps", 55, 65536, NULL), 0);
    RP("virDomainCreateXML", d);
    dfree(&d);
    E();

    S("life.undefine.transient", NULL, 0);
    RI("virDomainUndefine", virDomainUndefine(dg));
    E();

    S("life.undefine.running_persistent", NULL, 0);
    RI("virDomainUndefine", virDomainUndefine(db));
    RI("isActive", virDomainIsActive(db));
    RI("isPersistent", virDomainIsPersistent(db));
    show_state("state", db);
    E();

    S("life.destroy.now_transient_vanishes", NULL, 0);
    RI("virDomainDestroy", virDomainDestroy(db));
    d = sub_lookup("lookup", c, "beta");
    dfree(&d);
    E();

    S("life.handle_after_vanish", NULL, 0);
    show_name("name", db);
    show_id("id", db);
    show_uuidstring("uuid", db);
    RI("isActive", virDomainIsActive(db));
    show_state("state", db);
    RXML("xml", virDomainGetXMLDesc(db, 0));
    RI("create", virDomainCreate(db));
    E();
    dfree(&db);

    S("life.undefineFlags.bad_flags", NULL, 0);
    RI("virDomainUndefineFlags", virDomainUndefineFlags(de, 0x10000));
    E();

    S("life.undefineFlags.MANAGED_SAVE", NULL, 0);
    RI("virDomainUndefineFlags", virDomainUndefineFlags(de, VIR_DOMAIN_UNDEFINE_MANAGED_SAVE));
    d = sub_lookup("lookup", c, "eps");
    dfree(&d);
    E();

    S("life.undefine.already_gone", NULL, 0);
    RI("virDomainUndefine", virDomainUndefine(de));
    E();
    dfree(&de);

    S("life.undefine.NULL", NULL, 0);
    RI("virDomainUndefine", virDomainUndefine(NULL));
    E();

    S("life.undefineFlags.NULL", NULL, 0);
    RI("virDomainUndefineFlags", virDomainUndefineFlags(NULL, 0));
    E();

    S("life.destroyFlags.NULL", NULL, 0);
    RI("virDomainDestroyFlags", virDomainDestroyFlags(NULL, 0));
    E();

    S("life.destroy.transient_gamma_vanishes", NULL, 0);
    RI("virDomainDestroy", virDomainDestroy(dg));
    show_state("state-old-handle", dg);
    d = sub_lookup("lookup", c, "gamma");
    dfree(&d);
    E();
    dfree(&dg);

    S("life.defineXML.zeta_inactive", NULL, 0);
    virDomainPtr dz = virDomainDefineXML(c, X(xml, "zeta", 6, 65536, NULL));
    RP("virDomainDefineXML", dz);
    E();

    /* ================================================================== */
    /* Listing: test (running), alpha (running), delta (paused, transient),
     * zeta (shut off, persistent). */

    S("list.numOfDomains", NULL, 0);
    RI("virConnectNumOfDomains", virConnectNumOfDomains(c));
    E();

    S("list.numOfDomains.NULL", NULL, 0);
    RI("virConnectNumOfDomains", virConnectNumOfDomains(NULL));
    E();

    S("list.listDomains", NULL, 0);
    {
        int ids[16];
        int n = virConnectListDomains(c, ids, 16);
        RI("virConnectListDomains", n);
        if (n > 0) {
            qsort(ids, (size_t)n, sizeof(int), cmp_int);
            char buf[256];
            int o = 0;
            for (int i = 0; i < n; i++)
                o += snprintf(buf + o, sizeof(buf) - (size_t)o, "%s%d", i ? "," : "", ids[i]);
            INFO("ids(sorted)=[%s]", buf);
        }
    }
    E();

    S("list.listDomains.maxids_1", NULL, 0);
    {
        int ids[4] = { -7, -7, -7, -7 };
        int n = virConnectListDomains(c, ids, 1);
        RI("virConnectListDomains", n);
        INFO("ids[1]-untouched:%s", ids[1] == -7 ? "yes" : "no");
    }
    E();

    S("list.listDomains.maxids_0", NULL, 0);
    {
        int ids[1];
        RI("virConnectListDomains", virConnectListDomains(c, ids, 0));
    }
    E();

    S("list.listDomains.maxids_negative", NULL, 0);
    {
        int ids[1];
        RI("virConnectListDomains", virConnectListDomains(c, ids, -1));
    }
    E();

    S("list.listDomains.NULL_ids", NULL, 0);
    RI("virConnectListDomains", virConnectListDomains(c, NULL, 4));
    E();

    S("list.listDomains.NULL_ids_maxids_0", NULL, 0);
    RI("virConnectListDomains", virConnectListDomains(c, NULL, 0));
    E();

    S("list.numOfDefinedDomains", NULL, 0);
    RI("virConnectNumOfDefinedDomains", virConnectNumOfDefinedDomains(c));
    E();

    S("list.numOfDefinedDomains.NULL", NULL, 0);
    RI("virConnectNumOfDefinedDomains", virConnectNumOfDefinedDomains(NULL));
    E();

    S("list.listDefinedDomains", NULL, 0);
    {
        char *names[16];
        int n = virConnectListDefinedDomains(c, names, 16);
        RI("virConnectListDefinedDomains", n);
        if (n > 0) {
            qsort(names, (size_t)n, sizeof(char *), cmp_str);
            char buf[512];
            int o = 0;
            for (int i = 0; i < n; i++) {
                o += snprintf(buf + o, sizeof(buf) - (size_t)o, "%s%s", i ? "," : "", names[i]);
                free(names[i]);
            }
            INFO("names(sorted)=[%s]", buf);
        }
    }
    E();

    S("list.listDefinedDomains.maxnames_0", NULL, 0);
    {
        char *names[1];
        RI("virConnectListDefinedDomains", virConnectListDefinedDomains(c, names, 0));
    }
    E();

    S("list.listDefinedDomains.maxnames_negative", NULL, 0);
    {
        char *names[1];
        RI("virConnectListDefinedDomains", virConnectListDefinedDomains(c, names, -1));
    }
    E();

    S("list.listDefinedDomains.NULL_names", NULL, 0);
    RI("virConnectListDefinedDomains", virConnectListDefinedDomains(c, NULL, 4));
    E();

    S("list.listDefinedDomains.NULL_conn", NULL, 0);
    {
        char *names[1];
        RI("virConnectListDefinedDomains", virConnectListDefinedDomains(NULL, names, 1));
    }
    E();

    {
        static const struct {
            const char *name;
            unsigned int flags;
        } lf[] = {
            { "list.all.0", 0 },
            { "list.all.ACTIVE", VIR_CONNECT_LIST_DOMAINS_ACTIVE },
            { "list.all.INACTIVE", VIR_CONNECT_LIST_DOMAINS_INACTIVE },
            { "list.all.ACTIVE|INACTIVE",
              VIR_CONNECT_LIST_DOMAINS_ACTIVE | VIR_CONNECT_LIST_DOMAINS_INACTIVE },
            { "list.all.PERSISTENT", VIR_CONNECT_LIST_DOMAINS_PERSISTENT },
            { "list.all.TRANSIENT", VIR_CONNECT_LIST_DOMAINS_TRANSIENT },
            { "list.all.RUNNING", VIR_CONNECT_LIST_DOMAINS_RUNNING },
            { "list.all.PAUSED", VIR_CONNECT_LIST_DOMAINS_PAUSED },
            { "list.all.SHUTOFF", VIR_CONNECT_LIST_DOMAINS_SHUTOFF },
            { "list.all.OTHER", VIR_CONNECT_LIST_DOMAINS_OTHER },
            { "list.all.RUNNING|PAUSED",
              VIR_CONNECT_LIST_DOMAINS_RUNNING | VIR_CONNECT_LIST_DOMAINS_PAUSED },
            { "list.all.ACTIVE|PERSISTENT",
              VIR_CONNECT_LIST_DOMAINS_ACTIVE | VIR_CONNECT_LIST_DOMAINS_PERSISTENT },
            { "list.all.INACTIVE|TRANSIENT",
              VIR_CONNECT_LIST_DOMAINS_INACTIVE | VIR_CONNECT_LIST_DOMAINS_TRANSIENT },
            { "list.all.MANAGEDSAVE", VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE },
            { "list.all.NO_MANAGEDSAVE", VIR_CONNECT_LIST_DOMAINS_NO_MANAGEDSAVE },
            { "list.all.AUTOSTART", VIR_CONNECT_LIST_DOMAINS_AUTOSTART },
            { "list.all.NO_AUTOSTART", VIR_CONNECT_LIST_DOMAINS_NO_AUTOSTART },
            { "list.all.HAS_SNAPSHOT", VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT },
            { "list.all.NO_SNAPSHOT", VIR_CONNECT_LIST_DOMAINS_NO_SNAPSHOT },
            { "list.all.bad_flag_1<<30", 1u << 30 },
        };
        for (size_t i = 0; i < sizeof(lf) / sizeof(lf[0]); i++) {
            S(lf[i].name, NULL, 0);
            show_list_all("virConnectListAllDomains", c, lf[i].flags);
            E();
        }
    }

    S("list.all.NULL_array", NULL, 0);
    RI("virConnectListAllDomains", virConnectListAllDomains(c, NULL, 0));
    E();

    S("list.all.NULL_conn", NULL, 0);
    {
        virDomainPtr *doms = (virDomainPtr *)&doms;
        rc = virConnectListAllDomains(NULL, &doms, 0);
        RI("virConnectListAllDomains", rc);
        INFO("doms-set-to-NULL:%s", doms == NULL ? "yes" : "no");
    }
    E();

    S("list.all.readonly", NULL, 0);
    show_list_all("virConnectListAllDomains", ro, 0);
    E();

    S("list.numOfDomains.readonly", NULL, 0);
    RI("virConnectNumOfDomains", virConnectNumOfDomains(ro));
    E();

    S("life.destroy.delta_transient", NULL, 0);
    RI("virDomainDestroy", virDomainDestroy(dd));
    E();
    dfree(&dd);

    /* ================================================================== */
    /* Save. State: test (running), alpha (running, persistent), zeta (shut off). */

    char *p_alpha = tpath("alpha.img");
    char *p_adir = tpath("adir");
    char *p_nodir = tpath("nodir/x.img");
    if (mkdir(p_adir, 0755) < 0)
        fatal("mkdir");
    if (chdir(tmpdir) < 0)
        fatal("chdir");

    S("save.alpha", NULL, 0);
    RI("virDomainSave", virDomainSave(da, p_alpha));
    show_state("state", da);
    show_id("id-same-handle", da);
    RI("isActive", virDomainIsActive(da));
    RI("isPersistent", virDomainIsPersistent(da));
    show_image_file("file", p_alpha, 1);
    E();

    S("save.alpha.new_handle", NULL, 0);
    d = sub_lookup("virDomainLookupByName", c, "alpha");
    show_id("id", d);
    show_state("state", d);
    dfree(&d);
    E();

    S("save.inactive_domain", NULL, 0);
    RI("virDomainSave", virDomainSave(da, p_alpha));
    E();

    S("saveFlags.inactive_domain_bad_flags", NULL, 0);
    RI("virDomainSaveFlags", virDomainSaveFlags(da, p_alpha, NULL, 0x100));
    E();

    S("save.inactive_domain_NULL_path", NULL, 0);
    RI("virDomainSave", virDomainSave(da, NULL));
    E();

    /* ---- image XML ---- */
    S("imgxml.flags_0", NULL, 0);
    show_imgxml("virDomainSaveImageGetXMLDesc", c, p_alpha, 0);
    E();

    S("imgxml.SECURE", NULL, 0);
    show_imgxml("virDomainSaveImageGetXMLDesc", c, p_alpha, VIR_DOMAIN_SAVE_IMAGE_XML_SECURE);
    E();

    S("imgxml.bad_flag_INACTIVE", NULL, 0);
    show_imgxml("virDomainSaveImageGetXMLDesc", c, p_alpha, VIR_DOMAIN_XML_INACTIVE);
    E();

    S("imgxml.bad_flag_0x100", NULL, 0);
    show_imgxml("virDomainSaveImageGetXMLDesc", c, p_alpha, 0x100);
    E();

    S("imgxml.relative_path", NULL, 0);
    show_imgxml("virDomainSaveImageGetXMLDesc", c, "alpha.img", 0);
    E();

    S("imgxml.dotdot_path", NULL, 0);
    show_imgxml("virDomainSaveImageGetXMLDesc", c, "nonexistent-dir/../alpha.img", 0);
    E();

    S("imgxml.readonly_flags_0", NULL, 0);
    show_imgxml("virDomainSaveImageGetXMLDesc", ro, p_alpha, 0);
    E();

    S("imgxml.readonly_SECURE", NULL, 0);
    show_imgxml("virDomainSaveImageGetXMLDesc", ro, p_alpha, VIR_DOMAIN_SAVE_IMAGE_XML_SECURE);
    E();

    S("imgxml.readonly_NULL_file", NULL, 0);
    show_imgxml("virDomainSaveImageGetXMLDesc", ro, NULL, 0);
    E();

    S("imgxml.NULL_file", NULL, 0);
    show_imgxml("virDomainSaveImageGetXMLDesc", c, NULL, 0);
    E();

    S("imgxml.NULL_conn", NULL, 0);
    show_imgxml("virDomainSaveImageGetXMLDesc", NULL, p_alpha, 0);
    E();

    S("imgxml.missing_file", NULL, 0);
    {
        char *p = tpath("missing.img");
        show_imgxml("virDomainSaveImageGetXMLDesc", c, p, 0);
        free(p);
    }
    E();

    S("imgxml.missing_file_bad_flags", NULL, 0);
    {
        char *p = tpath("missing.img");
        show_imgxml("virDomainSaveImageGetXMLDesc", c, p, 0x100);
        free(p);
    }
    E();

    S("imgxml.directory", NULL, 0);
    show_imgxml("virDomainSaveImageGetXMLDesc", c, p_adir, 0);
    E();

    /* ---- restore ---- */
    S("restore.alpha", NULL, 0);
    RI("virDomainRestore", virDomainRestore(c, p_alpha));
    d = sub_lookup("lookup", c, "alpha");
    show_state("state", d);
    show_id("id-new-handle", d);
    show_id("id-old-handle", da);
    show_state("state-old-handle", da);
    RI("isPersistent", virDomainIsPersistent(d));
    show_info("info", d);
    INFO("image-still-exists:%s", file_exists(p_alpha) ? "yes" : "no");
    dfree(&d);
    E();

    S("restore.alpha.getXMLDesc", NULL, 0);
    RXML("virDomainGetXMLDesc", virDomainGetXMLDesc(da, 0));
    E();

    S("restore.already_active", NULL, 0);
    RI("virDomainRestore", virDomainRestore(c, p_alpha));
    E();

    S("save.paused_domain", NULL, 0);
    RI("suspend", virDomainSuspend(da));
    {
        char *p = tpath("paused.img");
        RI("virDomainSave", virDomainSave(da, p));
        show_state("state", da);
        free(p);
    }
    E();

    S("restore.paused_image", NULL, 0);
    {
        char *p = tpath("paused.img");
        RI("virDomainRestore", virDomainRestore(c, p));
        show_state("state", da);
        free(p);
    }
    E();

    S("save.relative_path", NULL, 0);
    RI("virDomainSave", virDomainSave(da, "rel.img"));
    {
        char *p = tpath("rel.img");
        INFO("created-in-cwd:%s", file_exists(p) ? "yes" : "no");
        free(p);
    }
    show_state("state", da);
    E();

    S("restore.relative_path", NULL, 0);
    RI("virDomainRestore", virDomainRestore(c, "rel.img"));
    show_state("state", da);
    E();

    S("save.dotdot_path_through_missing_dir", NULL, 0);
    RI("virDomainSave", virDomainSave(da, "nonexistent-dir/../dot.img"));
    {
        char *p = tpath("dot.img");
        INFO("created:%s", file_exists(p) ? "yes" : "no");
        free(p);
    }
    E();

    S("restoreFlags.dot_slash_path", NULL, 0);
    RI("virDomainRestoreFlags", virDomainRestoreFlags(c, "./dot.img", NULL, 0));
    show_state("state", da);
    E();

    S("save.NULL_path", NULL, 0);
    RI("virDomainSave", virDomainSave(da, NULL));
    E();

    S("save.NULL_domain", NULL, 0);
    RI("virDomainSave", virDomainSave(NULL, p_alpha));
    E();

    S("saveFlags.NULL_domain", NULL, 0);
    RI("virDomainSaveFlags", virDomainSaveFlags(NULL, p_alpha, NULL, 0));
    E();

    S("save.empty_path", NULL, 0);
    RI("virDomainSave", virDomainSave(da, ""));
    show_state("state", da);
    E();

    S("save.directory", NULL, 0);
    RI("virDomainSave", virDomainSave(da, p_adir));
    show_state("state", da);
    E();

    S("save.nonexistent_directory", NULL, 0);
    RI("virDomainSave", virDomainSave(da, p_nodir));
    show_state("state", da);
    INFO("file-created:%s", file_exists(p_nodir) ? "yes" : "no");
    E();

    /* A write error: libvirt's test driver unlinks the target when writing fails (never
     * point this at a device node such as /dev/full when running as root: it is
     * deleted).  RLIMIT_FSIZE makes the write fail inside $TMP; a counting handler
     * replaces the default one meanwhile, since stderr cannot grow either. */
    S("save.write_error_EFBIG", NULL, 0);
    {
        char *p = tpath("efbig.img");
        struct rlimit old, lim;
        getrlimit(RLIMIT_FSIZE, &old);
        lim = old;
        lim.rlim_cur = 64;
        void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
        virSetErrorFunc(&global_cb, count_handler);
        setrlimit(RLIMIT_FSIZE, &lim);
        rc = virDomainSave(da, p);
        setrlimit(RLIMIT_FSIZE, &old);
        virSetErrorFunc(NULL, NULL);
        signal(SIGXFSZ, oldsig);
        RI("virDomainSave", rc);
        INFO("file-left-behind:%s", file_exists(p) ? "yes" : "no");
        show_state("state", da);
        free(p);
    }
    E();

    S("saveFlags.RUNNING|PAUSED", NULL, 0);
    RI("virDomainSaveFlags", virDomainSaveFlags(da, p_alpha, NULL,
                                                VIR_DOMAIN_SAVE_RUNNING | VIR_DOMAIN_SAVE_PAUSED));
    show_state("state", da);
    E();

    S("saveFlags.BYPASS_CACHE", NULL, 0);
    RI("virDomainSaveFlags", virDomainSaveFlags(da, p_alpha, NULL, VIR_DOMAIN_SAVE_BYPASS_CACHE));
    show_state("state", da);
    E();

    S("saveFlags.RESET_NVRAM", NULL, 0);
    RI("virDomainSaveFlags", virDomainSaveFlags(da, p_alpha, NULL, VIR_DOMAIN_SAVE_RESET_NVRAM));
    E();

    S("saveFlags.unknown_0x100", NULL, 0);
    RI("virDomainSaveFlags", virDomainSaveFlags(da, p_alpha, NULL, 0x100));
    show_state("state", da);
    E();

    S("saveFlags.NULL_path_RUNNING|PAUSED", NULL, 0);
    RI("virDomainSaveFlags", virDomainSaveFlags(da, NULL, NULL,
                                                VIR_DOMAIN_SAVE_RUNNING | VIR_DOMAIN_SAVE_PAUSED));
    E();

    S("saveFlags.flags_0", NULL, 0);
    {
        char *p = tpath("flags0.img");
        RI("virDomainSaveFlags", virDomainSaveFlags(da, p, NULL, 0));
        show_state("state", da);
        show_image_file("file", p, 0);
        free(p);
    }
    E();

    S("restoreFlags.flags_0", NULL, 0);
    {
        char *p = tpath("flags0.img");
        RI("virDomainRestoreFlags", virDomainRestoreFlags(c, p, NULL, 0));
        show_state("state", da);
        free(p);
    }
    E();

    S("save.transient", NULL, 0);
    virDomainPtr dtr = virDomainCreateXML(c, X(xml, "tra", 7, 65536, NULL), 0);
    RP("createXML", dtr);
    {
        char *p = tpath("tra.img");
        RI("virDomainSave", virDomainSave(dtr, p));
        free(p);
    }
    d = sub_lookup("lookup", c, "tra");
    dfree(&d);
    show_state("state-old-handle", dtr);
    show_name("name-old-handle", dtr);
    E();

    S("restore.transient_image", NULL, 0);
    {
        char *p = tpath("tra.img");
        RI("virDomainRestore", virDomainRestore(c, p));
        free(p);
    }
    d = sub_lookup("lookup", c, "tra");
    show_state("state", d);
    RI("isPersistent", virDomainIsPersistent(d));
    show_state("state-old-handle", dtr);
    dfree(&d);
    E();

    S("restore.transient_image_then_destroy", NULL, 0);
    RI("virDomainDestroy", virDomainDestroy(dtr));
    d = sub_lookup("lookup", c, "tra");
    dfree(&d);
    E();
    dfree(&dtr);

    S("restore.image_of_undefined_persistent", NULL, 0);
    {
        /* zeta: run it, save it, undefine it, restore -> transient */
        char *p = tpath("zeta.img");
        RI("create", virDomainCreate(dz));
        RI("save", virDomainSave(dz, p));
        RI("undefine", virDomainUndefine(dz));
        RI("virDomainRestore", virDomainRestore(c, p));
        d = sub_lookup("lookup", c, "zeta");
        show_state("state", d);
        RI("isPersistent", virDomainIsPersistent(d));
        if (d)
            RI("destroy", virDomainDestroy(d));
        dfree(&d);
        free(p);
    }
    E();
    dfree(&dz);

    /* ---- restore error paths ---- */
    S("restore.NULL_path", NULL, 0);
    RI("virDomainRestore", virDomainRestore(c, NULL));
    E();

    S("restore.NULL_conn", NULL, 0);
    RI("virDomainRestore", virDomainRestore(NULL, p_alpha));
    E();

    S("restoreFlags.NULL_conn", NULL, 0);
    RI("virDomainRestoreFlags", virDomainRestoreFlags(NULL, p_alpha, NULL, 0));
    E();

    S("restore.missing_file", NULL, 0);
    {
        char *p = tpath("missing.img");
        RI("virDomainRestore", virDomainRestore(c, p));
        free(p);
    }
    E();

    S("restore.empty_path", NULL, 0);
    RI("virDomainRestore", virDomainRestore(c, ""));
    E();

    S("restore.directory", NULL, 0);
    RI("virDomainRestore", virDomainRestore(c, p_adir));
    E();

    S("restore.empty_file", NULL, 0);
    {
        char *p = tpath("empty.img");
        write_file(p, "", 0);
        RI("virDomainRestore", virDomainRestore(c, p));
        free(p);
    }
    E();

    S("restore.truncated_magic", NULL, 0);
    {
        char *p = tpath("trunc10.img");
        write_file(p, TEST_MAGIC, 10);
        RI("virDomainRestore", virDomainRestore(c, p));
        free(p);
    }
    E();

    S("restore.magic_only", NULL, 0);
    {
        char *p = tpath("magiconly.img");
        write_file(p, TEST_MAGIC, 15);
        RI("virDomainRestore", virDomainRestore(c, p));
        free(p);
    }
    E();

    S("restore.short_length_field", NULL, 0);
    {
        char *p = tpath("shortlen.img");
        char buf[17];
        memcpy(buf, TEST_MAGIC, 15);
        buf[15] = 0x10;
        buf[16] = 0;
        write_file(p, buf, sizeof(buf));
        RI("virDomainRestore", virDomainRestore(c, p));
        free(p);
    }
    E();

    const char *small_xml = X(xml2, "imgdom", 20, 65536, NULL);

    restore_crafted(c, "restore.wrong_magic", "wrongmagic.img", "TestGuestMagiX", (int)strlen(small_xml), small_xml, strlen(small_xml));

    restore_crafted(c, "restore.magic_without_NUL", "magicnonul.img", "TestGuestMagicX", (int)strlen(small_xml), small_xml, strlen(small_xml));

    restore_crafted(c, "restore.qemu_magic", "qemumagic.img", "LibvirtQemudSav", (int)strlen(small_xml), small_xml, strlen(small_xml));

    restore_crafted(c, "restore.length_0", "len0.img", TEST_MAGIC, 0, small_xml, strlen(small_xml));

    restore_crafted(c, "restore.length_negative", "lenneg.img", TEST_MAGIC, -5, small_xml, strlen(small_xml));

    restore_crafted(c, "restore.length_8193", "len8193.img", TEST_MAGIC, 8193, small_xml, strlen(small_xml));

    restore_crafted(c, "restore.length_larger_than_file", "lenbig.img", TEST_MAGIC, (int)strlen(small_xml) + 100, small_xml, strlen(small_xml));

    restore_crafted(c, "restore.length_smaller_than_xml", "lensmall.img", TEST_MAGIC, (int)strlen(small_xml) - 20, small_xml, strlen(small_xml));

    S("restore.length_8192_valid", NULL, 0);
    {
        char big[8193];
        const char *bx = X(xml, "big8192", 21, 65536, NULL);
        size_t bl = strlen(bx);
        memcpy(big, bx, bl);
        memset(big + bl, ' ', 8192 - bl);
        big[8191] = '\n';
        write_image("len8192.img", TEST_MAGIC, 8192, big, 8192);
        char *p = tpath("len8192.img");
        RI("virDomainRestore", virDomainRestore(c, p));
        d = sub_lookup("lookup", c, "big8192");
        show_state("state", d);
        if (d)
            RI("destroy", virDomainDestroy(d));
        dfree(&d);
        free(p);
    }
    E();

    S("restore.trailing_bytes_after_xml", NULL, 0);
    {
        char buf[4096];
        const char *tx = X(xml, "trail", 22, 65536, NULL);
        size_t tl = strlen(tx);
        memcpy(buf, tx, tl);
        memcpy(buf + tl, "GARBAGE-AFTER-XML", 17);
        write_image("trail.img", TEST_MAGIC, (int)tl, buf, tl + 17);
        char *p = tpath("trail.img");
        RI("virDomainRestore", virDomainRestore(c, p));
        d = sub_lookup("lookup", c, "trail");
        if (d)
            RI("destroy", virDomainDestroy(d));
        dfree(&d);
        free(p);
    }
    E();

    {
        const char *bad = "<domain type='test'><name>broken</name>";
        restore_crafted(c, "restore.malformed_xml", "badxml.img", TEST_MAGIC, (int)strlen(bad), bad, strlen(bad));
    }

    {
        const char *bad = "<network><name>n</name></network>";
        restore_crafted(c, "restore.xml_not_a_domain", "notdom.img", TEST_MAGIC, (int)strlen(bad), bad, strlen(bad));
    }

    {
        const char *bad = "<domain type='test'><memory>65536</memory><os><type>hvm</type></os>" "</domain>";
        restore_crafted(c, "restore.xml_missing_name", "noname.img", TEST_MAGIC, (int)strlen(bad), bad, strlen(bad));
    }

    S("restore.xml_with_NUL_inside", NULL, 0);
    {
        char buf[4096];
        const char *tx = X(xml, "nulin", 23, 65536, NULL);
        size_t tl = strlen(tx);
        memcpy(buf, tx, tl);
        buf[tl - 2] = '\0'; /* inside the closing tag */
        write_image("nulin.img", TEST_MAGIC, (int)tl, buf, tl);
        char *p = tpath("nulin.img");
        RI("virDomainRestore", virDomainRestore(c, p));
        free(p);
    }
    E();

    S("restore.name_exists_other_uuid", NULL, 0);
    {
        const char *ix = X(xml, "alpha", 77, 65536, NULL);
        write_image("alpha77.img", TEST_MAGIC, (int)strlen(ix), ix, strlen(ix));
        char *p = tpath("alpha77.img");
        RI("virDomainRestore", virDomainRestore(c, p));
        free(p);
    }
    E();

    S("restore.uuid_exists_other_name", NULL, 0);
    {
        const char *ix = X(xml, "alpha-twin", 1, 65536, NULL);
        write_image("twin.img", TEST_MAGIC, (int)strlen(ix), ix, strlen(ix));
        char *p = tpath("twin.img");
        RI("virDomainRestore", virDomainRestore(c, p));
        free(p);
    }
    E();

    S("restore.image_of_running_test_domain", NULL, 0);
    {
        char *tx = virDomainGetXMLDesc(dt, VIR_DOMAIN_XML_SECURE);
        if (!tx)
            fatal("xml of test");
        write_image("test.img", TEST_MAGIC, (int)strlen(tx), tx, strlen(tx));
        free(tx);
        char *p = tpath("test.img");
        RI("virDomainRestore", virDomainRestore(c, p));
        free(p);
    }
    E();

    S("restore.xml_without_uuid", NULL, 0);
    {
        const char *ix = X(xml, "nouuid", 0, 65536, NULL);
        write_image("nouuid.img", TEST_MAGIC, (int)strlen(ix), ix, strlen(ix));
        char *p = tpath("nouuid.img");
        RI("virDomainRestore", virDomainRestore(c, p));
        d = sub_lookup("lookup", c, "nouuid");
        show_state("state", d);
        show_uuidstring("uuid", d);
        RI("isPersistent", virDomainIsPersistent(d));
        if (d)
            RI("destroy", virDomainDestroy(d));
        dfree(&d);
        free(p);
    }
    E();

    S("restore.xml_with_id_attribute", NULL, 0);
    {
        const char *ix = "<domain type='test' id='42'><name>withid</name>"
                         "<uuid>" OUR_UUID_PREFIX "000000000024</uuid><memory>65536</memory>"
                         "<os><type>hvm</type></os></domain>";
        write_image("withid.img", TEST_MAGIC, (int)strlen(ix), ix, strlen(ix));
        char *p = tpath("withid.img");
        RI("virDomainRestore", virDomainRestore(c, p));
        d = sub_lookup("lookup", c, "withid");
        show_id("id", d);
        if (d)
            RI("destroy", virDomainDestroy(d));
        dfree(&d);
        free(p);
    }
    E();

    S("restoreFlags.unknown_0x100", NULL, 0);
    RI("virDomainRestoreFlags", virDomainRestoreFlags(c, p_alpha, NULL, 0x100));
    E();

    S("restoreFlags.BYPASS_CACHE", NULL, 0);
    RI("virDomainRestoreFlags", virDomainRestoreFlags(c, p_alpha, NULL,
                                                      VIR_DOMAIN_SAVE_BYPASS_CACHE));
    E();

    S("restoreFlags.RESET_NVRAM", NULL, 0);
    RI("virDomainRestoreFlags", virDomainRestoreFlags(c, p_alpha, NULL,
                                                      VIR_DOMAIN_SAVE_RESET_NVRAM));
    E();

    S("restoreFlags.RUNNING|PAUSED", NULL, 0);
    RI("virDomainRestoreFlags",
       virDomainRestoreFlags(c, p_alpha, NULL, VIR_DOMAIN_SAVE_RUNNING | VIR_DOMAIN_SAVE_PAUSED));
    E();

    S("restoreFlags.NULL_path_RUNNING|PAUSED", NULL, 0);
    RI("virDomainRestoreFlags",
       virDomainRestoreFlags(c, NULL, NULL, VIR_DOMAIN_SAVE_RUNNING | VIR_DOMAIN_SAVE_PAUSED));
    E();

    S("restoreFlags.missing_file_bad_flags", NULL, 0);
    {
        char *p = tpath("missing.img");
        RI("virDomainRestoreFlags", virDomainRestoreFlags(c, p, NULL, 0x100));
        free(p);
    }
    E();

    /* ================================================================== */
    /* virDomainSaveImageDefineXML. alpha is running. */

    char *p_def = tpath("def.img");
    S("imgdef.prepare_image", NULL, 0);
    RI("virDomainSave", virDomainSave(da, p_def));
    show_image_file("file", p_def, 0);
    E();

    char *alpha_inactive = NULL;
    {
        char *ix = virDomainSaveImageGetXMLDesc(c, p_def, 0);
        alpha_inactive = ix ? ix : strdup(X(xml, "alpha", 1, 131072, NULL));
    }

    S("imgdef.valid_change_memory_and_description", NULL, 0);
    {
        char *t1 = xml_replace(alpha_inactive, "131072", "196608");
        char *t2 = xml_insert_after_name(t1, "\n  <description>changed by define</description>");
        RI("virDomainSaveImageDefineXML", virDomainSaveImageDefineXML(c, p_def, t2, 0));
        free(t1);
        free(t2);
    }
    show_image_file("file", p_def, 1);
    E();

    S("imgdef.getXMLDesc_after_change", NULL, 0);
    show_imgxml("virDomainSaveImageGetXMLDesc", c, p_def, 0);
    E();

    S("imgdef.restore_after_change", NULL, 0);
    RI("virDomainRestore", virDomainRestore(c, p_def));
    show_state("state", da);
    show_info("info", da);
    E();

    S("imgdef.restore_after_change.getXMLDesc", NULL, 0);
    RXML("virDomainGetXMLDesc", virDomainGetXMLDesc(da, 0));
    E();

    S("imgdef.restore_after_change.getXMLDesc_INACTIVE", NULL, 0);
    RXML("virDomainGetXMLDesc", virDomainGetXMLDesc(da, VIR_DOMAIN_XML_INACTIVE));
    E();

    S("imgdef.rename", NULL, 0);
    {
        char *p = tpath("ren.img");
        RI("save", virDomainSave(da, p));
        char *t1 = xml_replace(alpha_inactive, "<name>alpha</name>", "<name>alpha-renamed</name>");
        RI("virDomainSaveImageDefineXML", virDomainSaveImageDefineXML(c, p, t1, 0));
        free(t1);
        char *ix = virDomainSaveImageGetXMLDesc(c, p, 0);
        INFO("image-now-names-alpha-renamed:%s",
             ix && strstr(ix, "<name>alpha-renamed</name>") ? "yes" : "no");
        free(ix);
        free(p);
    }
    E();

    S("imgdef.restore_renamed_uuid_clash", NULL, 0);
    {
        char *p = tpath("ren.img");
        RI("virDomainRestore", virDomainRestore(c, p));
        show_state("alpha-state", da);
        free(p);
    }
    E();

    S("imgdef.change_uuid", NULL, 0);
    {
        char *p = tpath("ren.img");
        char *t1 = xml_replace(alpha_inactive, OUR_UUID_PREFIX "000000000001",
                               OUR_UUID_PREFIX "000000000009");
        RI("virDomainSaveImageDefineXML", virDomainSaveImageDefineXML(c, p, t1, 0));
        free(t1);
        RI("restore", virDomainRestore(c, p));
        show_state("alpha-state", da);
        free(p);
    }
    E();

    S("imgdef.restore_original_name_again", NULL, 0);
    {
        /* put alpha's own XML back and restore it: alpha is inactive (SAVED) now */
        char *p = tpath("ren.img");
        RI("virDomainSaveImageDefineXML", virDomainSaveImageDefineXML(c, p, alpha_inactive, 0));
        RI("virDomainRestore", virDomainRestore(c, p));
        show_state("alpha-state", da);
        free(p);
    }
    E();

    /* virshim records the state these flags ask for after the XML, where libvirt's test
     * driver ignores them. */
    S("imgdef.flag_RUNNING", "[deliberate]", 0);
    RI("virDomainSaveImageDefineXML",
       virDomainSaveImageDefineXML(c, p_def, alpha_inactive, VIR_DOMAIN_SAVE_RUNNING));
    show_image_file("file", p_def, 0);
    E();

    S("imgdef.flag_PAUSED", "[deliberate]", 0);
    RI("virDomainSaveImageDefineXML",
       virDomainSaveImageDefineXML(c, p_def, alpha_inactive, VIR_DOMAIN_SAVE_PAUSED));
    show_image_file("file", p_def, 1);
    E();

    S("imgdef.flags_RUNNING|PAUSED", NULL, 0);
    RI("virDomainSaveImageDefineXML",
       virDomainSaveImageDefineXML(c, p_def, alpha_inactive,
                                   VIR_DOMAIN_SAVE_RUNNING | VIR_DOMAIN_SAVE_PAUSED));
    E();

    S("imgdef.flag_BYPASS_CACHE", NULL, 0);
    RI("virDomainSaveImageDefineXML",
       virDomainSaveImageDefineXML(c, p_def, alpha_inactive, VIR_DOMAIN_SAVE_BYPASS_CACHE));
    E();

    S("imgdef.flag_0x100", NULL, 0);
    RI("virDomainSaveImageDefineXML", virDomainSaveImageDefineXML(c, p_def, alpha_inactive, 0x100));
    E();

    S("imgdef.malformed_dxml", NULL, 0);
    {
        size_t n0 = 0, n1 = 0;
        char *before = slurp(p_def, &n0);
        RI("virDomainSaveImageDefineXML",
           virDomainSaveImageDefineXML(c, p_def, "<domain type='test'><name>x", 0));
        char *after = slurp(p_def, &n1);
        INFO("file-unchanged=%s",
             before && after && n0 == n1 && memcmp(before, after, n0) == 0 ? "yes" : "no");
        free(before);
        free(after);
    }
    E();

    S("imgdef.dxml_not_a_domain", NULL, 0);
    RI("virDomainSaveImageDefineXML",
       virDomainSaveImageDefineXML(c, p_def, "<network><name>n</name></network>", 0));
    E();

    S("imgdef.dxml_missing_name", NULL, 0);
    RI("virDomainSaveImageDefineXML",
       virDomainSaveImageDefineXML(c, p_def,
                                   "<domain type='test'><memory>65536</memory>"
                                   "<os><type>hvm</type></os></domain>", 0));
    E();

    S("imgdef.NULL_dxml", NULL, 0);
    RI("virDomainSaveImageDefineXML", virDomainSaveImageDefineXML(c, p_def, NULL, 0));
    E();

    S("imgdef.NULL_file", NULL, 0);
    RI("virDomainSaveImageDefineXML", virDomainSaveImageDefineXML(c, NULL, alpha_inactive, 0));
    E();

    S("imgdef.NULL_file_NULL_dxml", NULL, 0);
    RI("virDomainSaveImageDefineXML", virDomainSaveImageDefineXML(c, NULL, NULL, 0));
    E();

    S("imgdef.NULL_dxml_RUNNING|PAUSED", NULL, 0);
    RI("virDomainSaveImageDefineXML",
       virDomainSaveImageDefineXML(c, p_def, NULL, VIR_DOMAIN_SAVE_RUNNING | VIR_DOMAIN_SAVE_PAUSED));
    E();

    S("imgdef.NULL_conn", NULL, 0);
    RI("virDomainSaveImageDefineXML", virDomainSaveImageDefineXML(NULL, p_def, alpha_inactive, 0));
    E();

    S("imgdef.missing_file", NULL, 0);
    {
        char *p = tpath("missing.img");
        RI("virDomainSaveImageDefineXML", virDomainSaveImageDefineXML(c, p, alpha_inactive, 0));
        INFO("file-created:%s", file_exists(p) ? "yes" : "no");
        free(p);
    }
    E();

    S("imgdef.bad_image_wrong_magic", NULL, 0);
    {
        char *p = tpath("wrongmagic.img");
        RI("virDomainSaveImageDefineXML", virDomainSaveImageDefineXML(c, p, alpha_inactive, 0));
        free(p);
    }
    E();

    S("imgdef.bad_image_empty", NULL, 0);
    {
        char *p = tpath("empty.img");
        RI("virDomainSaveImageDefineXML", virDomainSaveImageDefineXML(c, p, alpha_inactive, 0));
        free(p);
    }
    E();

    S("imgdef.relative_path", NULL, 0);
    RI("virDomainSaveImageDefineXML", virDomainSaveImageDefineXML(c, "def.img", alpha_inactive, 0));
    E();

    /* libvirt writes an image its own reader then refuses; virshim refuses the XML and
     * keeps the image as it was. */
    S("imgdef.large_dxml_over_8192", "[deliberate]", 0);
    {
        char *p = tpath("large.img");
        RI("save-alpha", virDomainSave(da, p));
        size_t n = 9000;
        char *desc = malloc(n + 64);
        if (!desc)
            fatal("malloc");
        strcpy(desc, "\n  <description>");
        size_t o = strlen(desc);
        memset(desc + o, 'x', n);
        strcpy(desc + o + n, "</description>");
        char *t = xml_insert_after_name(alpha_inactive, desc);
        int defined = virDomainSaveImageDefineXML(c, p, t, 0);
        RI("virDomainSaveImageDefineXML", defined);
        show_image_file("file", p, 0);
        if (defined == 0) {
            char *ix = virDomainSaveImageGetXMLDesc(c, p, 0);
            R("getXMLDesc-after", ix == NULL, ix ? "non-NULL" : "NULL");
            free(ix);
            RI("restore-after", virDomainRestore(c, p));
        }
        show_state("alpha-state", da);
        if (virDomainIsActive(da) != 1)
            virDomainCreate(da);
        free(t);
        free(desc);
        free(p);
    }
    E();

    /* ================================================================== */
    /* Read-only connection: every mutating call is denied. */

    virDomainPtr dz_ro = NULL;

    S("ro.lookup_alpha", NULL, 0);
    virDomainPtr da_ro = virDomainLookupByName(ro, "alpha");
    RP("virDomainLookupByName", da_ro);
    show_state("state", da_ro);
    show_info("info", da_ro);
    RI("isActive", virDomainIsActive(da_ro));
    E();

    S("ro.virDomainSave", NULL, 0);
    RI("virDomainSave", virDomainSave(da_ro, p_alpha));
    show_state("state", da_ro);
    E();

    S("ro.virDomainSave.NULL_path", NULL, 0);
    RI("virDomainSave", virDomainSave(da_ro, NULL));
    E();

    S("ro.virDomainSaveFlags", NULL, 0);
    RI("virDomainSaveFlags", virDomainSaveFlags(da_ro, p_alpha, NULL, 0));
    E();

    S("ro.virDomainSaveFlags.bad_flags", NULL, 0);
    RI("virDomainSaveFlags", virDomainSaveFlags(da_ro, p_alpha, NULL,
                                                VIR_DOMAIN_SAVE_RUNNING | VIR_DOMAIN_SAVE_PAUSED));
    E();

    S("ro.virDomainRestore", NULL, 0);
    RI("virDomainRestore", virDomainRestore(ro, p_alpha));
    E();

    S("ro.virDomainRestore.NULL_path", NULL, 0);
    RI("virDomainRestore", virDomainRestore(ro, NULL));
    E();

    S("ro.virDomainRestoreFlags", NULL, 0);
    RI("virDomainRestoreFlags", virDomainRestoreFlags(ro, p_alpha, NULL, 0));
    E();

    S("ro.virDomainSaveImageDefineXML", NULL, 0);
    RI("virDomainSaveImageDefineXML", virDomainSaveImageDefineXML(ro, p_def, alpha_inactive, 0));
    E();

    S("ro.virDomainSaveImageDefineXML.NULL_file", NULL, 0);
    RI("virDomainSaveImageDefineXML", virDomainSaveImageDefineXML(ro, NULL, NULL, 0));
    E();

    S("ro.virDomainSuspend", NULL, 0);
    RI("virDomainSuspend", virDomainSuspend(da_ro));
    E();

    S("ro.virDomainResume", NULL, 0);
    RI("virDomainResume", virDomainResume(da_ro));
    E();

    S("ro.virDomainDestroy", NULL, 0);
    RI("virDomainDestroy", virDomainDestroy(da_ro));
    E();

    S("ro.virDomainDestroyFlags", NULL, 0);
    RI("virDomainDestroyFlags", virDomainDestroyFlags(da_ro, 0));
    E();

    S("ro.virDomainUndefine", NULL, 0);
    RI("virDomainUndefine", virDomainUndefine(da_ro));
    E();

    S("ro.virDomainUndefineFlags", NULL, 0);
    RI("virDomainUndefineFlags", virDomainUndefineFlags(da_ro, 0));
    E();

    S("ro.virDomainDefineXML", NULL, 0);
    d = virDomainDefineXML(ro, X(xml, "rodef", 30, 65536, NULL));
    RP("virDomainDefineXML", d);
    dfree(&d);
    E();

    S("ro.virDomainDefineXML.NULL_xml", NULL, 0);
    d = virDomainDefineXML(ro, NULL);
    RP("virDomainDefineXML", d);
    dfree(&d);
    E();

    S("ro.virDomainDefineXMLFlags", NULL, 0);
    d = virDomainDefineXMLFlags(ro, X(xml, "rodef", 30, 65536, NULL), 0);
    RP("virDomainDefineXMLFlags", d);
    dfree(&d);
    E();

    S("ro.virDomainCreateXML", NULL, 0);
    d = virDomainCreateXML(ro, X(xml, "rocreate", 31, 65536, NULL), 0);
    RP("virDomainCreateXML", d);
    dfree(&d);
    E();

    /* an inactive domain for Create on the read-only connection */
    virDomainPtr dw = virDomainDefineXML(c, X(xml, "omega", 32, 65536, NULL));

    S("ro.virDomainCreate", NULL, 0);
    dz_ro = virDomainLookupByName(ro, "omega");
    RI("virDomainCreate", virDomainCreate(dz_ro));
    show_state("state", dz_ro);
    E();

    S("ro.virDomainCreateWithFlags", NULL, 0);
    RI("virDomainCreateWithFlags", virDomainCreateWithFlags(dz_ro, 0));
    E();

    S("ro.virDomainGetXMLDesc.INACTIVE", NULL, 0);
    {
        char *s = virDomainGetXMLDesc(da_ro, VIR_DOMAIN_XML_INACTIVE);
        R("virDomainGetXMLDesc", s == NULL, s ? "non-NULL" : "NULL");
        free(s);
    }
    E();

    S("ro.virDomainSaveImageGetXMLDesc.missing_file", NULL, 0);
    {
        char *p = tpath("missing.img");
        show_imgxml("virDomainSaveImageGetXMLDesc", ro, p, 0);
        free(p);
    }
    E();

    S("ro.listAll_and_lookups_allowed", NULL, 0);
    show_list_all("virConnectListAllDomains", ro, 0);
    d = virDomainLookupByID(ro, 1);
    RP("virDomainLookupByID", d);
    dfree(&d);
    d = virDomainLookupByUUIDString(ro, TEST_UUID);
    RP("virDomainLookupByUUIDString", d);
    dfree(&d);
    RI("virConnectNumOfDefinedDomains", virConnectNumOfDefinedDomains(ro));
    E();

    S("ro.openAuth_RO_connection_denies_save", NULL, 0);
    if (ca2) {
        d = virDomainLookupByName(ca2, "alpha");
        RP("virDomainLookupByName", d);
        RI("virDomainSave", virDomainSave(d, p_alpha));
        dfree(&d);
    }
    E();

    S("conn.openAuth.rw_connection_works", NULL, 0);
    if (ca) {
        d = virDomainLookupByName(ca, "omega");
        RP("virDomainLookupByName", d);
        RI("virDomainCreate", virDomainCreate(d));
        RI("virDomainDestroy", virDomainDestroy(d));
        show_state("state", d);
        dfree(&d);
    }
    E();

    dfree(&dz_ro);
    if (dw) {
        virDomainUndefine(dw);
        virDomainFree(dw);
    }

    /* ================================================================== */
    /* Where virshim deliberately goes beyond libvirt's test driver: save/restore with
     * VIR_DOMAIN_SAVE_RUNNING / VIR_DOMAIN_SAVE_PAUSED and a compatible dxml.  Each step
     * sets up its own transient domain beforehand (not printed) and removes it afterwards,
     * so that a different outcome cannot change the state seen by later steps.  IDs are
     * not printed here: they may legitimately differ once a step diverged. */

    struct sup {
        const char *name;
        const char *tags;
        int kind;
    };
    enum {
        SUP_SAVE_RUNNING,
        SUP_SAVE_PAUSED,
        SUP_SAVE_DXML_SAME,
        SUP_SAVE_DXML_DESC,
        SUP_SAVE_DXML_MALFORMED,
        SUP_SAVE_DXML_OTHER_NAME,
        SUP_SAVE_RUNNING_INACTIVE,
        SUP_SAVE_PAUSED_THEN_DEFINE_RUNNING,
        SUP_RESTORE_RUNNING,
        SUP_RESTORE_PAUSED,
        SUP_RESTORE_DXML_SAME,
        SUP_RESTORE_DXML_DESC,
        SUP_RESTORE_DXML_MALFORMED,
        SUP_RESTORE_DXML_OTHER_UUID,
        SUP_RESTORE_DXML_MISSING_FILE,
        SUP_RESTORE_RUNNING_MISSING_FILE,
        SUP_RESTORE_PAUSED_BAD_IMAGE,
    };
    static const struct sup sups[] = {
        { "superset.saveFlags.RUNNING", "[superset]", SUP_SAVE_RUNNING },
        { "superset.saveFlags.PAUSED", "[superset]", SUP_SAVE_PAUSED },
        { "superset.saveFlags.dxml_identical", "[superset]", SUP_SAVE_DXML_SAME },
        { "superset.saveFlags.dxml_new_description", "[superset]", SUP_SAVE_DXML_DESC },
        { "superset.saveFlags.dxml_malformed", "[superset-err]", SUP_SAVE_DXML_MALFORMED },
        { "superset.saveFlags.dxml_other_name", "[superset-err]", SUP_SAVE_DXML_OTHER_NAME },
        { "superset.saveFlags.RUNNING_inactive_domain", "[superset-err]",
          SUP_SAVE_RUNNING_INACTIVE },
        { "superset.saveFlags.PAUSED_then_imgdefine_RUNNING", "[superset]",
          SUP_SAVE_PAUSED_THEN_DEFINE_RUNNING },
        { "superset.restoreFlags.RUNNING", "[superset]", SUP_RESTORE_RUNNING },
        { "superset.restoreFlags.PAUSED", "[superset]", SUP_RESTORE_PAUSED },
        { "superset.restoreFlags.dxml_identical", "[superset]", SUP_RESTORE_DXML_SAME },
        { "superset.restoreFlags.dxml_new_description", "[superset]", SUP_RESTORE_DXML_DESC },
        { "superset.restoreFlags.dxml_malformed", "[superset-err]", SUP_RESTORE_DXML_MALFORMED },
        { "superset.restoreFlags.dxml_other_uuid", "[superset-err]", SUP_RESTORE_DXML_OTHER_UUID },
        { "superset.restoreFlags.dxml_missing_file", "[superset-err]",
          SUP_RESTORE_DXML_MISSING_FILE },
        { "superset.restoreFlags.RUNNING_missing_file", "[superset-err]",
          SUP_RESTORE_RUNNING_MISSING_FILE },
        { "superset.restoreFlags.PAUSED_bad_image", "[superset-err]",
          SUP_RESTORE_PAUSED_BAD_IMAGE },
    };
    for (size_t i = 0; i < sizeof(sups) / sizeof(sups[0]); i++) {
        char nm[32], img[64];
        snprintf(nm, sizeof(nm), "sup%zu", i);
        snprintf(img, sizeof(img), "sup%zu.img", i);
        char *p = tpath(img);
        int k = sups[i].kind;
        int restore_kind = k >= SUP_RESTORE_RUNNING;

        /* setup, not printed */
        virDomainPtr sd;
        if (k == SUP_SAVE_RUNNING_INACTIVE)
            sd = virDomainDefineXML(c, X(xml, nm, 100 + (int)i, 65536, NULL));
        else
            sd = virDomainCreateXML(c, X(xml, nm, 100 + (int)i, 65536, NULL), 0);
        char *sx = sd ? inactive_xml(sd) : NULL;
        if (!sx)
            sx = strdup(X(xml, nm, 100 + (int)i, 65536, NULL));
        if (restore_kind && k != SUP_RESTORE_DXML_MISSING_FILE &&
            k != SUP_RESTORE_RUNNING_MISSING_FILE && k != SUP_RESTORE_PAUSED_BAD_IMAGE)
            virDomainSave(sd, p);
        char *desc = xml_insert_after_name(sx, "\n  <description>superset dxml</description>");

        S(sups[i].name, sups[i].tags, 0);
        switch (k) {
        case SUP_SAVE_RUNNING:
        case SUP_SAVE_PAUSED:
            RI("virDomainSaveFlags",
               virDomainSaveFlags(sd, p, NULL,
                                  k == SUP_SAVE_RUNNING ? VIR_DOMAIN_SAVE_RUNNING
                                                        : VIR_DOMAIN_SAVE_PAUSED));
            show_state("state", sd);
            RI("restore", virDomainRestore(c, p));
            d = sub_lookup("lookup", c, nm);
            show_state("state-after-restore", d);
            dfree(&d);
            break;
        case SUP_SAVE_DXML_SAME:
        case SUP_SAVE_DXML_DESC:
            RI("virDomainSaveFlags",
               virDomainSaveFlags(sd, p, k == SUP_SAVE_DXML_SAME ? sx : desc, 0));
            show_state("state", sd);
            {
                char *ix = virDomainSaveImageGetXMLDesc(c, p, 0);
                R("imgxml", ix == NULL, ix ? "non-NULL" : "NULL");
                INFO("imgxml-has-description:%s",
                     ix && strstr(ix, "superset dxml") ? "yes" : "no");
                free(ix);
            }
            break;
        case SUP_SAVE_DXML_MALFORMED:
            RI("virDomainSaveFlags", virDomainSaveFlags(sd, p, "<domain", 0));
            show_state("state", sd);
            break;
        case SUP_SAVE_DXML_OTHER_NAME: {
            char *t = xml_replace(sx, "</name>", "-other</name>");
            RI("virDomainSaveFlags", virDomainSaveFlags(sd, p, t, 0));
            show_state("state", sd);
            free(t);
            break;
        }
        case SUP_SAVE_RUNNING_INACTIVE:
            RI("virDomainSaveFlags", virDomainSaveFlags(sd, p, NULL, VIR_DOMAIN_SAVE_RUNNING));
            break;
        case SUP_SAVE_PAUSED_THEN_DEFINE_RUNNING:
            RI("virDomainSaveFlags", virDomainSaveFlags(sd, p, NULL, VIR_DOMAIN_SAVE_PAUSED));
            RI("imgdefine-RUNNING",
               virDomainSaveImageDefineXML(c, p, sx, VIR_DOMAIN_SAVE_RUNNING));
            RI("restore", virDomainRestore(c, p));
            d = sub_lookup("lookup", c, nm);
            show_state("state-after-restore", d);
            dfree(&d);
            break;
        case SUP_RESTORE_RUNNING:
        case SUP_RESTORE_PAUSED:
            RI("virDomainRestoreFlags",
               virDomainRestoreFlags(c, p, NULL,
                                     k == SUP_RESTORE_RUNNING ? VIR_DOMAIN_SAVE_RUNNING
                                                              : VIR_DOMAIN_SAVE_PAUSED));
            d = sub_lookup("lookup", c, nm);
            show_state("state", d);
            dfree(&d);
            break;
        case SUP_RESTORE_DXML_SAME:
        case SUP_RESTORE_DXML_DESC:
            RI("virDomainRestoreFlags",
               virDomainRestoreFlags(c, p, k == SUP_RESTORE_DXML_SAME ? sx : desc, 0));
            d = sub_lookup("lookup", c, nm);
            show_state("state", d);
            {
                char *lx = d ? virDomainGetXMLDesc(d, 0) : NULL;
                INFO("live-xml-has-description:%s",
                     lx && strstr(lx, "superset dxml") ? "yes" : "no");
                free(lx);
            }
            dfree(&d);
            break;
        case SUP_RESTORE_DXML_MALFORMED:
            RI("virDomainRestoreFlags", virDomainRestoreFlags(c, p, "<domain", 0));
            break;
        case SUP_RESTORE_DXML_OTHER_UUID: {
            char uuidtag[64];
            snprintf(uuidtag, sizeof(uuidtag), OUR_UUID_PREFIX "%012d", 100 + (int)i);
            char *t = xml_replace(sx, uuidtag, OUR_UUID_PREFIX "000000000999");
            RI("virDomainRestoreFlags", virDomainRestoreFlags(c, p, t, 0));
            free(t);
            break;
        }
        case SUP_RESTORE_DXML_MISSING_FILE: {
            char *m = tpath("missing.img");
            RI("virDomainRestoreFlags", virDomainRestoreFlags(c, m, sx, 0));
            free(m);
            break;
        }
        case SUP_RESTORE_RUNNING_MISSING_FILE: {
            char *m = tpath("missing.img");
            RI("virDomainRestoreFlags",
               virDomainRestoreFlags(c, m, NULL, VIR_DOMAIN_SAVE_RUNNING));
            free(m);
            break;
        }
        case SUP_RESTORE_PAUSED_BAD_IMAGE: {
            char *m = tpath("wrongmagic.img");
            RI("virDomainRestoreFlags",
               virDomainRestoreFlags(c, m, NULL, VIR_DOMAIN_SAVE_PAUSED));
            free(m);
            break;
        }
        }
        E();

        /* cleanup, not printed */
        if (sd) {
            if (virDomainIsActive(sd) == 1)
                virDomainDestroy(sd);
            virDomainFree(sd);
        }
        quiet_destroy(c, nm);
        quiet_remove(c, nm);
        free(desc);
        free(sx);
        free(p);
    }

    /* ================================================================== */
    /* Closing: handles keep their connection alive; the shared default state. */

    S("final.close_readonly_with_outstanding_domains", NULL, 0);
    RI("virConnectClose", virConnectClose(ro));
    show_name("name-after-close", dt_ro);
    RI("virDomainFree#1", virDomainFree(dt_ro));
    RI("virDomainFree#2", virDomainFree(da_ro));
    dt_ro = da_ro = NULL;
    E();

    S("final.close_auth_connections", NULL, 0);
    if (ca)
        RI("virConnectClose", virConnectClose(ca));
    if (ca2)
        RI("virConnectClose", virConnectClose(ca2));
    E();

    S("final.close_main_connection_with_domain_refs", NULL, 0);
    RI("virConnectClose", virConnectClose(c));
    show_state("state-via-handle-after-close", dt);
    RI("virDomainFree(dt)", virDomainFree(dt));
    RI("virDomainFree(da)", virDomainFree(da));
    dt = da = NULL;
    E();

    S("final.reopen_after_all_closed", NULL, 0);
    x = virConnectOpen("test:///default");
    RP("virConnectOpen", x);
    if (x) {
        show_list_all("virConnectListAllDomains", x, 0);
        d = virDomainLookupByName(x, "test");
        show_id("test-id", d);
        show_state("test-state", d);
        dfree(&d);
        RI("virConnectClose", virConnectClose(x));
    }
    E();


    (void)d2;
    free(alpha_inactive);
    free(p_def);
    free(p_alpha);
    free(p_adir);
    free(p_nodir);
}
