/*  ref_bench: the reference costs the targets are stated in.
 *
 *  ref_bench --dir DIR [--count N]
 *      fsync:  write 4 KiB + fdatasync() in DIR (same disk as the stores)
 *      lmdb:   one LMDB write transaction (one small put) with synchronous
 *              commit, as zvhd opens its store (no MDB_NOSYNC): fdatasync of
 *              the data pages, then the meta page written through an O_DSYNC
 *              descriptor (a second flush)
 *      curve:  round trip of a 200-byte message between two processes over a
 *              CURVE DEALER/ROUTER pair on loopback TCP (a federation hop
 *              and its ack)
 *      tcp:    the same without CURVE
 *
 *  Prints one JSON object with p50/p99 (ms) of each.
 */
#include "bench_util.h"
#include <czmq.h>
#include <fcntl.h>
#include <lmdb.h>
#include <sys/wait.h>

static int
s_fsync (const char *dir, int count, samples_t *out)
{
    char path [1024];
    snprintf (path, sizeof path, "%s/ref-fsync.dat", dir);
    int fd = open (path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    char block [4096];
    memset (block, 'x', sizeof block);
    for (int i = 0; i < count; i++) {
        if (pwrite (fd, block, sizeof block, (off_t) (i % 64) * 4096) != sizeof block)
            return -1;
        int64_t t = bench_mono_us ();
        if (fdatasync (fd))
            return -1;
        samples_add (out, (double) (bench_mono_us () - t) / 1000.0);
    }
    close (fd);
    unlink (path);
    return 0;
}

static int
s_lmdb (const char *dir, int count, samples_t *out)
{
    char path [1024];
    snprintf (path, sizeof path, "%s/ref-lmdb", dir);
    zsys_dir_create ("%s", path);
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn;
    if (mdb_env_create (&env) || mdb_env_set_mapsize (env, 64 << 20)
    ||  mdb_env_open (env, path, MDB_NOTLS, 0600))
        return -1;
    mdb_txn_begin (env, NULL, 0, &txn);
    mdb_dbi_open (txn, NULL, 0, &dbi);
    mdb_txn_commit (txn);
    char value [200];
    memset (value, 'v', sizeof value);
    for (int i = 0; i < count; i++) {
        int64_t t = bench_mono_us ();
        uint64_t key = (uint64_t) i;
        MDB_val k = { sizeof key, &key }, v = { sizeof value, value };
        if (mdb_txn_begin (env, NULL, 0, &txn) || mdb_put (txn, dbi, &k, &v, 0)
        ||  mdb_txn_commit (txn))
            return -1;
        samples_add (out, (double) (bench_mono_us () - t) / 1000.0);
    }
    mdb_env_close (env);
    char cmd [1200];
    snprintf (cmd, sizeof cmd, "%s/data.mdb", path);
    unlink (cmd);
    snprintf (cmd, sizeof cmd, "%s/lock.mdb", path);
    unlink (cmd);
    rmdir (path);
    return 0;
}

//  The echo side runs in a child process forked before any ZeroMQ context
//  exists, so a round trip crosses processes as a federation hop does.
//  It binds a CURVE and a plain ROUTER and tells the parent their ports and
//  the server key through a pipe; an empty message stops it.
static void
s_echo_child (int fd)
{
    zsys_init ();
    zcert_t *cert = zcert_new ();
    zsock_t *curve = zsock_new (ZMQ_ROUTER);
    zsock_t *plain = zsock_new (ZMQ_ROUTER);
    zsock_set_linger (curve, 1000);
    zsock_set_linger (plain, 1000);
    zcert_apply (cert, curve);
    zsock_set_curve_server (curve, 1);
    int curve_port = zsock_bind (curve, "tcp://127.0.0.1:*");
    int plain_port = zsock_bind (plain, "tcp://127.0.0.1:*");
    char line [128];
    int n = snprintf (line, sizeof line, "%d %d %s\n", curve_port, plain_port,
                      zcert_public_txt (cert));
    if (write (fd, line, (size_t) n) != n)
        _exit (1);
    close (fd);
    zpoller_t *poller = zpoller_new (curve, plain, NULL);
    while (true) {
        zsock_t *which = (zsock_t *) zpoller_wait (poller, 30000);
        if (!which)
            break;
        zmsg_t *msg = zmsg_recv (which);
        if (!msg)
            break;
        if (zmsg_size (msg) == 2 && zframe_size (zmsg_last (msg)) == 0) {
            zmsg_destroy (&msg);
            if (which == plain)         //  the plain test runs last
                break;
            continue;
        }
        zmsg_send (&msg, which);
    }
    zpoller_destroy (&poller);
    zsock_destroy (&curve);
    zsock_destroy (&plain);
    zcert_destroy (&cert);
    _exit (0);
}

static int
s_round_trips (zsock_t *client, int count, samples_t *out)
{
    char payload [200];
    memset (payload, 'p', sizeof payload);
    for (int i = 0; i < count + 10; i++) {
        int64_t t = bench_mono_us ();
        zmq_send (zsock_resolve (client), payload, sizeof payload, 0);
        zframe_t *frame = zframe_recv (client);
        if (!frame)
            return -1;
        zframe_destroy (&frame);
        if (i >= 10)                //  the first ones include the handshake
            samples_add (out, (double) (bench_mono_us () - t) / 1000.0);
    }
    zmq_send (zsock_resolve (client), "", 0, 0);      //  stop (no answer awaited)
    return 0;
}

static int
s_hops (int count, samples_t *curve_ms, samples_t *tcp_ms)
{
    int fds [2];
    if (pipe (fds))
        return -1;
    pid_t pid = fork ();
    if (pid == 0) {
        close (fds [0]);
        s_echo_child (fds [1]);
    }
    close (fds [1]);
    char line [128] = "";
    FILE *pipe_in = fdopen (fds [0], "r");
    if (!pipe_in || !fgets (line, sizeof line, pipe_in))
        return -1;
    fclose (pipe_in);
    int curve_port, plain_port;
    char server_key [64];
    if (sscanf (line, "%d %d %63s", &curve_port, &plain_port, server_key) != 3)
        return -1;
    zsys_init ();
    zcert_t *cert = zcert_new ();
    zsock_t *curve = zsock_new (ZMQ_DEALER);
    zcert_apply (cert, curve);
    zsock_set_curve_serverkey (curve, server_key);
    zsock_connect (curve, "tcp://127.0.0.1:%d", curve_port);
    int rc = s_round_trips (curve, count, curve_ms);
    zsock_t *plain = zsock_new (ZMQ_DEALER);
    zsock_connect (plain, "tcp://127.0.0.1:%d", plain_port);
    if (rc == 0)
        rc = s_round_trips (plain, count, tcp_ms);
    zsock_set_linger (curve, 1000);
    zsock_set_linger (plain, 1000);
    zsock_destroy (&curve);
    zsock_destroy (&plain);
    zcert_destroy (&cert);
    int status;
    waitpid (pid, &status, 0);
    return rc;
}

int
main (int argc, char **argv)
{
    const char *dir = bench_opt (argc, argv, "--dir", ".");
    int count = (int) bench_opt_long (argc, argv, "--count", 500);
    samples_t fsync_ms = { 0 }, lmdb_ms = { 0 }, curve_ms = { 0 }, tcp_ms = { 0 };
    //  The echo process is forked first, before this process has a context
    if (s_hops (count, &curve_ms, &tcp_ms)
    ||  s_fsync (dir, count, &fsync_ms) || s_lmdb (dir, count, &lmdb_ms)) {
        fprintf (stderr, "ref_bench: failed: %s\n", strerror (errno));
        return 1;
    }
    json_begin ();
    json_stats ("fsync_ms", &fsync_ms);
    json_stats ("lmdb_commit_ms", &lmdb_ms);
    json_stats ("curve_rtt_ms", &curve_ms);
    json_stats ("tcp_rtt_ms", &tcp_ms);
    json_end ();
    samples_free (&fsync_ms);
    samples_free (&lmdb_ms);
    samples_free (&curve_ms);
    samples_free (&tcp_ms);
    return 0;
}
