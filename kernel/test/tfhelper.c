// SPDX-License-Identifier: GPL-2.0
/*
 * tfhelper: tiny static workload helper for the qemu test guest, where only
 * busybox is available.
 *
 *   tfhelper spin <threads>   <threads> busy threads + the waiting main thread
 *   tfhelper alloc <MiB>      touch <MiB> of anonymous memory, then sleep
 *   tfhelper comm <hex>       set own comm to the hex-decoded bytes, then sleep
 *   tfhelper churn            forever: fork+exit children, create+exit threads
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static void *spin(void *arg)
{
	volatile unsigned long n = 0;

	(void)arg;
	for (;;)
		n++;
	return NULL;
}

static void *quick(void *arg)
{
	volatile unsigned long n = 0;
	unsigned long i;

	for (i = 0; i < 20000; i++)
		n += i;
	return arg;
}

static void sleep_forever(void)
{
	for (;;)
		pause();
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		goto usage;

	if (!strcmp(argv[1], "spin") && argc == 3) {
		int i, n = atoi(argv[2]);
		pthread_t t;

		for (i = 0; i < n; i++)
			if (pthread_create(&t, NULL, spin, NULL))
				return 1;
		sleep_forever();
	}

	if (!strcmp(argv[1], "alloc") && argc == 3) {
		size_t len = (size_t)atoi(argv[2]) << 20;
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

		if (p == MAP_FAILED)
			return 1;
		memset(p, 0x5a, len);
		sleep_forever();
	}

	if (!strcmp(argv[1], "comm") && argc == 3) {
		char name[16] = { 0 };
		const char *h = argv[2];
		size_t i;

		for (i = 0; i < sizeof(name) - 1 && h[2 * i] && h[2 * i + 1]; i++)
			name[i] = (char)(hexval(h[2 * i]) << 4 | hexval(h[2 * i + 1]));
		if (prctl(PR_SET_NAME, name, 0, 0, 0))
			return 1;
		sleep_forever();
	}

	if (!strcmp(argv[1], "churn") && argc == 2) {
		signal(SIGCHLD, SIG_DFL);
		for (;;) {
			pthread_t t[4];
			int i;
			pid_t pid = fork();

			if (pid == 0)
				_exit(0);
			for (i = 0; i < 4; i++)
				pthread_create(&t[i], NULL, quick, NULL);
			for (i = 0; i < 4; i++)
				pthread_join(t[i], NULL);
			if (pid > 0)
				waitpid(pid, NULL, 0);
		}
	}

usage:
	fprintf(stderr, "usage: tfhelper spin N | alloc MiB | comm HEX | churn\n");
	return 2;
}
