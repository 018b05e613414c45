/* libvirt's error model through the C API: per-thread last errors, handlers, copies,
 * per-connection errors, and reference counts of handles. Built with virshim's headers
 * (pkg-config) and run on virshim. Prints one line per check and a closing count. */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static int handled;
static int handled_code;
static void *handled_data;

static void handler(void *data, virErrorPtr err)
{
    handled++;
    handled_code = err ? err->code : -1;
    handled_data = data;
}

static void *other_thread(void *arg)
{
    (void)arg;
    /* The main thread's error is not this thread's. */
    CHECK(virGetLastError() == NULL);
    CHECK(virGetLastErrorCode() == 0);
    virConnectPtr conn = virConnectOpen("test:///default");
    CHECK(virDomainLookupByName(conn, "nosuch") == NULL);
    CHECK(virGetLastErrorCode() == VIR_ERR_NO_DOMAIN);
    virConnectClose(conn);
    return NULL;
}

int main(void)
{
    /* Before any call there is no error (libvirt 9.0 returns garbage here). */
    CHECK(virGetLastError() == NULL);
    CHECK(strcmp(virGetLastErrorMessage(), "no error") == 0);

    int token;
    virSetErrorFunc(&token, handler);
    virConnectPtr conn = virConnectOpen("test:///default");
    CHECK(conn != NULL);

    /* A failure sets the last error and calls the global handler with it. */
    CHECK(virDomainLookupByName(conn, "nosuch") == NULL);
    virErrorPtr err = virGetLastError();
    CHECK(err != NULL && err->code == VIR_ERR_NO_DOMAIN && err->domain == VIR_FROM_TEST);
    CHECK(err != NULL && err->level == VIR_ERR_ERROR);
    CHECK(err != NULL && strcmp(err->message, "Domain not found") == 0);
    CHECK(virGetLastError() == err);
    CHECK(handled == 1 && handled_code == VIR_ERR_NO_DOMAIN && handled_data == &token);

    /* The connection keeps its own copy. */
    virErrorPtr cerr = virConnGetLastError(conn);
    CHECK(cerr != NULL && cerr->code == VIR_ERR_NO_DOMAIN);

    /* Copies survive later calls and are released by the caller. */
    virError copy;
    memset(&copy, 0, sizeof(copy));
    CHECK(virCopyLastError(&copy) == VIR_ERR_NO_DOMAIN);
    virErrorPtr saved = virSaveLastError();
    CHECK(saved != NULL && saved->code == VIR_ERR_NO_DOMAIN);

    /* Another thread sees none of it. */
    pthread_t t;
    pthread_create(&t, NULL, other_thread, NULL);
    pthread_join(t, NULL);
    CHECK(virGetLastErrorCode() == VIR_ERR_NO_DOMAIN);

    /* A success clears the last error. */
    virDomainPtr dom = virDomainLookupByName(conn, "test");
    CHECK(dom != NULL);
    CHECK(virGetLastError() == NULL);
    CHECK(copy.code == VIR_ERR_NO_DOMAIN && strcmp(copy.message, "Domain not found") == 0);
    virResetError(&copy);
    CHECK(copy.code == 0 && copy.message == NULL);
    virFreeError(saved);
    saved = virSaveLastError(); /* never NULL, even with no error */
    CHECK(saved != NULL && saved->code == 0);
    virFreeError(saved);

    /* A connection's handler takes precedence over the global one. */
    int conn_token;
    handled = 0;
    virConnSetErrorFunc(conn, &conn_token, handler);
    CHECK(virDomainSave(dom, NULL) < 0);
    CHECK(handled == 1 && handled_data == &conn_token && handled_code == VIR_ERR_INVALID_ARG);
    virConnSetErrorFunc(conn, NULL, NULL);
    virConnResetLastError(conn);
    CHECK(virConnGetLastError(conn) != NULL && virConnGetLastError(conn)->code == 0);

    /* Handles hold their connection: close reports 1 while one is open. */
    CHECK(virConnectRef(conn) == 0);
    CHECK(virConnectClose(conn) == 1);
    CHECK(virConnectClose(conn) == 1); /* the domain handle still holds it */
    CHECK(strcmp(virDomainGetName(dom), "test") == 0);
    CHECK(virDomainGetConnect(dom) == conn);
    CHECK(virDomainFree(dom) == 0);

    /* A handle used after its release is an error, not a crash. */
    CHECK(virDomainFree(dom) == -1);
    CHECK(virGetLastErrorCode() == VIR_ERR_INVALID_DOMAIN);
    CHECK(virConnectClose(conn) == -1);
    CHECK(virGetLastErrorCode() == VIR_ERR_INVALID_CONN);
    CHECK(virDomainSave((virDomainPtr)&token, "/tmp/x") == -1);
    CHECK(virGetLastErrorCode() == VIR_ERR_INVALID_DOMAIN);

    /* An image the caller may not read is a system error naming it, and stays as it was:
     * checked in a child that gives up root, to which permissions do not apply. */
    char image[64];
    snprintf(image, sizeof(image), "/tmp/virshim-errors-%d.img", (int)getpid());
    conn = virConnectOpen("test:///default");
    dom = virDomainLookupByName(conn, "test");
    CHECK(virDomainSave(dom, image) == 0);
    struct stat before, after;
    stat(image, &before);
    pid_t child = fork();
    if (child == 0) {
        virConnectPtr c = NULL;
        int ok = setgid(65534) == 0 && setuid(65534) == 0 &&
                 (c = virConnectOpen("test:///default")) != NULL &&
                 virDomainRestore(c, image) == -1 &&
                 virGetLastErrorCode() == VIR_ERR_SYSTEM_ERROR &&
                 virGetLastErrorDomain() == VIR_FROM_TEST &&
                 strstr(virGetLastErrorMessage(), "Permission denied") != NULL &&
                 virDomainSaveImageGetXMLDesc(c, image, 0) == NULL;
        _exit(ok ? 0 : 1);
    }
    int status = -1;
    waitpid(child, &status, 0);
    CHECK(geteuid() != 0 || (WIFEXITED(status) && WEXITSTATUS(status) == 0));
    stat(image, &after);
    CHECK(before.st_size == after.st_size && before.st_mtime == after.st_mtime &&
          (after.st_mode & 0777) == 0600);
    unlink(image);
    virDomainFree(dom);
    virConnectClose(conn);

    virSetErrorFunc(NULL, NULL);
    printf("errors: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
