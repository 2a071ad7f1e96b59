/*
 * A main() for the fuzz harnesses in a build without libFuzzer (gcc, the test build of
 * scripts/test): runs LLVMFuzzerTestOneInput once over every input file named, or over
 * every file of every folder named (sorted by name, not recursive). No fuzzing: a
 * regression check of the committed corpus under the test build's sanitizers and the
 * invariants check. Fuzzing itself is scripts/fuzz's (clang, libFuzzer).
 *
 *   fuzz_NAME_replay FILE_OR_DIR...
 *
 * Prints "NAME: N inputs" and exits 0 when every input ran; a harness that finds a
 * violation abort()s, as under libFuzzer, and the input's path is printed before it
 * runs (stderr) so the last line names it.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The largest input replayed: every committed input is far smaller. */
#define REPLAY_BYTES_MAX (1u << 20)

static uint8_t buf[REPLAY_BYTES_MAX];

static int run_file(const char *path, unsigned *n)
{
	FILE *f = fopen(path, "rb");
	size_t len;

	if (f == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	len = fread(buf, 1, sizeof(buf), f);
	if (ferror(f) || (len == sizeof(buf) && fgetc(f) != EOF)) {
		fprintf(stderr, "replay: %s: unreadable or over %u bytes\n", path,
			REPLAY_BYTES_MAX);
		fclose(f);
		return -1;
	}
	fclose(f);
	/* A copy of exactly len bytes: ASan then sees a read past the input's end. */
	uint8_t *in = malloc(len ? len : 1);
	if (in == NULL) {
		fprintf(stderr, "replay: out of memory\n");
		return -1;
	}
	memcpy(in, buf, len);
	fprintf(stderr, "replay: %s\n", path);
	LLVMFuzzerTestOneInput(in, len);
	free(in);
	(*n)++;
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int skip_dots(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

int main(int argc, char **argv)
{
	unsigned n = 0;
	const char *name = strrchr(argv[0], '/');

	name = name ? name + 1 : argv[0];
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE_OR_DIR...\n", name);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (run_file(argv[i], &n) != 0)
				return 1;
			continue;
		}
		struct dirent **list;
		int k = scandir(argv[i], &list, skip_dots, by_name);
		if (k < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		int rc = 0;
		for (int j = 0; j < k; j++) {
			char path[4096];

			if (rc == 0 && snprintf(path, sizeof(path), "%s/%s", argv[i],
						list[j]->d_name) < (int)sizeof(path))
				rc = run_file(path, &n);
			free(list[j]);
		}
		free(list);
		if (rc != 0)
			return 1;
	}
	if (n == 0) {
		fprintf(stderr, "replay: no input found\n");
		return 1;
	}
	printf("%s: %u inputs\n", name, n);
	return 0;
}
