// replay_main: runs a fuzz target's LLVMFuzzerTestOneInput over files,
// without libFuzzer, so that every ordinary build (any compiler) replays
// the committed corpora and crash regressions. Arguments are files or
// directories (every regular file in them, in name order, not
// recursively). Exit status: 0 when every input ran, 1 when a file could
// not be read, 2 on usage errors; a failing input aborts.
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#define REPLAY_MAX_INPUT (16 * 1024 * 1024)

static int
run_file(const char *path)
{
	FILE    *f;
	uint8_t *buf;
	size_t   n;
	long     len;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return (-1);
	}
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
	    len > REPLAY_MAX_INPUT || fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "%s: cannot size (or larger than %d)\n", path,
		    REPLAY_MAX_INPUT);
		fclose(f);
		return (-1);
	}
	// An exact-size heap copy, as libFuzzer passes it, so that sanitizer
	// builds catch a read one past the end.
	if ((buf = malloc(len > 0 ? (size_t) len : 1)) == NULL) {
		fclose(f);
		return (-1);
	}
	n = fread(buf, 1, (size_t) len, f);
	fclose(f);
	if (n != (size_t) len) {
		fprintf(stderr, "%s: short read\n", path);
		free(buf);
		return (-1);
	}
	(void) LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return (0);
}

static int
cmp_names(const void *a, const void *b)
{
	return (strcmp(*(char *const *) a, *(char *const *) b));
}

// Runs every regular file of dir; returns the number run or -1.
static long
run_dir(const char *dir)
{
	DIR           *d;
	struct dirent *e;
	char         **names = NULL;
	size_t         n = 0, cap = 0;
	long           ran = 0;
	int            bad = 0;

	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return (-1);
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.') {
			continue;
		}
		if (n == cap) {
			char **nn;
			cap = cap ? cap * 2 : 64;
			if ((nn = realloc(names, cap * sizeof(*nn))) == NULL) {
				bad = 1;
				break;
			}
			names = nn;
		}
		if ((names[n] = strdup(e->d_name)) == NULL) {
			bad = 1;
			break;
		}
		n++;
	}
	closedir(d);
	if (n > 0) {
		qsort(names, n, sizeof(*names), cmp_names);
	}
	for (size_t i = 0; i < n; i++) {
		char        path[4096];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (!bad && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (run_file(path) != 0) {
				bad = 1;
			} else {
				ran++;
			}
		}
		free(names[i]);
	}
	free(names);
	return (bad ? -1 : ran);
}

int
main(int argc, char **argv)
{
	long total  = 0;
	int  status = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return (2);
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		long        n;
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			status = 1;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			n = run_dir(argv[i]);
		} else {
			n = run_file(argv[i]) == 0 ? 1 : -1;
		}
		if (n < 0) {
			status = 1;
		} else {
			total += n;
		}
	}
	printf("%s: %ld inputs replayed\n", argv[0], total);
	// An empty corpus is a mistake (a wrong path), not a pass.
	if (total == 0 && status == 0) {
		fprintf(stderr, "%s: no inputs\n", argv[0]);
		status = 1;
	}
	return (status);
}
