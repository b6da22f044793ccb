/* Test helper: builds a filter with libseccomp from a line protocol on
 * stdin and writes the program seccomp_export_bpf() makes, so the tests can
 * run it beside corral's. One request per line:
 *
 *   default ACTION                  the default action (SCMP_ACT_* value)
 *   arch TOKEN                      add an architecture (SCMP_ARCH_* value)
 *   remove TOKEN                    remove one (the native one, say: libseccomp
 *                                   refuses to mix byte orders in a filter)
 *   rule ACTION NAME N [ARG OP DATUM_A DATUM_B]*N
 *                                   add a rule; prints "rule NAME RC"
 *   resolve TOKEN NAME              prints the number of NAME there, or -1
 *   export PATH                     write the BPF program to PATH
 *
 * Before the first rule: seccomp_init(default), the bad-architecture
 * action set to KILL_PROCESS (corral's), no NO_NEW_PRIVS. Numbers are
 * decimal or 0x hex. Exits non-zero on a request it cannot serve.
 */
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static scmp_filter_ctx ctx;

static void need_ctx(void)
{
	if (ctx == NULL) {
		fprintf(stderr, "no default line before the first rule\n");
		exit(2);
	}
}

int main(void)
{
	char line[4096];
	while (fgets(line, sizeof(line), stdin) != NULL) {
		char *save = NULL;
		char *word = strtok_r(line, " \n", &save);
		if (word == NULL)
			continue;
		if (strcmp(word, "default") == 0) {
			unsigned long act = strtoul(strtok_r(NULL, " \n", &save), NULL, 0);
			ctx = seccomp_init((uint32_t)act);
			if (ctx == NULL) {
				fprintf(stderr, "seccomp_init(%#lx) failed\n", act);
				return 2;
			}
			if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) != 0 ||
			    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) != 0) {
				fprintf(stderr, "seccomp_attr_set failed\n");
				return 2;
			}
		} else if (strcmp(word, "arch") == 0) {
			need_ctx();
			unsigned long token = strtoul(strtok_r(NULL, " \n", &save), NULL, 0);
			int rc = seccomp_arch_add(ctx, (uint32_t)token);
			if (rc != 0 && rc != -EEXIST) {
				fprintf(stderr, "seccomp_arch_add(%#lx): %d\n", token, rc);
				return 2;
			}
		} else if (strcmp(word, "remove") == 0) {
			need_ctx();
			unsigned long token = strtoul(strtok_r(NULL, " \n", &save), NULL, 0);
			int rc = seccomp_arch_remove(ctx, (uint32_t)token);
			if (rc != 0) {
				fprintf(stderr, "seccomp_arch_remove(%#lx): %d\n", token, rc);
				return 2;
			}
		} else if (strcmp(word, "rule") == 0) {
			need_ctx();
			unsigned long act = strtoul(strtok_r(NULL, " \n", &save), NULL, 0);
			char *name = strtok_r(NULL, " \n", &save);
			unsigned n = (unsigned)strtoul(strtok_r(NULL, " \n", &save), NULL, 0);
			struct scmp_arg_cmp cmp[6];
			if (name == NULL || n > 6) {
				fprintf(stderr, "bad rule line\n");
				return 2;
			}
			for (unsigned i = 0; i < n; i++) {
				cmp[i].arg = (unsigned)strtoul(strtok_r(NULL, " \n", &save), NULL, 0);
				cmp[i].op = (enum scmp_compare)strtoul(strtok_r(NULL, " \n", &save), NULL, 0);
				cmp[i].datum_a = strtoull(strtok_r(NULL, " \n", &save), NULL, 0);
				cmp[i].datum_b = strtoull(strtok_r(NULL, " \n", &save), NULL, 0);
			}
			int nr = seccomp_syscall_resolve_name(name);
			int rc = nr == __NR_SCMP_ERROR ? -ENOENT
				 : seccomp_rule_add_array(ctx, (uint32_t)act, nr, n, cmp);
			printf("rule %s %d\n", name, rc);
		} else if (strcmp(word, "resolve") == 0) {
			unsigned long token = strtoul(strtok_r(NULL, " \n", &save), NULL, 0);
			char *name = strtok_r(NULL, " \n", &save);
			printf("%d\n", seccomp_syscall_resolve_name_arch((uint32_t)token, name));
		} else if (strcmp(word, "export") == 0) {
			need_ctx();
			char *path = strtok_r(NULL, " \n", &save);
			int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			if (fd < 0 || seccomp_export_bpf(ctx, fd) != 0 || close(fd) != 0) {
				fprintf(stderr, "export to %s failed\n", path);
				return 2;
			}
		} else {
			fprintf(stderr, "unknown request %s\n", word);
			return 2;
		}
		fflush(stdout);
	}
	seccomp_release(ctx);
	return 0;
}
