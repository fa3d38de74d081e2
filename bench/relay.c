// tasq-bench-relay: the baseline of tasq's benchmarks, a raw nng relay of
// the same shape as tasq (docs/PERFORMANCE.md).
//
// Four processes, like a tasq run: this client, a relay (the stand-in for
// tasq-server) and two workers (the stand-in for a tasq-worker -j 2). The
// relay is nng's own forwarder, nng_device(), between raw sockets:
//
//   client PUSH -> relay PULL=device=PUSH -> worker PULL
//   worker PUSH -> relay PULL=device=PUSH -> client PULL
//
// Workers square every int64 of a message and send it back (with
// --item-bytes N > 8, tasks of N bytes each travel back as they came:
// the baseline of handlers on byte payloads). There is no
// authentication, no leasing, no bookkeeping: what is left is the cost of
// moving the same bytes over the same hops with the same transport.
//
// Modes:
//   tput  T tasks in batches of --batch int64 per message; prints tasks/s
//         from the first send to the last result.
//   rtt   one task per message, sent only when the previous result is
//         back; prints round-trip percentiles. --pattern pipeline uses the
//         push/pull relay above; --pattern reqrep uses a device between a
//         raw REP (clients) and a raw REQ (workers) socket instead, the
//         client a REQ and each worker a REP socket.
//
// Every child is forked before this process touches nng (nng's threads do
// not survive fork) and dies when the lifeline pipe from this process
// closes, so nothing outlives a crash of the client.
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>

#define MAX_WORKERS 64
#define NPORTS 4 // tasks in, tasks out, results in, results out

static struct {
	const char *mode;
	bool        tls;
	bool        reqrep;
	const char *tls_dir;
	uint64_t    tasks;
	uint32_t    batch;
	uint32_t    item; // bytes per task (--item-bytes): 8 = int64
	uint32_t    workers;
	uint32_t    rounds;
	uint32_t    warmup;
} opt = {
	.tasks   = 1000000,
	.batch   = 1000,
	.item    = 8,
	.workers = 2,
	.rounds  = 2000,
	.warmup  = 200,
};

static const char usage[] =
    "Usage: tasq-bench-relay tput|rtt [options]\n"
    "  --transport tcp|tls   (default tcp; tls needs --tls-dir)\n"
    "  --tls-dir DIR         holds ca.pem, server.pem, server.key\n"
    "  --tasks N             tput: tasks to send (default 1000000)\n"
    "  --batch N             tput: int64 per message (default 1000)\n"
    "  --item-bytes N        tput: bytes per task (default 8, an int64\n"
    "                        squared; larger items are echoed)\n"
    "  --workers N           worker processes (default 2)\n"
    "  --rounds N            rtt: timed round trips (default 2000)\n"
    "  --warmup N            rtt: untimed round trips first (default 200)\n"
    "  --pattern pipeline|reqrep  rtt: relay sockets (default pipeline)\n";

static void
die(const char *what, int rv)
{
	fprintf(stderr, "tasq-bench-relay: %s: %s\n", what, nng_strerror(rv));
	exit(1);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec);
}

static char *
read_file(const char *dir, const char *name)
{
	char   path[4096];
	FILE  *f;
	char  *buf;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "re")) == NULL) {
		fprintf(stderr, "tasq-bench-relay: cannot open %s: %s\n", path,
		    strerror(errno));
		exit(1);
	}
	if ((buf = malloc(65537)) == NULL) {
		fprintf(stderr, "tasq-bench-relay: out of memory\n");
		exit(1);
	}
	n      = fread(buf, 1, 65536, f);
	buf[n] = '\0';
	fclose(f);
	return (buf);
}

// The relay's listeners present server.pem; peers verify it against
// ca.pem and check the name localhost, as tasq's peers do.
static void
tls_listener(nng_listener l)
{
	nng_tls_config *cfg;
	char           *cert = read_file(opt.tls_dir, "server.pem");
	char           *key  = read_file(opt.tls_dir, "server.key");
	int             rv;

	if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER)) != 0) {
		die("TLS", rv);
	}
	if ((rv = nng_tls_config_own_cert(cfg, cert, key, NULL)) != 0 ||
	    (rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_NONE)) !=
	        0 ||
	    (rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg)) != 0) {
		die("TLS server configuration", rv);
	}
	nng_tls_config_free(cfg); // the listener holds its own reference
	free(cert);
	free(key);
}

static void
tls_dialer(nng_dialer d)
{
	nng_tls_config *cfg;
	char            path[4096];
	int             rv;

	snprintf(path, sizeof(path), "%s/ca.pem", opt.tls_dir);
	if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT)) != 0) {
		die("TLS", rv);
	}
	if ((rv = nng_tls_config_ca_file(cfg, path)) != 0 ||
	    (rv = nng_tls_config_server_name(cfg, "localhost")) != 0 ||
	    (rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED)) !=
	        0 ||
	    (rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg)) != 0) {
		die("TLS client configuration", rv);
	}
	nng_tls_config_free(cfg);
}

static int
listen_any(nng_socket s)
{
	nng_listener l;
	int          rv, port;

	if ((rv = nng_listener_create(&l, s,
	         opt.tls ? "tls+tcp://127.0.0.1:0" : "tcp://127.0.0.1:0")) !=
	    0) {
		die("listener", rv);
	}
	if (opt.tls) {
		tls_listener(l);
	}
	if ((rv = nng_listener_start(l, 0)) != 0) {
		die("listen", rv);
	}
	if ((rv = nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port)) !=
	    0) {
		die("bound port", rv);
	}
	return (port);
}

// Dials synchronously, so that the connection exists when this returns.
static void
dial(nng_socket s, int port)
{
	nng_dialer d;
	char       url[128];
	int        rv;

	snprintf(url, sizeof(url), "%s://localhost:%d",
	    opt.tls ? "tls+tcp" : "tcp", port);
	if ((rv = nng_dialer_create(&d, s, url)) != 0) {
		die("dialer", rv);
	}
	if (opt.tls) {
		tls_dialer(d);
	}
	if ((rv = nng_dialer_start(d, 0)) != 0) {
		die(url, rv);
	}
}

// Exits this child when the parent's end of the lifeline closes.
static void
lifeline_cb(void *arg)
{
	int  fd = (int) (intptr_t) arg;
	char c;

	for (;;) {
		ssize_t k = read(fd, &c, 1);
		if (k == 0 || (k < 0 && errno != EINTR)) {
			break;
		}
	}
	_exit(0);
}

struct device {
	nng_socket  a, b;
	nng_thread *thr;
};

static void
device_cb(void *arg)
{
	struct device *d = arg;
	int            rv;

	if ((rv = nng_device(d->a, d->b)) != 0 && rv != NNG_ECLOSED) {
		fprintf(stderr, "tasq-bench-relay: device: %s\n",
		    nng_strerror(rv));
		_exit(1);
	}
}

// The relay: binds its sockets on fresh ports, reports them on report_fd,
// and forwards until the lifeline closes.
static void
relay_main(int report_fd, int life_fd)
{
	struct device dev[2];
	int           port[NPORTS] = { 0 };
	char          line[128];
	int           rv, n;

	if (opt.reqrep) {
		if ((rv = nng_rep0_open_raw(&dev[0].a)) != 0 ||
		    (rv = nng_req0_open_raw(&dev[0].b)) != 0) {
			die("raw sockets", rv);
		}
		port[0] = listen_any(dev[0].a);
		port[1] = listen_any(dev[0].b);
	} else {
		for (int i = 0; i < 2; i++) {
			if ((rv = nng_pull0_open_raw(&dev[i].a)) != 0 ||
			    (rv = nng_push0_open_raw(&dev[i].b)) != 0) {
				die("raw sockets", rv);
			}
			port[2 * i]     = listen_any(dev[i].a);
			port[2 * i + 1] = listen_any(dev[i].b);
		}
	}
	for (int i = 0; i < (opt.reqrep ? 1 : 2); i++) {
		if ((rv = nng_thread_create(
		         &dev[i].thr, device_cb, &dev[i])) != 0) {
			die("thread", rv);
		}
	}
	n = snprintf(line, sizeof(line), "%d %d %d %d\n", port[0], port[1],
	    port[2], port[3]);
	if (write(report_fd, line, (size_t) n) != n) {
		_exit(1);
	}
	close(report_fd);
	lifeline_cb((void *) (intptr_t) life_fd);
}

// A worker: squares every int64 of each message and sends it back.
static void
worker_main(const int *port, int ready_fd, int life_fd)
{
	nng_socket  in, out;
	nng_thread *life;
	int         rv;

	if ((rv = nng_thread_create(
	         &life, lifeline_cb, (void *) (intptr_t) life_fd)) != 0) {
		die("thread", rv);
	}
	if (opt.reqrep) {
		if ((rv = nng_rep0_open(&in)) != 0) {
			die("socket", rv);
		}
		dial(in, port[1]);
		out = in;
	} else {
		if ((rv = nng_pull0_open(&in)) != 0 ||
		    (rv = nng_push0_open(&out)) != 0) {
			die("socket", rv);
		}
		dial(in, port[1]);
		dial(out, port[2]);
	}
	if (write(ready_fd, "r", 1) != 1) {
		_exit(1);
	}
	close(ready_fd);
	for (;;) {
		nng_msg *m;
		uint8_t *body;
		size_t   len;

		if ((rv = nng_recvmsg(in, &m, 0)) != 0) {
			die("worker receive", rv);
		}
		body = nng_msg_body(m);
		len  = nng_msg_len(m) / sizeof(int64_t);
		if (opt.item != sizeof(int64_t)) {
			len = 0; // other sizes travel back as they came
		}
		for (size_t i = 0; i < len; i++) {
			int64_t v;
			memcpy(&v, body + i * sizeof(v), sizeof(v));
			v = (int64_t) ((uint64_t) v * (uint64_t) v);
			memcpy(body + i * sizeof(v), &v, sizeof(v));
		}
		if ((rv = nng_sendmsg(out, m, 0)) != 0) {
			nng_msg_free(m);
			die("worker send", rv);
		}
	}
}

static nng_msg *
batch_msg(uint64_t first, uint32_t n)
{
	nng_msg *m;
	int      rv;

	if ((rv = nng_msg_alloc(&m, (size_t) n * opt.item)) != 0) {
		die("message", rv);
	}
	memset(nng_msg_body(m), 'x', (size_t) n * opt.item);
	for (uint32_t i = 0; i < n; i++) {
		int64_t v = (int64_t) (first + i);
		memcpy(
		    (uint8_t *) nng_msg_body(m) + i * opt.item, &v, sizeof(v));
	}
	return (m);
}

// Sums a result message into *sum; returns its task count.
static uint64_t
batch_sum(nng_msg *m, uint64_t *sum)
{
	size_t n = nng_msg_len(m) / opt.item;

	for (size_t i = 0; i < n; i++) {
		int64_t v;
		memcpy(
		    &v, (uint8_t *) nng_msg_body(m) + i * opt.item, sizeof(v));
		*sum += (uint64_t) v;
	}
	return (n);
}

struct sender {
	nng_socket s;
	uint64_t   first, n; // tasks first..first+n-1
};

static void
sender_cb(void *arg)
{
	struct sender *s = arg;
	int            rv;

	for (uint64_t off = 0; off < s->n; off += opt.batch) {
		uint32_t k = (uint32_t) (s->n - off < opt.batch ? s->n - off
		                                                : opt.batch);
		nng_msg *m = batch_msg(s->first + off, k);
		if ((rv = nng_sendmsg(s->s, m, 0)) != 0) {
			nng_msg_free(m);
			die("send", rv);
		}
	}
}

// Sends tasks first..first+n-1 from a thread while receiving their
// results here; returns the sum of the results (mod 2^64).
static uint64_t
pump(nng_socket out, nng_socket in, uint64_t first, uint64_t n)
{
	struct sender s = { .s = out, .first = first, .n = n };
	nng_thread   *thr;
	uint64_t      got = 0, sum = 0;
	int           rv;

	if ((rv = nng_thread_create(&thr, sender_cb, &s)) != 0) {
		die("thread", rv);
	}
	while (got < n) {
		nng_msg *m;
		if ((rv = nng_recvmsg(in, &m, 0)) != 0) {
			die("receive", rv);
		}
		got += batch_sum(m, &sum);
		nng_msg_free(m);
	}
	nng_thread_destroy(thr);
	return (sum);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
	return (x < y ? -1 : x > y);
}

// CPU time (user + system) of process pid so far, in seconds; 0 when
// it cannot be read.
static double
proc_cpu(pid_t pid)
{
	char               path[64], buf[1024], *p;
	FILE              *f;
	unsigned long long ut = 0, st = 0;
	size_t             n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
	if ((f = fopen(path, "re")) == NULL) {
		return (0);
	}
	n      = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	// Fields after the command name, which may hold spaces: state is
	// the 3rd field, utime and stime the 14th and 15th.
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2,
	        "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
	        &st) != 2) {
		return (0);
	}
	return ((double) (ut + st) / (double) sysconf(_SC_CLK_TCK));
}

static double
self_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((double) ru.ru_utime.tv_sec + (double) ru.ru_stime.tv_sec +
	    ((double) ru.ru_utime.tv_usec + (double) ru.ru_stime.tv_usec) /
	        1e6);
}

// CPU seconds of this client, the relay and the workers.
static void
cpu_sample(const pid_t *kids, int nkids, double cpu[3])
{
	cpu[0] = self_cpu();
	cpu[1] = proc_cpu(kids[0]);
	cpu[2] = 0;
	for (int i = 1; i < nkids; i++) {
		cpu[2] += proc_cpu(kids[i]);
	}
}

static void
run_tput(nng_socket out, nng_socket in, const pid_t *kids, int nkids)
{
	uint64_t warm = opt.tasks / 10 < 100000 ? opt.tasks / 10 : 100000;
	uint64_t sum, want = 0, t0, t1;
	double   secs, c0[3], c1[3], per;

	// Warm-up: every pipe connected and busy once before timing.
	(void) pump(out, in, 1, warm > opt.batch ? warm : opt.batch);
	cpu_sample(kids, nkids, c0);
	t0  = now_ns();
	sum = pump(out, in, 1, opt.tasks);
	t1  = now_ns();
	cpu_sample(kids, nkids, c1);
	for (uint64_t i = 1; i <= opt.tasks; i++) {
		want += opt.item == sizeof(int64_t) ? i * i : i; // echo
	}
	secs = (double) (t1 - t0) / 1e9;
	per  = 1e6 / (double) opt.tasks;
	printf(
	    "relay mode=tput transport=%s workers=%u batch=%u tasks=%" PRIu64
	    " seconds=%.3f rate=%.0f ok=%d cpu_client_us=%.3f "
	    "cpu_relay_us=%.3f cpu_workers_us=%.3f cpu_us=%.3f\n",
	    opt.tls ? "tls" : "tcp", opt.workers, opt.batch, opt.tasks, secs,
	    (double) opt.tasks / secs, sum == want, (c1[0] - c0[0]) * per,
	    (c1[1] - c0[1]) * per, (c1[2] - c0[2]) * per,
	    (c1[0] + c1[1] + c1[2] - c0[0] - c0[1] - c0[2]) * per);
	if (sum != want) {
		fprintf(stderr, "tasq-bench-relay: wrong sum of results\n");
		exit(1);
	}
}

static void
run_rtt(nng_socket out, nng_socket in)
{
	uint64_t *lat;
	uint64_t  total = 0;
	uint32_t  n     = opt.rounds;
	int       rv;

	if ((lat = calloc(n, sizeof(*lat))) == NULL) {
		die("latencies", NNG_ENOMEM);
	}
	for (uint32_t i = 0; i < opt.warmup + n; i++) {
		int64_t  v  = (int64_t) i + 1, r;
		nng_msg *m  = batch_msg((uint64_t) v, 1);
		uint64_t t0 = now_ns(), t1;

		if ((rv = nng_sendmsg(out, m, 0)) != 0) {
			nng_msg_free(m);
			die("send", rv);
		}
		if ((rv = nng_recvmsg(in, &m, 0)) != 0) {
			die("receive", rv);
		}
		t1 = now_ns();
		if (nng_msg_len(m) != sizeof(r)) {
			fprintf(stderr, "tasq-bench-relay: bad reply\n");
			exit(1);
		}
		memcpy(&r, nng_msg_body(m), sizeof(r));
		nng_msg_free(m);
		if (r != v * v) {
			fprintf(stderr, "tasq-bench-relay: wrong result\n");
			exit(1);
		}
		if (i >= opt.warmup) {
			lat[i - opt.warmup] = t1 - t0;
			total += t1 - t0;
		}
	}
	qsort(lat, n, sizeof(*lat), cmp_u64);
	printf("relay mode=rtt transport=%s pattern=%s workers=%u n=%u "
	       "p50_us=%.1f p99_us=%.1f mean_us=%.1f min_us=%.1f "
	       "max_us=%.1f\n",
	    opt.tls ? "tls" : "tcp", opt.reqrep ? "reqrep" : "pipeline",
	    opt.workers, n, (double) lat[(n - 1) / 2] / 1e3,
	    (double) lat[(uint64_t) (n - 1) * 99 / 100] / 1e3,
	    (double) total / n / 1e3, (double) lat[0] / 1e3,
	    (double) lat[n - 1] / 1e3);
	free(lat);
}

static uint64_t
parse_num(const char *name, const char *s, uint64_t min, uint64_t max)
{
	char              *end;
	unsigned long long v;

	errno = 0;
	v     = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr,
		    "tasq-bench-relay: --%s takes a number in %" PRIu64
		    "..%" PRIu64 ", not '%s'\n",
		    name, min, max, s);
		exit(2);
	}
	return (v);
}

static void
parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "transport", required_argument, NULL, 't' },
		{ "tls-dir", required_argument, NULL, 'd' },
		{ "tasks", required_argument, NULL, 'n' },
		{ "batch", required_argument, NULL, 'b' },
		{ "item-bytes", required_argument, NULL, 'i' },
		{ "workers", required_argument, NULL, 'w' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "warmup", required_argument, NULL, 'u' },
		{ "pattern", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 't':
			if (strcmp(optarg, "tcp") != 0 &&
			    strcmp(optarg, "tls") != 0) {
				goto bad;
			}
			opt.tls = strcmp(optarg, "tls") == 0;
			break;
		case 'd':
			opt.tls_dir = optarg;
			break;
		case 'n':
			opt.tasks = parse_num("tasks", optarg, 1, 1ULL << 32);
			break;
		case 'b':
			opt.batch =
			    (uint32_t) parse_num("batch", optarg, 1, 1 << 20);
			break;
		case 'i':
			opt.item = (uint32_t) parse_num(
			    "item-bytes", optarg, 8, 1 << 20);
			break;
		case 'w':
			opt.workers = (uint32_t) parse_num(
			    "workers", optarg, 1, MAX_WORKERS);
			break;
		case 'r':
			opt.rounds = (uint32_t) parse_num(
			    "rounds", optarg, 1, 10000000);
			break;
		case 'u':
			opt.warmup = (uint32_t) parse_num(
			    "warmup", optarg, 0, 10000000);
			break;
		case 'p':
			if (strcmp(optarg, "pipeline") != 0 &&
			    strcmp(optarg, "reqrep") != 0) {
				goto bad;
			}
			opt.reqrep = strcmp(optarg, "reqrep") == 0;
			break;
		case 'h':
			fputs(usage, stdout);
			exit(0);
		default:
			goto bad;
		}
	}
	if (optind + 1 != argc ||
	    (strcmp(argv[optind], "tput") != 0 &&
	        strcmp(argv[optind], "rtt") != 0) ||
	    (opt.tls && opt.tls_dir == NULL) ||
	    (opt.reqrep && strcmp(argv[optind], "rtt") != 0)) {
		goto bad;
	}
	opt.mode = argv[optind];
	return;
bad:
	fputs(usage, stderr);
	exit(2);
}

int
main(int argc, char **argv)
{
	pid_t      kids[MAX_WORKERS + 1];
	int        nkids = 0, life[2], rep[2], ready[2];
	int        port[NPORTS];
	char       line[128];
	ssize_t    n;
	nng_socket out, in;
	int        rv, status, failed = 0;

	parse_args(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	// The children hold the read end of the lifeline; when this process
	// exits, for whatever reason, they see EOF and exit too.
	if (pipe(life) != 0 || pipe(rep) != 0 || pipe(ready) != 0) {
		perror("tasq-bench-relay: pipe");
		return (1);
	}
	fflush(NULL);
	if ((kids[nkids] = fork()) == 0) {
		close(life[1]);
		close(rep[0]);
		close(ready[0]);
		close(ready[1]);
		relay_main(rep[1], life[0]);
	}
	if (kids[nkids++] < 0) {
		perror("tasq-bench-relay: fork");
		return (1);
	}
	close(rep[1]);
	n = read(rep[0], line, sizeof(line) - 1);
	close(rep[0]);
	if (n <= 0 ||
	    (line[n] = '\0',
	        sscanf(line, "%d %d %d %d", &port[0], &port[1], &port[2],
	            &port[3]) != NPORTS)) {
		fprintf(stderr, "tasq-bench-relay: the relay did not start\n");
		kill(kids[0], SIGTERM);
		waitpid(kids[0], NULL, 0);
		return (1);
	}
	for (uint32_t i = 0; i < opt.workers; i++) {
		fflush(NULL);
		if ((kids[nkids] = fork()) == 0) {
			close(life[1]);
			close(ready[0]);
			worker_main(port, ready[1], life[0]);
		}
		if (kids[nkids] < 0) {
			perror("tasq-bench-relay: fork");
			failed = 1;
			goto out;
		}
		nkids++;
	}
	close(ready[1]);
	close(life[0]);
	for (uint32_t i = 0; i < opt.workers; i++) {
		char c;
		if (read(ready[0], &c, 1) != 1) {
			fprintf(stderr,
			    "tasq-bench-relay: a worker did not start\n");
			failed = 1;
			goto out;
		}
	}
	if (opt.reqrep) {
		if ((rv = nng_req0_open(&out)) != 0) {
			die("socket", rv);
		}
		dial(out, port[0]);
		in = out;
	} else {
		if ((rv = nng_push0_open(&out)) != 0 ||
		    (rv = nng_pull0_open(&in)) != 0) {
			die("socket", rv);
		}
		dial(out, port[0]);
		dial(in, port[3]);
	}
	if (strcmp(opt.mode, "tput") == 0) {
		run_tput(out, in, kids, nkids);
	} else {
		run_rtt(out, in);
	}
	nng_close(out);
	if (!opt.reqrep) {
		nng_close(in);
	}
out:
	close(life[1]);
	for (int i = 0; i < nkids; i++) {
		kill(kids[i], SIGTERM);
	}
	for (int i = 0; i < nkids; i++) {
		waitpid(kids[i], &status, 0);
	}
	fflush(stdout);
	return (failed);
}
