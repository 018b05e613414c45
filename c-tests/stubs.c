/* The rest of libvirt's API, which virshim exports without implementing most of it: each
 * such call checks its object arguments as libvirt does, then fails with
 * VIR_ERR_NO_SUPPORT and its error value. Pointers to object types virshim never hands out
 * (networks, streams, snapshots, ...) are errors, not crashes, whatever they point to. Also
 * the calls that need no driver and virshim implements: the typed-parameter helpers and
 * the default event loop. Built with virshim's headers (pkg-config) and run on virshim,
 * under valgrind too. Prints one line per failed check and a closing count. */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

/* The last error is exactly this code, domain and message. */
static int error_is(int code, int domain, const char *message)
{
    virErrorPtr e = virGetLastError();
    if (e && e->code == code && e->domain == domain && e->message &&
        strcmp(e->message, message) == 0)
        return 1;
    printf("     last error: %d %d %s\n", e ? e->code : 0, e ? e->domain : 0,
           e && e->message ? e->message : "(none)");
    return 0;
}

#define NO_SUPPORT(domain, fn) \
    error_is(VIR_ERR_NO_SUPPORT, domain, \
             "this function is not supported by the connection driver: " fn)

static int handled;
static void count_errors(void *data, virErrorPtr err)
{
    (void)data;
    (void)err;
    handled++;
}

static int timer_fired, freed;
static void on_timer(int timer, void *opaque)
{
    (void)timer;
    (*(int *)opaque)++;
}
static void on_free(void *opaque)
{
    (void)opaque;
    freed++;
}

static int readable_events;
static void on_handle(int watch, int fd, int events, void *opaque)
{
    char buf[16];
    (void)watch;
    (void)opaque;
    readable_events = events;
    if (read(fd, buf, sizeof(buf)) < 0)
        readable_events = -1;
}

int main(void)
{
    /* Programs set up the default event loop before they connect. */
    CHECK(virEventRegisterDefaultImpl() == 0);
    virSetErrorFunc(NULL, count_errors);

    virConnectPtr conn = virConnectOpen("test:///default");
    virDomainPtr dom = virDomainLookupByName(conn, "test");
    CHECK(conn != NULL && dom != NULL);

    /* A call on a live connection or domain that virshim lacks: NO_SUPPORT, in the
     * error domain of libvirt's source file, with the call's error value. */
    CHECK(virConnectGetHostname(conn) == NULL);
    CHECK(NO_SUPPORT(VIR_FROM_DOMAIN, "virConnectGetHostname"));
    CHECK(virNodeGetFreeMemory(conn) == 0);
    CHECK(NO_SUPPORT(VIR_FROM_DOMAIN, "virNodeGetFreeMemory"));
    CHECK(virDomainGetMaxMemory(dom) == 0);
    CHECK(NO_SUPPORT(VIR_FROM_DOMAIN, "virDomainGetMaxMemory"));
    virDomainBlockInfo block;
    CHECK(virDomainGetBlockInfo(dom, "vda", &block, 0) == -1);
    CHECK(NO_SUPPORT(VIR_FROM_DOMAIN, "virDomainGetBlockInfo"));
    CHECK(virNetworkLookupByName(conn, "default") == NULL);
    CHECK(NO_SUPPORT(VIR_FROM_NETWORK, "virNetworkLookupByName"));
    CHECK(virStoragePoolLookupByName(conn, "default") == NULL);
    CHECK(NO_SUPPORT(VIR_FROM_STORAGE, "virStoragePoolLookupByName"));
    CHECK(virDomainSnapshotNum(dom, 0) == -1);
    CHECK(NO_SUPPORT(VIR_FROM_DOMAIN_SNAPSHOT, "virDomainSnapshotNum"));
    CHECK(virStreamNew(conn, 0) == NULL);
    CHECK(NO_SUPPORT(VIR_FROM_STREAMS, "virStreamNew"));
    CHECK(virDomainMigrate(dom, conn, 0, NULL, NULL, 0) == NULL);
    CHECK(NO_SUPPORT(VIR_FROM_DOMAIN, "virDomainMigrate"));

    /* The error is dispatched as any other: to the handler, and kept for the connection. */
    handled = 0;
    CHECK(virConnectGetSysinfo(conn, 0) == NULL);
    CHECK(handled == 1);
    CHECK(virConnGetLastError(conn) != NULL &&
          virConnGetLastError(conn)->code == VIR_ERR_NO_SUPPORT);
    /* ... and the next call clears it. */
    CHECK(virDomainIsActive(dom) == 1 && virGetLastError() == NULL);

    /* Connections and domains are checked first, as by the implemented calls. */
    int garbage[64] = {0};
    CHECK(virConnectGetHostname(NULL) == NULL);
    CHECK(error_is(VIR_ERR_INVALID_CONN, VIR_FROM_DOMAIN,
                   "invalid connection pointer in virConnectGetHostname"));
    CHECK(virConnectGetHostname((virConnectPtr)garbage) == NULL);
    CHECK(virGetLastErrorCode() == VIR_ERR_INVALID_CONN);
    CHECK(virNetworkLookupByName((virConnectPtr)garbage, "x") == NULL);
    CHECK(error_is(VIR_ERR_INVALID_CONN, VIR_FROM_NETWORK,
                   "invalid connection pointer in virNetworkLookupByName"));
    CHECK(virDomainGetHostname((virDomainPtr)garbage, 0) == NULL);
    CHECK(error_is(VIR_ERR_INVALID_DOMAIN, VIR_FROM_DOM,
                   "invalid domain pointer in virDomainGetHostname"));
    CHECK(virDomainGetMaxMemory(NULL) == 0);
    CHECK(virGetLastErrorCode() == VIR_ERR_INVALID_DOMAIN);
    CHECK(virDomainMigrate(dom, NULL, 0, NULL, NULL, 0) == NULL);
    CHECK(error_is(VIR_ERR_INVALID_CONN, VIR_FROM_DOMAIN,
                   "invalid connection pointer in virDomainMigrate"));

    /* virshim hands out no network, stream, snapshot, ...: any pointer to one is
     * invalid, NULL or garbage, and frees and unrefs fail too. */
    CHECK(virNetworkFree(NULL) == -1);
    CHECK(error_is(VIR_ERR_INVALID_NETWORK, VIR_FROM_NETWORK,
                   "invalid network pointer in virNetworkFree"));
    CHECK(virNetworkFree((virNetworkPtr)garbage) == -1);
    CHECK(virGetLastErrorCode() == VIR_ERR_INVALID_NETWORK);
    CHECK(virNetworkGetName((virNetworkPtr)garbage) == NULL);
    CHECK(virNetworkRef((virNetworkPtr)dom) == -1);
    CHECK(virStreamFree((virStreamPtr)garbage) == -1);
    CHECK(error_is(VIR_ERR_INVALID_STREAM, VIR_FROM_STREAMS,
                   "invalid stream pointer in virStreamFree"));
    char data[16];
    CHECK(virStreamRecv((virStreamPtr)garbage, data, sizeof(data)) == -1);
    CHECK(virDomainSnapshotFree((virDomainSnapshotPtr)garbage) == -1);
    CHECK(error_is(VIR_ERR_INVALID_DOMAIN_SNAPSHOT, VIR_FROM_DOMAIN_SNAPSHOT,
                   "Invalid domain snapshot: virDomainSnapshotFree"));
    CHECK(virDomainCheckpointGetName(NULL) == NULL);
    CHECK(error_is(VIR_ERR_INVALID_DOMAIN_CHECKPOINT, VIR_FROM_DOMAIN_CHECKPOINT,
                   "Invalid domain checkpoint: virDomainCheckpointGetName"));
    char uuid[VIR_UUID_STRING_BUFLEN];
    CHECK(virSecretGetUUIDString((virSecretPtr)garbage, uuid) == -1);
    CHECK(error_is(VIR_ERR_INVALID_SECRET, VIR_FROM_SECRET, "Invalid secret: virSecretGetUUIDString"));
    CHECK(virNWFilterBindingFree(NULL) == -1);
    CHECK(error_is(VIR_ERR_INVALID_NWFILTER_BINDING, VIR_FROM_NWFILTER,
                   "Invalid network filter binding: virNWFilterBindingFree"));
    CHECK(virNetworkPortGetXMLDesc((virNetworkPortPtr)garbage, 0) == NULL);
    CHECK(error_is(VIR_ERR_INVALID_NETWORK_PORT, VIR_FROM_NETWORK,
                   "Invalid network port pointer: virNetworkPortGetXMLDesc"));
    CHECK(virStorageVolGetPath((virStorageVolPtr)garbage) == NULL);
    CHECK(virGetLastErrorCode() == VIR_ERR_INVALID_STORAGE_VOL);
    CHECK(virNodeDeviceGetName((virNodeDevicePtr)garbage) == NULL);
    CHECK(virGetLastErrorCode() == VIR_ERR_INVALID_NODE_DEVICE);
    CHECK(virInterfaceIsActive((virInterfacePtr)garbage) == -1);
    CHECK(virGetLastErrorCode() == VIR_ERR_INVALID_INTERFACE);

    /* As a further argument, NULL is refused as libvirt refuses it; another pointer is
     * never read, and the call is unsupported. */
    CHECK(virDomainScreenshot(dom, NULL, 0, 0) == NULL);
    CHECK(error_is(VIR_ERR_INVALID_STREAM, VIR_FROM_STREAMS,
                   "invalid stream pointer in virDomainScreenshot"));
    CHECK(virDomainScreenshot(dom, (virStreamPtr)garbage, 0, 0) == NULL);
    CHECK(NO_SUPPORT(VIR_FROM_DOMAIN, "virDomainScreenshot"));
    CHECK(virDomainScreenshot((virDomainPtr)garbage, NULL, 0, 0) == NULL);
    CHECK(virGetLastErrorCode() == VIR_ERR_INVALID_DOMAIN);

    /* The structures libvirt's calls return: virshim returns none, there is nothing to
     * free, and freeing NULL is fine. */
    virDomainFSInfoFree(NULL);
    virNetworkDHCPLeaseFree(NULL);
    virDomainStatsRecordListFree(NULL);

    /* Typed parameters, for real. */
    virTypedParameterPtr params = NULL;
    int nparams = 0, maxparams = 0;
    CHECK(virTypedParamsAddString(&params, &nparams, &maxparams, "file", "/tmp/x.img") == 0);
    CHECK(virTypedParamsAddUInt(&params, &nparams, &maxparams, "n", 7) == 0);
    CHECK(virTypedParamsAddFromString(&params, &nparams, &maxparams, "b",
                                      VIR_TYPED_PARAM_BOOLEAN, "true") == 0);
    CHECK(nparams == 3 && maxparams == 3);
    const char *file = NULL;
    unsigned int n = 0;
    int b = 0;
    CHECK(virTypedParamsGetString(params, nparams, "file", &file) == 1 &&
          strcmp(file, "/tmp/x.img") == 0);
    CHECK(virTypedParamsGetUInt(params, nparams, "n", &n) == 1 && n == 7);
    CHECK(virTypedParamsGetBoolean(params, nparams, "b", &b) == 1 && b == 1);
    CHECK(virTypedParamsGetUInt(params, nparams, "missing", &n) == 0);
    CHECK(virTypedParamsGetInt(params, nparams, "n", &b) == -1);
    CHECK(error_is(VIR_ERR_INVALID_ARG, VIR_FROM_NONE,
                   "invalid argument: Invalid type 'int' requested for parameter 'n', "
                   "actual type is 'uint'"));
    CHECK(virTypedParamsAddFromString(&params, &nparams, &maxparams, "i",
                                      VIR_TYPED_PARAM_INT, "12x") == -1);
    CHECK(error_is(VIR_ERR_INVALID_ARG, VIR_FROM_NONE,
                   "invalid argument: Invalid value for field 'i': expected int"));
    CHECK(virTypedParamsGet(params, nparams, "n") == &params[1]);
    CHECK(virTypedParamsAddInt(NULL, &nparams, &maxparams, "x", 1) == -1);
    CHECK(virGetLastErrorCode() == VIR_ERR_INVALID_ARG);
    /* The save call that takes them is one virshim lacks. */
    CHECK(virDomainSaveParams(dom, params, nparams, 0) == -1);
    CHECK(NO_SUPPORT(VIR_FROM_DOMAIN, "virDomainSaveParams"));
    virTypedParamsFree(params, nparams);

    /* The default event loop runs timers and watches file descriptors. */
    int timer = virEventAddTimeout(0, on_timer, &timer_fired, on_free);
    CHECK(timer > 0);
    CHECK(virEventRunDefaultImpl() == 0);
    CHECK(timer_fired >= 1);
    CHECK(virEventRemoveTimeout(timer) == 0);
    CHECK(virEventRemoveTimeout(timer) == -1);
    int fds[2];
    CHECK(pipe(fds) == 0);
    int watch = virEventAddHandle(fds[0], VIR_EVENT_HANDLE_READABLE, on_handle, NULL, on_free);
    CHECK(watch > 0);
    CHECK(write(fds[1], "x", 1) == 1);
    CHECK(virEventRunDefaultImpl() == 0);
    CHECK(readable_events == VIR_EVENT_HANDLE_READABLE);
    CHECK(virEventRemoveHandle(watch) == 0);
    CHECK(virEventRunDefaultImpl() == 0);
    CHECK(freed == 2);
    close(fds[0]);
    close(fds[1]);
    /* Event registrations are calls virshim lacks. */
    CHECK(virConnectDomainEventRegisterAny(conn, NULL, 0 /* lifecycle */, NULL,
                                           NULL, NULL) == -1);
    CHECK(NO_SUPPORT(VIR_FROM_DOMAIN, "virConnectDomainEventRegisterAny"));

    virDomainFree(dom);
    virConnectClose(conn);
    virSetErrorFunc(NULL, NULL);
    printf("stubs: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
