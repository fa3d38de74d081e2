// handler_test_child: an exec: child for handler_test and the bench, with
// ways to misbehave. Usage: handler_test_child MODE [ARG]
//   echo            every result is its payload
//   echo-log FILE [US]  echo, and append "attempt<TAB>payload" lines to
//                   FILE; with US, sleep US microseconds per task
//   fail-odd        odd tasks fail (status 3, message "odd task N")
//   die-after K     answers K results of its first batch, writes to
//                   stderr, then exits 3
//   pid-hang FILE   writes its pid to FILE, answers half of its first
//                   batch, then waits forever (to be killed)
//   hang            reads a batch and never answers
//   bad-magic       answers with a wrong header
//   bad-status      answers status 99
//   too-long        answers a result of 2 MiB (length field only)
//   extra           answers every result, then one more byte
//   short           answers fewer results than tasks, then exits 0
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint32_t
u32(const unsigned char *p)
{
	return ((uint32_t) p[0] | (uint32_t) p[1] << 8 |
	    (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24);
}

static void
put32(uint32_t v)
{
	unsigned char b[4] = { (unsigned char) v, (unsigned char) (v >> 8),
		(unsigned char) (v >> 16), (unsigned char) (v >> 24) };
	fwrite(b, 1, 4, stdout);
}

int
main(int argc, char **argv)
{
	const char    *mode = argc > 1 ? argv[1] : "echo";
	unsigned char  head[24], lb[4];
	unsigned char *buf   = NULL;
	size_t         cap   = 0;
	long           k     = argc > 2 ? atol(argv[2]) : 0;
	int            batch = 0;

	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if (strcmp(mode, "pid-hang") == 0) {
		FILE *f = fopen(argv[2], "w");
		fprintf(f, "%d\n", (int) getpid());
		fclose(f);
	}
	FILE *log = NULL;
	if (strcmp(mode, "echo-log") == 0 &&
	    (log = fopen(argv[2], "a")) == NULL) {
		return (1);
	}
	while (fread(head, 1, 24, stdin) == 24) {
		uint32_t n       = u32(head + 4);
		uint32_t attempt = u32(head + 16);
		batch++;
		if (strcmp(mode, "hang") == 0) {
			for (;;) {
				pause();
			}
		}
		memcpy(
		    head, strcmp(mode, "bad-magic") == 0 ? "XQR1" : "TQR1", 4);
		fwrite(head, 1, 16, stdout);
		for (uint32_t i = 0; i < n; i++) {
			if (fread(lb, 1, 4, stdin) != 4) {
				return (1);
			}
			uint32_t len = u32(lb);
			if (len > cap) {
				buf = realloc(buf, len);
				cap = len;
			}
			if (len > 0 && fread(buf, 1, len, stdin) != len) {
				return (1);
			}
			if (strcmp(mode, "die-after") == 0 && batch == 1 &&
			    i == (uint32_t) k) {
				fflush(stdout);
				fprintf(
				    stderr, "dying on purpose after %ld\n", k);
				free(buf);
				return (3);
			}
			if (strcmp(mode, "pid-hang") == 0 && batch == 1 &&
			    i == n / 2) {
				fflush(stdout);
				for (;;) {
					pause();
				}
			}
			if (strcmp(mode, "short") == 0 && i == n - 1) {
				fflush(stdout);
				free(buf);
				return (0);
			}
			if (log != NULL && argc > 3) {
				usleep((useconds_t) atol(argv[3]));
			}
			if (log != NULL) {
				// attempt, then the payload (a text line)
				fprintf(log, "%u\t%.*s\n", (unsigned) attempt,
				    (int) len, (const char *) buf);
			}
			if (strcmp(mode, "bad-status") == 0) {
				put32(99);
				put32(0);
			} else if (strcmp(mode, "too-long") == 0 && i == 1) {
				// A whole result of 2 MiB, over the limit.
				static const char zero[4096];
				put32(0);
				put32(2u << 20);
				for (int z = 0; z < 512; z++) {
					fwrite(zero, 1, sizeof(zero), stdout);
				}
			} else if (strcmp(mode, "fail-odd") == 0 &&
			    i % 2 == 1) {
				char msg[64];
				int  m = snprintf(
				     msg, sizeof(msg), "odd task %u", i);
				put32(3);
				put32((uint32_t) m);
				fwrite(msg, 1, (size_t) m, stdout);
			} else {
				put32(0);
				put32(len);
				fwrite(buf, 1, len, stdout);
			}
		}
		if (strcmp(mode, "extra") == 0) {
			fputc('!', stdout);
		}
		if (log != NULL) {
			fflush(log);
		}
		fflush(stdout);
	}
	free(buf);
	return (0);
}
