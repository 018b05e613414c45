/* Threads hammering test:///default through the C API: THREADS threads x OPS calls (argv[1],
 * default 10,000), once on one shared connection and once on a connection per thread.
 *
 * As tests/thread_stress.rs does through the Rust core: each thread owns domains only it
 * touches, whose every call has one right outcome (a model of the calls that succeeded),
 * and races on shared domains, where a call may fail only as the race explains. On top,
 * what only C has: each failure's last error belongs to the failing thread (code, domain,
 * and the handler called in that thread with it), a success leaves none, handles are
 * referenced and freed across threads, and per-connection error copies stay whole. An
 * alarm fails the run if it stalls (a deadlock). Prints "N passed, N failed". */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define THREADS 8
#define OWN 4
#define SHARED 2

static long passed, failed;

#define EXPECT(cond, ...)                                                   \
    do {                                                                    \
        if (cond) {                                                         \
            __atomic_fetch_add(&passed, 1, __ATOMIC_RELAXED);               \
        } else {                                                            \
            __atomic_fetch_add(&failed, 1, __ATOMIC_RELAXED);               \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);          \
            printf(__VA_ARGS__);                                            \
            printf(" (last error: %s)\n", virGetLastErrorMessage());        \
        }                                                                   \
    } while (0)

enum run { OFF, RUNNING, PAUSED };
enum op { DEFINE, CREATE, CREATE_XML, SUSPEND, RESUME, SAVE, SAVE_PAUSED, RESTORE, IMAGE_EDIT,
          DESTROY, UNDEFINE, LOOKUP, INSPECT, NOPS };
static const char *op_names[NOPS] = {"define", "create", "createXML", "suspend", "resume",
                                     "save", "save-paused", "restore", "image-edit",
                                     "destroy", "undefine", "lookup", "inspect"};

/* One of a thread's domains as its successful calls left it; image: the state a restore
 * of its image starts in, OFF while none was saved. */
struct own {
    int persistent;
    enum run run;
    enum run image;
};

struct target {
    char name[64], uuid[40], xml[512], image[512];
};

struct worker {
    virConnectPtr conn;
    int t, ops;
    unsigned long long rng;
    struct target own_t[OWN], shared_t[SHARED];
    struct own own[OWN];
    long ok[NOPS], failures[NOPS];
};

static const char *dir;
static virDomainPtr shared_handle; /* referenced and freed by every thread */
static __thread int handled_code;  /* what the handler saw in this thread */

static void handler(void *data, virErrorPtr err)
{
    (void)data;
    handled_code = err ? err->code : -1;
}

static unsigned below(struct worker *w, unsigned n)
{
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return (unsigned)((w->rng * 0x2545F4914F6CDD1DULL) >> 33) % n;
}

static void make_target(struct target *d, int tag, int owner, int k, int caller)
{
    if (owner >= 0)
        snprintf(d->name, sizeof d->name, "c%d-t%d-own%d", tag, owner, k);
    else
        snprintf(d->name, sizeof d->name, "c%d-shared%d", tag, k);
    snprintf(d->uuid, sizeof d->uuid, "c0%02x%02x%02x-0000-4000-8000-000000000000", tag,
             owner & 0xff, k);
    snprintf(d->xml, sizeof d->xml,
             "<domain type='test'><name>%s</name><uuid>%s</uuid><memory>1024</memory>"
             "<os><type>hvm</type></os></domain>", d->name, d->uuid);
    snprintf(d->image, sizeof d->image, "%s/%s-by-t%d.img", dir, d->name, caller);
}

/* 0 if `op` succeeds on `m` (and *next is the domain after it), else the error code. */
static int expect(struct own m, enum op op, struct own *next)
{
    int exists = m.persistent || m.run != OFF;
    *next = m;
    switch (op) {
    case DEFINE: next->persistent = 1; return 0;
    case CREATE:
        if (!exists) return VIR_ERR_NO_DOMAIN;
        if (m.run != OFF) return VIR_ERR_INTERNAL_ERROR;
        next->run = RUNNING; return 0;
    case CREATE_XML:
        if (m.run != OFF) return VIR_ERR_OPERATION_INVALID;
        next->run = RUNNING; return 0;
    case SUSPEND: case RESUME:
        if (!exists) return VIR_ERR_NO_DOMAIN;
        if (m.run != (op == SUSPEND ? RUNNING : PAUSED)) return VIR_ERR_INTERNAL_ERROR;
        next->run = op == SUSPEND ? PAUSED : RUNNING; return 0;
    case SAVE: case SAVE_PAUSED:
        if (!exists) return VIR_ERR_NO_DOMAIN;
        if (m.run == OFF) return VIR_ERR_OPERATION_INVALID;
        next->run = OFF;
        next->image = op == SAVE ? RUNNING : PAUSED; return 0;
    case RESTORE:
        if (m.image == OFF) return VIR_ERR_SYSTEM_ERROR;
        if (m.run != OFF) return VIR_ERR_OPERATION_INVALID;
        next->run = m.image; return 0;
    case IMAGE_EDIT: return m.image == OFF ? VIR_ERR_SYSTEM_ERROR : 0;
    case DESTROY:
        if (!exists) return VIR_ERR_NO_DOMAIN;
        if (m.run == OFF) return VIR_ERR_OPERATION_INVALID;
        next->run = OFF; return 0;
    case UNDEFINE:
        if (!exists) return VIR_ERR_NO_DOMAIN;
        next->persistent = 0; return 0;
    default: return exists ? 0 : VIR_ERR_NO_DOMAIN;
    }
}

/* Whether a race with other threads explains `code` for `op` on a shared domain. */
static int racing_error(enum op op, int code)
{
    switch (op) {
    case DEFINE: return 0;
    case CREATE: case SUSPEND: case RESUME:
        return code == VIR_ERR_NO_DOMAIN || code == VIR_ERR_INTERNAL_ERROR;
    case CREATE_XML: return code == VIR_ERR_OPERATION_INVALID;
    case SAVE: case SAVE_PAUSED: case DESTROY:
        return code == VIR_ERR_NO_DOMAIN || code == VIR_ERR_OPERATION_INVALID;
    case RESTORE: return code == VIR_ERR_OPERATION_INVALID || code == VIR_ERR_SYSTEM_ERROR;
    case IMAGE_EDIT: return code == VIR_ERR_SYSTEM_ERROR;
    default: return code == VIR_ERR_NO_DOMAIN;
    }
}

static int error_domain(int code)
{
    return code == VIR_ERR_OPERATION_INVALID ? VIR_FROM_DOMAIN : VIR_FROM_TEST;
}

static int state_of(enum run r)
{
    return r == OFF ? VIR_DOMAIN_SHUTOFF : r == RUNNING ? VIR_DOMAIN_RUNNING : VIR_DOMAIN_PAUSED;
}

/* After a call: a failure's error is this thread's, reported to its handler; a success
 * leaves none. Returns the failure's code, 0 on success (rc >= 0). */
static int outcome(int rc)
{
    if (rc >= 0) {
        EXPECT(virGetLastError() == NULL, "a success left an error");
        return 0;
    }
    virErrorPtr err = virGetLastError();
    EXPECT(err && err->code == handled_code && err->message, "error %d, handler saw %d",
           err ? err->code : 0, handled_code);
    EXPECT(err && err->domain == error_domain(err->code), "code %d in domain %d",
           err ? err->code : 0, err ? err->domain : 0);
    return err ? err->code : -1;
}

/* Looks `d` up and makes the call on the handle: the outcome of the first that fails,
 * taken before virDomainFree (a public call, which clears the thread's last error). */
#define ON_HANDLE(call)                                                    \
    do {                                                                   \
        virDomainPtr dom = virDomainLookupByName(w->conn, d->name);        \
        if (!dom) return outcome(-1);                                      \
        int code = outcome(call);                                          \
        virDomainFree(dom);                                                \
        return code;                                                       \
    } while (0)

static int image_edit(struct worker *w, const struct target *d, int n)
{
    char *xml = virDomainSaveImageGetXMLDesc(w->conn, d->image, 0);
    if (!xml) return outcome(-1);
    /* The description replaced: cut the old one, then insert the new after the name. */
    char *start = strstr(xml, "<description>"), *stop = strstr(xml, "</description>");
    if (start && stop)
        memmove(start, stop + strlen("</description>"), strlen(stop + strlen("</description>")) + 1);
    char *end = strstr(xml, "</name>");
    EXPECT(end && strstr(xml, d->uuid), "image XML of %s: %s", d->name, xml);
    char edited[8192];
    snprintf(edited, sizeof edited, "%.*s</name><description>t%d call %d</description>%s",
             (int)(end - xml), xml, w->t, n, end + strlen("</name>"));
    free(xml);
    return outcome(virDomainSaveImageDefineXML(w->conn, d->image, edited, 0));
}

static int inspect(struct worker *w, const struct target *d, const struct own *m)
{
    virDomainPtr dom = virDomainLookupByName(w->conn, d->name);
    if (!dom) return outcome(-1);
    int state = -1, reason = -1, active = -1, persistent = -1;
    virDomainInfo info;
    char uuid[VIR_UUID_STRING_BUFLEN];
    char *xml = NULL;
    int ok = virDomainGetState(dom, &state, &reason, 0) == 0 && virDomainGetInfo(dom, &info) == 0
             && virDomainGetUUIDString(dom, uuid) == 0 && (active = virDomainIsActive(dom)) >= 0
             && (persistent = virDomainIsPersistent(dom)) >= 0
             && (xml = virDomainGetXMLDesc(dom, 0)) != NULL;
    int code = outcome(ok ? 0 : -1);
    if (ok) {
        EXPECT(strcmp(uuid, d->uuid) == 0 && strstr(xml, d->name), "%s", d->name);
        EXPECT(!m || (state == state_of(m->run) && info.state == state
                      && active == (m->run != OFF) && persistent == m->persistent),
               "%s: state %d active %d persistent %d", d->name, state, active, persistent);
    }
    free(xml);
    virDomainFree(dom);
    return code;
}

static int lookups(struct worker *w, const struct target *d, const struct own *m)
{
    virDomainPtr by_name = virDomainLookupByName(w->conn, d->name);
    if (!by_name) return outcome(-1);
    int id = (int)virDomainGetID(by_name);
    virDomainFree(by_name);
    virDomainPtr by_uuid = virDomainLookupByUUIDString(w->conn, d->uuid);
    if (!by_uuid) return outcome(-1);
    EXPECT(strcmp(virDomainGetName(by_uuid), d->name) == 0, "%s", d->name);
    virDomainFree(by_uuid);
    EXPECT(!m || (id > 0) == (m->run != OFF), "%s: ID %d", d->name, id);
    if (id > 0) {
        /* IDs are never reused: this domain's, or nobody's once it stopped. */
        virDomainPtr by_id = virDomainLookupByID(w->conn, id);
        EXPECT(by_id ? strcmp(virDomainGetName(by_id), d->name) == 0
                     : !m && virGetLastErrorCode() == VIR_ERR_NO_DOMAIN, "%s: ID %d", d->name, id);
        if (by_id) virDomainFree(by_id);
    }
    return 0;
}

static int call(struct worker *w, enum op op, const struct target *d, const struct own *m, int n)
{
    switch (op) {
    case DEFINE: {
        virDomainPtr dom = virDomainDefineXML(w->conn, d->xml);
        int code = outcome(dom ? 0 : -1);
        if (dom) virDomainFree(dom);
        return code;
    }
    case CREATE: ON_HANDLE(virDomainCreate(dom));
    case CREATE_XML: {
        virDomainPtr dom = virDomainCreateXML(w->conn, d->xml, 0);
        int code = outcome(dom ? 0 : -1);
        if (dom) virDomainFree(dom);
        return code;
    }
    case SUSPEND: ON_HANDLE(virDomainSuspend(dom));
    case RESUME: ON_HANDLE(virDomainResume(dom));
    case SAVE: ON_HANDLE(virDomainSave(dom, d->image));
    case SAVE_PAUSED: ON_HANDLE(virDomainSaveFlags(dom, d->image, NULL, VIR_DOMAIN_SAVE_PAUSED));
    case RESTORE: return outcome(virDomainRestore(w->conn, d->image));
    case IMAGE_EDIT: return image_edit(w, d, n);
    case DESTROY: ON_HANDLE(virDomainDestroy(dom));
    case UNDEFINE: ON_HANDLE(virDomainUndefine(dom));
    case LOOKUP: return lookups(w, d, m);
    default: return inspect(w, d, m);
    }
}

static void listing(struct worker *w)
{
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(w->conn, &doms, 0);
    EXPECT(n >= 0, "listing");
    int seen[OWN] = {0}, active[OWN] = {0};
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < i; j++)
            EXPECT(strcmp(virDomainGetName(doms[i]), virDomainGetName(doms[j])) != 0,
                   "%s listed twice", virDomainGetName(doms[i]));
        for (int k = 0; k < OWN; k++)
            if (strcmp(virDomainGetName(doms[i]), w->own_t[k].name) == 0) {
                seen[k]++;
                active[k] = (int)virDomainGetID(doms[i]) > 0;
            }
    }
    for (int k = 0; k < OWN; k++) {
        int exists = w->own[k].persistent || w->own[k].run != OFF;
        EXPECT(seen[k] == exists && (!exists || active[k] == (w->own[k].run != OFF)),
               "%s listed %d times, active %d", w->own_t[k].name, seen[k], active[k]);
    }
    for (int i = 0; i < n; i++)
        virDomainFree(doms[i]);
    free(doms);
}

/* References taken and dropped on objects every thread shares. */
static void references(struct worker *w)
{
    EXPECT(virDomainRef(shared_handle) == 0, "domain ref");
    EXPECT(virDomainFree(shared_handle) == 0, "domain free");
    EXPECT(virConnectRef(w->conn) == 0, "connection ref");
    EXPECT(virConnectClose(w->conn) > 0, "a connection still referenced closed");
    virError copy;
    memset(&copy, 0, sizeof copy);
    int code = virConnCopyLastError(w->conn, &copy);
    EXPECT(code == copy.code && (code == 0 || copy.message), "connection error %d", code);
    virResetError(&copy);
}

static void *run(void *arg)
{
    struct worker *w = arg;
    for (int n = 0; n < w->ops; n++) {
        unsigned pick = below(w, 100);
        enum op op = (enum op)below(w, NOPS);
        if (pick < 65) {
            int k = (int)below(w, OWN);
            struct own next;
            int want = expect(w->own[k], op, &next);
            int got = call(w, op, &w->own_t[k], &w->own[k], n);
            EXPECT(got == want, "thread %d call %d: %s on %s: expected %d, got %d", w->t, n,
                   op_names[op], w->own_t[k].name, want, got);
            if (got == 0 && want == 0)
                w->own[k] = next;
            (want ? w->failures : w->ok)[op]++;
        } else if (pick < 95) {
            int got = call(w, op, &w->shared_t[below(w, SHARED)], NULL, n);
            EXPECT(got == 0 || racing_error(op, got), "%s on a shared domain: %d",
                   op_names[op], got);
        } else if (pick < 99) {
            listing(w);
        } else {
            references(w);
        }
    }
    return NULL;
}

/* The state when no call runs: every thread's domains as its model says, and the counts
 * of active and defined domains those of the listing. */
static void final_check(virConnectPtr conn, struct worker *workers)
{
    for (int t = 0; t < THREADS; t++)
        for (int k = 0; k < OWN; k++) {
            const struct own *m = &workers[t].own[k];
            virDomainPtr dom = virDomainLookupByName(conn, workers[t].own_t[k].name);
            int state = -1, reason;
            if (dom) {
                EXPECT(virDomainGetState(dom, &state, &reason, 0) == 0, "state");
                virDomainFree(dom);
            }
            EXPECT((dom != NULL) == (m->persistent || m->run != OFF)
                       && (!dom || state == state_of(m->run)),
                   "%s: found %d, state %d", workers[t].own_t[k].name, dom != NULL, state);
        }
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(conn, &doms, 0), active = 0;
    for (int i = 0; i < n; i++) {
        active += virDomainIsActive(doms[i]) == 1;
        virDomainFree(doms[i]);
    }
    free(doms);
    EXPECT(virConnectNumOfDomains(conn) == active, "active count");
    EXPECT(virConnectNumOfDefinedDomains(conn) == n - active, "defined count");
}

static void stress(int tag, int one_connection, int ops)
{
    virConnectPtr conn = virConnectOpen("test:///default");
    struct worker *workers = calloc(THREADS, sizeof *workers);
    struct target shared;
    make_target(&shared, tag, -1, 0, 0);
    for (int k = 0; k < SHARED; k++) {
        make_target(&shared, tag, -1, k, 0);
        virDomainFree(virDomainDefineXML(conn, shared.xml));
    }
    shared_handle = virDomainLookupByName(conn, shared.name);
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++) {
        struct worker *w = &workers[t];
        w->conn = one_connection ? conn : virConnectOpen("test:///default");
        w->t = t;
        w->ops = ops;
        w->rng = (unsigned long long)(tag * 256 + t) * 0x9E3779B97F4A7C15ULL | 1;
        for (int k = 0; k < OWN; k++)
            make_target(&w->own_t[k], tag, t, k, t);
        for (int k = 0; k < SHARED; k++)
            make_target(&w->shared_t[k], tag, -1, k, t);
        pthread_create(&threads[t], NULL, run, w);
    }
    long ok[NOPS] = {0}, failures[NOPS] = {0};
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
        for (int op = 0; op < NOPS; op++) {
            ok[op] += workers[t].ok[op];
            failures[op] += workers[t].failures[op];
        }
        if (!one_connection)
            virConnectClose(workers[t].conn);
    }
    final_check(conn, workers);
    for (int op = 0; op < NOPS; op++)
        printf("%-12s own: %6ld succeeded, %6ld failed as expected\n", op_names[op], ok[op],
               failures[op]);
    virDomainFree(shared_handle);
    virConnectClose(conn);
    free(workers);
}

int main(int argc, char **argv)
{
    int ops = argc > 1 ? atoi(argv[1]) : 10000;
    char tmpl[] = "/tmp/virshim-stress-XXXXXX";
    dir = mkdtemp(tmpl);
    if (!dir) {
        perror("mkdtemp");
        return 1;
    }
    /* A stall is a deadlock: far above a run's time, even under valgrind. */
    alarm(argc > 2 ? (unsigned)atoi(argv[2]) : 120);
    virSetErrorFunc(NULL, handler);
    stress(1, 1, ops);
    printf("%d threads x %d calls on one connection done\n", THREADS, ops);
    stress(2, 0, ops);
    printf("%d threads x %d calls on a connection each done\n", THREADS, ops);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    printf("%ld passed, %ld failed\n", passed, failed);
    return failed != 0;
}
