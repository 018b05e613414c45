/* Benchmark: the loop save + restore + image XML + image define on test:///default,
 * written against libvirt's API so that one binary runs on libvirt and on virshim.
 *
 * Usage: save_loop SECONDS   prints "<loops> loops in <s> s: <rate> loops/s"
 */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    char image[256];
    snprintf(image, sizeof(image), "/tmp/virshim-bench-%d.img", (int)getpid());

    virConnectPtr conn = virConnectOpen("test:///default");
    if (!conn)
        return 1;
    long loops = 0;
    double start = now(), end = start + seconds, t = start;
    while (t < end) {
        virDomainPtr dom = virDomainLookupByName(conn, "test");
        if (!dom || virDomainSave(dom, image) < 0)
            return 1;
        char *xml = virDomainSaveImageGetXMLDesc(conn, image, 0);
        if (!xml || virDomainSaveImageDefineXML(conn, image, xml, 0) < 0)
            return 1;
        if (virDomainRestore(conn, image) < 0)
            return 1;
        free(xml);
        virDomainFree(dom);
        loops++;
        if (loops % 16 == 0)
            t = now();
    }
    t = now() - start;
    printf("%ld loops in %.2f s: %.0f loops/s\n", loops, t, loops / t);
    unlink(image);
    virConnectClose(conn);
    return 0;
}
