/* The main job: a save, inspect, edit, restore cycle on test:///default, written
 * against libvirt's API and nothing else, printing each step.
 *
 * Usage: demo [IMAGE]   (default: a file in $TMPDIR or /tmp)
 */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *state_name(int state)
{
    static const char *names[] = {"no state", "running", "blocked", "paused",
                                  "shutting down", "shut off", "crashed", "suspended"};
    return state >= 0 && state < 8 ? names[state] : "?";
}

static int show_state(virDomainPtr dom, const char *when)
{
    int state, reason;
    if (virDomainGetState(dom, &state, &reason, 0) < 0)
        return -1;
    printf("   %-28s %s (reason %d), id %d\n", when, state_name(state), reason,
           (int)virDomainGetID(dom));
    return 0;
}

/* Replaces the first occurrence of `from` in `xml` by `to`, in a new string. */
static char *replace(const char *xml, const char *from, const char *to)
{
    const char *at = strstr(xml, from);
    if (!at)
        return NULL;
    size_t head = at - xml, len = strlen(xml) - strlen(from) + strlen(to);
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    memcpy(out, xml, head);
    strcpy(out + head, to);
    strcat(out, at + strlen(from));
    return out;
}

#define STEP(n, what) printf("%d. %s\n", n, what)
#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "demo failed at %s:%d: %s\n", __FILE__, __LINE__, \
                    virGetLastErrorMessage());                               \
            goto out;                                                        \
        }                                                                    \
    } while (0)

int main(int argc, char **argv)
{
    char image[4096];
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    int ret = 1;
    virConnectPtr conn = NULL;
    virDomainPtr dom = NULL, restored = NULL;
    char *xml = NULL, *edited = NULL, *check = NULL;

    if (argc > 1)
        snprintf(image, sizeof(image), "%s", argv[1]);
    else
        snprintf(image, sizeof(image), "%s/virshim-demo-%d.img", tmp, (int)getpid());

    unsigned long version;
    virGetVersion(&version, NULL, NULL);
    STEP(1, "connect to test:///default");
    CHECK(conn = virConnectOpen("test:///default"));
    printf("   library version %lu.%lu.%lu, driver %s\n", version / 1000000,
           version / 1000 % 1000, version % 1000, virConnectGetType(conn));

    STEP(2, "look up the running domain 'test'");
    CHECK(dom = virDomainLookupByName(conn, "test"));
    CHECK(show_state(dom, "before save:") == 0);

    STEP(3, "save it");
    printf("   virDomainSave(dom, \"%s\")\n", image);
    CHECK(virDomainSave(dom, image) == 0);
    CHECK(show_state(dom, "after save:") == 0);

    STEP(4, "inspect the image");
    CHECK(xml = virDomainSaveImageGetXMLDesc(conn, image, 0));
    printf("   the image holds %zu bytes of XML for domain '%s'\n", strlen(xml),
           strstr(xml, "<name>test</name>") ? "test" : "?");

    STEP(5, "edit the image: point the disk at a new path");
    CHECK(edited = replace(xml, "/guest/diskimage1", "/guest/diskimage1-moved"));
    CHECK(virDomainSaveImageDefineXML(conn, image, edited, 0) == 0);
    CHECK(check = virDomainSaveImageGetXMLDesc(conn, image, 0));
    CHECK(strstr(check, "/guest/diskimage1-moved") != NULL);
    printf("   the image now names /guest/diskimage1-moved\n");

    STEP(6, "restore it");
    CHECK(virDomainRestore(conn, image) == 0);
    CHECK(restored = virDomainLookupByName(conn, "test"));
    CHECK(show_state(restored, "after restore:") == 0);
    free(check);
    CHECK(check = virDomainGetXMLDesc(restored, 0));
    CHECK(strstr(check, "/guest/diskimage1-moved") != NULL);
    printf("   the running domain uses the edited disk path\n");

    STEP(7, "a restore of an active domain fails as libvirt's does");
    CHECK(virDomainRestore(conn, image) < 0);
    printf("   error %d (domain %d): %s\n", virGetLastErrorCode(), virGetLastErrorDomain(),
           virGetLastErrorMessage());

    printf("done\n");
    ret = 0;
out:
    free(xml);
    free(edited);
    free(check);
    if (restored)
        virDomainFree(restored);
    if (dom)
        virDomainFree(dom);
    if (conn)
        virConnectClose(conn);
    unlink(image);
    return ret;
}
