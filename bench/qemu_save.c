/* Benchmark: save and restore of a 1 GiB QEMU guest full of non-zero data, written against
 * libvirt's API so that one binary runs on libvirt 9.0's embedded QEMU driver and on
 * virshim's (LD_LIBRARY_PATH). Driven by bench/qemu.sh; run as root (it drops the page
 * cache before each restore).
 *
 * Usage: qemu_save [--once] URI KERNEL IMAGE_DIR [MIB [XML_CALLS]]
 *        qemu_save --restore URI IMAGE MIB
 *
 * One guest (tests/guest/guest.asm, <domain type='qemu'>, MIB MiB of RAM, default 1024)
 * is started and left to fill its RAM (polled with virDomainMemoryPeek for "FILLDONE" at
 * 0x180000), then:
 *   virDomainSave                      -> IMAGE_DIR/plain.save   (timed, peak memory)
 *   drop caches, virDomainRestore      (timed)
 *   virDomainSaveImageGetXMLDesc       on plain.save, XML_CALLS times (default 2000)
 *   virDomainSaveFlags(BYPASS_CACHE)   -> IMAGE_DIR/bypass.save  (timed, peak memory)
 *   drop caches, virDomainRestoreFlags(BYPASS_CACHE) (timed)
 *   virDomainDestroy
 * After each restore, 64 KiB of RAM near the top of the guest is compared with what it
 * held before the first save, and the status block must still say FILLDONE.
 *
 * --once (bench/compressed.sh, which sets save_image_format in the root's qemu.conf):
 * only virDomainSave and virDomainRestore, and IMAGE_DIR/plain.save is left behind.
 * --restore: virDomainRestore of IMAGE (cold, timed; e.g. an image the other library
 * wrote), the same 64 KiB compared with guest.asm's xorshift stream, virDomainDestroy.
 *
 * Prints one "key value" line per figure (seconds, bytes, microseconds, KiB). The page cache
 * is dropped before every save and restore, followed by a wait of BENCH_SETTLE seconds
 * (environment, default 0).
 */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STATUS 0x180000ULL
#define PROBE_LEN 65536
#define FILL_BASE 0x200000ULL
#define SEED 0x2545F491U

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    const char *msg = virGetLastErrorMessage();
    fprintf(stderr, "qemu_save: %s failed: %s\n", what, msg ? msg : "(no libvirt error)");
    exit(1);
}

static void *event_loop(void *arg)
{
    (void)arg;
    for (;;)
        if (virEventRunDefaultImpl() < 0)
            fprintf(stderr, "qemu_save: virEventRunDefaultImpl: %s\n", virGetLastErrorMessage());
    return NULL;
}

static void write_proc(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        perror(path);
        exit(1);
    }
    close(fd);
}

/* Drops the page cache, then waits BENCH_SETTLE seconds (default 0): in a VM whose host
 * takes back freed guest memory after a while (free page reporting), memory freed just
 * before is cheap to reuse and older free memory costly to touch again, so every timed
 * operation should start after the same wait. */
static void drop_caches(void)
{
    sync();
    write_proc("/proc/sys/vm/drop_caches", "3");
    const char *settle = getenv("BENCH_SETTLE");
    if (settle && atof(settle) > 0)
        usleep((useconds_t)(atof(settle) * 1e6));
}

/* A field of /proc/self/status, in KiB. */
static long status_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            kib = atol(line + n + 1);
    if (f)
        fclose(f);
    return kib;
}

static void peek(virDomainPtr dom, unsigned long long at, size_t len, char *buf)
{
    if (virDomainMemoryPeek(dom, at, len, buf, VIR_MEMORY_PHYSICAL) < 0)
        die("virDomainMemoryPeek");
}

static void wait_filled(virDomainPtr dom)
{
    double deadline = now() + 600;
    char status[24];
    for (;;) {
        peek(dom, STATUS, sizeof(status), status);
        if (memcmp(status, "FILLDONE", 8) == 0)
            return;
        if (memcmp(status, "FAILED!!", 8) == 0) {
            fprintf(stderr, "qemu_save: the guest found no multiboot memory size\n");
            exit(1);
        }
        if (now() > deadline) {
            fprintf(stderr, "qemu_save: the guest never filled its RAM\n");
            exit(1);
        }
        usleep(100 * 1000);
    }
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* 64 KiB 16 MiB below the top of RAM: filled, and far from the status block. */
static unsigned long long probe_address(int mib)
{
    return ((unsigned long long)mib << 20) - (16ULL << 20);
}

/* What guest.asm writes at `at` (4-byte aligned, above FILL_BASE): the u32 at
 * FILL_BASE + 4*i is x(i+1) of its xorshift32 stream from SEED. */
static void stream_at(unsigned long long at, size_t len, char *buf)
{
    uint32_t x = SEED;
    unsigned long long skip = (at - FILL_BASE) / 4;
    for (unsigned long long i = 0; i < skip + len / 4; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        if (i >= skip)
            memcpy(buf + 4 * (i - skip), &x, 4);
    }
}

/* Checks the restored guest `name`: status block and the probe. */
static virDomainPtr check_restored(virConnectPtr conn, const char *name, const char *label,
                                   unsigned long long probe_at, const char *probe)
{
    virDomainPtr dom = virDomainLookupByName(conn, name);
    if (!dom)
        die("virDomainLookupByName");
    char status[8], *after = malloc(PROBE_LEN);
    peek(dom, STATUS, sizeof(status), status);
    peek(dom, probe_at, PROBE_LEN, after);
    if (memcmp(status, "FILLDONE", 8) != 0 || memcmp(after, probe, PROBE_LEN) != 0) {
        fprintf(stderr, "qemu_save: %s: the restored guest's RAM differs\n", label);
        exit(1);
    }
    free(after);
    return dom;
}

/* Saves `dom` into `image` with `flags`, drops the page cache, restores; prints the
 * figures under `label`. Returns the restored domain. */
static virDomainPtr save_restore(virConnectPtr conn, virDomainPtr dom, const char *name,
                                 const char *image, unsigned int flags, const char *label,
                                 unsigned long long probe_at, const char *probe)
{
    unlink(image);
    drop_caches(); /* every save starts from the same clean page cache */
    long rss = status_kib("VmRSS");
    write_proc("/proc/self/clear_refs", "5");
    double t = now();
    int rc = flags ? virDomainSaveFlags(dom, image, NULL, flags) : virDomainSave(dom, image);
    double took = now() - t;
    if (rc < 0)
        die(label);
    printf("%s_save_s %.3f\n", label, took);
    printf("%s_save_hwm_kib %ld\n", label, status_kib("VmHWM"));
    printf("%s_save_rss_before_kib %ld\n", label, rss);
    printf("%s_image_bytes %lld\n", label, file_size(image));
    fflush(stdout);
    virDomainFree(dom);

    drop_caches();
    t = now();
    rc = flags ? virDomainRestoreFlags(conn, image, NULL, flags) : virDomainRestore(conn, image);
    took = now() - t;
    if (rc < 0)
        die(label);
    printf("%s_restore_s %.3f\n", label, took);
    fflush(stdout);
    return check_restored(conn, name, label, probe_at, probe);
}

static virConnectPtr open_connection(const char *uri)
{
    if (virEventRegisterDefaultImpl() < 0)
        die("virEventRegisterDefaultImpl");
    pthread_t loop;
    pthread_create(&loop, NULL, event_loop, NULL);

    virConnectPtr conn = virConnectOpen(uri);
    if (!conn)
        die("virConnectOpen");
    unsigned long lib = 0;
    virConnectGetLibVersion(conn, &lib);
    printf("lib_version %lu\n", lib);
    return conn;
}

/* --restore URI IMAGE MIB */
static int restore_only(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: qemu_save --restore URI IMAGE MIB\n");
        return 2;
    }
    virConnectPtr conn = open_connection(argv[2]);
    unsigned long long probe_at = probe_address(atoi(argv[4]));
    char *probe = malloc(PROBE_LEN);
    stream_at(probe_at, PROBE_LEN, probe);
    drop_caches();
    double t = now();
    if (virDomainRestore(conn, argv[3]) < 0)
        die("virDomainRestore");
    printf("restore_s %.3f\n", now() - t);
    fflush(stdout);
    virDomainPtr dom = check_restored(conn, "bench", "restore", probe_at, probe);
    if (virDomainDestroy(dom) < 0)
        die("virDomainDestroy");
    virDomainFree(dom);
    virConnectClose(conn);
    free(probe);
    _exit(0);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--restore") == 0)
        return restore_only(argc, argv);
    int once = argc > 1 && strcmp(argv[1], "--once") == 0;
    argc -= once;
    argv += once;
    if (argc < 4) {
        fprintf(stderr, "usage: qemu_save [--once] URI KERNEL IMAGE_DIR [MIB [XML_CALLS]]\n"
                        "       qemu_save --restore URI IMAGE MIB\n");
        return 2;
    }
    const char *uri = argv[1], *kernel = argv[2], *dir = argv[3];
    int mib = argc > 4 ? atoi(argv[4]) : 1024;
    int xml_calls = argc > 5 ? atoi(argv[5]) : 2000;
    const char *name = "bench";
    char xml[2048], plain[1024], bypass[1024];
    snprintf(xml, sizeof(xml),
             "<domain type='qemu'><name>%s</name>"
             "<uuid>6d1c4a8e-2f4b-4c1e-9a57-3b0c8f2e7d41</uuid>"
             "<memory unit='MiB'>%d</memory>"
             "<os><type>hvm</type><kernel>%s</kernel></os></domain>",
             name, mib, kernel);
    snprintf(plain, sizeof(plain), "%s/plain.save", dir);
    snprintf(bypass, sizeof(bypass), "%s/bypass.save", dir);

    virConnectPtr conn = open_connection(uri);

    double t = now();
    virDomainPtr dom = virDomainCreateXML(conn, xml, 0);
    if (!dom)
        die("virDomainCreateXML");
    printf("create_s %.3f\n", now() - t);
    fflush(stdout);
    wait_filled(dom);
    printf("fill_s %.3f\n", now() - t);

    unsigned long long probe_at = probe_address(mib);
    char *probe = malloc(PROBE_LEN);
    peek(dom, probe_at, PROBE_LEN, probe);

    dom = save_restore(conn, dom, name, plain, 0, "plain", probe_at, probe);
    if (once) {
        if (virDomainDestroy(dom) < 0)
            die("virDomainDestroy");
        fflush(stdout);
        _exit(0);
    }

    /* Image XML: one warm-up call, then the average of many. */
    char *desc = virDomainSaveImageGetXMLDesc(conn, plain, 0);
    if (!desc)
        die("virDomainSaveImageGetXMLDesc");
    printf("image_xml_bytes %zu\n", strlen(desc));
    free(desc);
    t = now();
    for (int i = 0; i < xml_calls; i++) {
        desc = virDomainSaveImageGetXMLDesc(conn, plain, 0);
        if (!desc)
            die("virDomainSaveImageGetXMLDesc");
        free(desc);
    }
    printf("image_xml_us %.1f\n", (now() - t) / xml_calls * 1e6);
    fflush(stdout);

    dom = save_restore(conn, dom, name, bypass, VIR_DOMAIN_SAVE_BYPASS_CACHE, "bypass",
                       probe_at, probe);

    if (virDomainDestroy(dom) < 0)
        die("virDomainDestroy");
    virDomainFree(dom);
    virConnectClose(conn);
    unlink(plain);
    unlink(bypass);
    free(probe);
    fflush(stdout);
    /* The event loop thread is blocked in poll: leave without joining it. */
    _exit(0);
}
