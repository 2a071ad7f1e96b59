/* SPDX-License-Identifier: Apache-2.0
 * tel-query SOCKET COMMAND: sends one command to a DPDK telemetry socket
 * (SOCK_SEQPACKET, protocol v2) and prints the JSON reply. For the telemetry test.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: tel-query SOCKET COMMAND\n");
		return 2;
	}
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[1]);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		perror("tel-query: connect");
		return 1;
	}
	static char buf[1 << 16];
	if (recv(fd, buf, sizeof(buf), 0) <= 0) { /* greeting */
		perror("tel-query: greeting");
		return 1;
	}
	if (send(fd, argv[2], strlen(argv[2]), 0) < 0) {
		perror("tel-query: send");
		return 1;
	}
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0) {
		perror("tel-query: reply");
		return 1;
	}
	buf[n] = '\0';
	printf("%s\n", buf);
	close(fd);
	return 0;
}
