/* virDomainMemoryPeek's argument checks and answers on test:///default, in libvirt 9.0's
 * order and words: read-only denial, exclusive flags, a NULL buffer, then the driver's
 * flag checks, the domain's state, and its bytes (libvirt's test driver answers byte i
 * with the low byte of start + i). run-all.sh runs it on virshim and on libvirt 9.0,
 * which must both pass. Prints failures and a closing count. */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

static void quiet(void *data, virErrorPtr err)
{
    (void)data;
    (void)err;
}

/* The call failed with -1 and this error. */
static void fails(int line, int ret, int code, int domain, const char *str1, int int1,
                  const char *message)
{
    virErrorPtr e = virGetLastError();
    int ok = ret == -1 && e && e->code == code && e->domain == domain &&
             e->int1 == int1 && e->message && strcmp(e->message, message) == 0 &&
             e->str1 && strcmp(e->str1, str1) == 0;
    if (ok) {
        passed++;
        return;
    }
    failed++;
    printf("FAIL peek.c:%d: ret=%d", line, ret);
    if (e)
        printf(" code=%d domain=%d int1=%d str1=%s message=%s", e->code, e->domain,
               e->int1, e->str1 ? e->str1 : "(null)", e->message ? e->message : "(null)");
    printf("\n");
}

#define FAILS(ret, code, domain, str1, int1, message) \
    fails(__LINE__, ret, code, domain, str1, int1, message)

int main(void)
{
    unsigned char buf[300];
    virSetErrorFunc(NULL, quiet);
    virConnectPtr conn = virConnectOpen("test:///default");
    virConnectPtr ro = virConnectOpenReadOnly("test:///default");
    CHECK(conn && ro);
    virDomainPtr dom = virDomainLookupByName(conn, "test");
    virDomainPtr rodom = virDomainLookupByName(ro, "test");
    CHECK(dom && rodom);

    FAILS(virDomainMemoryPeek(NULL, 0, 8, buf, VIR_MEMORY_VIRTUAL), VIR_ERR_INVALID_DOMAIN,
          VIR_FROM_DOM, "invalid domain pointer in %s", -1,
          "invalid domain pointer in virDomainMemoryPeek");

    /* Read-only comes before every argument check. */
    FAILS(virDomainMemoryPeek(rodom, 0, 8, NULL, 3), VIR_ERR_OPERATION_DENIED,
          VIR_FROM_DOMAIN, "operation forbidden: %s", -1,
          "operation forbidden: read only access prevents virDomainMemoryPeek");
    FAILS(virDomainMemoryPeek(rodom, 0, 8, buf, VIR_MEMORY_PHYSICAL),
          VIR_ERR_OPERATION_DENIED, VIR_FROM_DOMAIN, "operation forbidden: %s", -1,
          "operation forbidden: read only access prevents virDomainMemoryPeek");

    /* Both flags, before the buffer. */
    FAILS(virDomainMemoryPeek(dom, 0, 8, NULL, VIR_MEMORY_VIRTUAL | VIR_MEMORY_PHYSICAL),
          VIR_ERR_INVALID_ARG, VIR_FROM_DOMAIN, "virDomainMemoryPeek", 0,
          "Flags 'VIR_MEMORY_VIRTUAL' and 'VIR_MEMORY_PHYSICAL' are mutually exclusive");
    FAILS(virDomainMemoryPeek(dom, 0, 8, NULL, VIR_MEMORY_VIRTUAL), VIR_ERR_INVALID_ARG,
          VIR_FROM_DOMAIN, "virDomainMemoryPeek", 0,
          "buffer in virDomainMemoryPeek must not be NULL");
    FAILS(virDomainMemoryPeek(dom, 0, (size_t)1 << 40, NULL, VIR_MEMORY_VIRTUAL),
          VIR_ERR_INVALID_ARG, VIR_FROM_DOMAIN, "virDomainMemoryPeek", 0,
          "buffer in virDomainMemoryPeek must not be NULL");

    /* No flag and unknown flags pass the public layer; the driver refuses them. */
    FAILS(virDomainMemoryPeek(dom, 0, 8, buf, 0), VIR_ERR_INVALID_ARG, VIR_FROM_TEST,
          "invalid argument: %s", -1,
          "invalid argument: flags parameter must be VIR_MEMORY_VIRTUAL or "
          "VIR_MEMORY_PHYSICAL");
    FAILS(virDomainMemoryPeek(dom, 0, 8, buf, 5), VIR_ERR_INVALID_ARG, VIR_FROM_TEST,
          "testDomainMemoryPeek", 0,
          "unsupported flags (0x4) in function testDomainMemoryPeek");

    /* Size 0 with no buffer tests access. */
    CHECK(virDomainMemoryPeek(dom, 0, 0, NULL, VIR_MEMORY_VIRTUAL) == 0);
    CHECK(virGetLastError() == NULL);

    memset(buf, 0xee, sizeof buf);
    CHECK(virDomainMemoryPeek(dom, 0x12f0, 300, buf, VIR_MEMORY_VIRTUAL) == 0);
    int pattern = 1;
    for (int i = 0; i < 300; i++)
        pattern &= buf[i] == (unsigned char)(0xf0 + i);
    CHECK(pattern);
    memset(buf, 0xee, sizeof buf);
    CHECK(virDomainMemoryPeek(dom, 7, 4, buf, VIR_MEMORY_PHYSICAL) == 0);
    CHECK(buf[0] == 7 && buf[3] == 10 && buf[4] == 0xee);

    /* An inactive domain: the driver's flag checks first, then "not running". */
    CHECK(virDomainDestroy(dom) == 0);
    FAILS(virDomainMemoryPeek(dom, 0, 8, buf, 0), VIR_ERR_INVALID_ARG, VIR_FROM_TEST,
          "invalid argument: %s", -1,
          "invalid argument: flags parameter must be VIR_MEMORY_VIRTUAL or "
          "VIR_MEMORY_PHYSICAL");
    FAILS(virDomainMemoryPeek(dom, 0, 0, NULL, VIR_MEMORY_PHYSICAL),
          VIR_ERR_OPERATION_INVALID, VIR_FROM_DOMAIN, "Requested operation is not valid: %s",
          -1, "Requested operation is not valid: domain is not running");
    CHECK(virDomainUndefine(dom) == 0);
    virErrorPtr e;
    CHECK(virDomainMemoryPeek(dom, 0, 8, buf, VIR_MEMORY_VIRTUAL) == -1);
    CHECK((e = virGetLastError()) && e->code == VIR_ERR_NO_DOMAIN &&
          e->domain == VIR_FROM_TEST);

    virDomainFree(dom);
    virDomainFree(rodom);
    virConnectClose(conn);
    virConnectClose(ro);
    printf("peek: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
