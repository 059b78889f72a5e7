// Load generators for the agent benchmarks, in C so that the load itself costs
// little CPU on a 2-core machine shared with the agent it measures:
//
//   pfq-load udp-sink ADDR PORT NPORTS [dns]
//       binds NPORTS UDP ports from PORT and drains them (no ICMP port
//       unreachable, no receive-buffer drops); with "dns" it answers every
//       message as a DNS response (QR set, NOERROR, no answers). Runs until killed.
//   pfq-load udp-flows SRC DST SPORT NSPORTS DPORT NDPORTS PPS
//       one UDP packet per 5-tuple (SRC:SPORT.. -> DST:DPORT..), NSPORTS x NDPORTS
//       distinct flows, from a raw socket at PPS packets/s; prints "sent N".
//   pfq-load dns-query DST PORT RATE SECONDS
//       DNS A queries at RATE/s for SECONDS; the query name carries the send
//       time (CLOCK_REALTIME, microseconds) as "t<us>.q<seq>.pfq.bench";
//       responses are read and discarded; prints "sent N received M".
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAX_PORTS 64

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static uint64_t now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct in_addr parse_addr(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1) {
		fprintf(stderr, "pfq-load: expected an IPv4 address, got '%s'\n", s);
		exit(2);
	}
	return a;
}

static long parse_num(const char *s, const char *what, long min, long max)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "pfq-load: %s: expected a number %ld-%ld, got '%s'\n", what, min, max, s);
		exit(2);
	}
	return v;
}

/* Packets owed at this moment to hold `rate` per second since `start`. */
static uint64_t owed(uint64_t start, uint64_t rate)
{
	return (now_ns(CLOCK_MONOTONIC) - start) * rate / 1000000000ull;
}

/* Sends every message; waits for room when the socket buffer is full (a lost answer would be a lost record). */
static void send_all(int fd, struct mmsghdr *msgs, int n)
{
	for (int done = 0; done < n;) {
		int k = sendmmsg(fd, msgs + done, n - done, 0);

		if (k > 0) {
			done += k;
		} else if (errno == EAGAIN || errno == ENOBUFS) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };

			poll(&p, 1, 10);
		} else {
			die("sendmmsg");
		}
	}
}

static int udp_sink(int argc, char **argv)
{
	struct pollfd fds[MAX_PORTS];
	struct mmsghdr msgs[BATCH];
	struct iovec iovs[BATCH];
	struct sockaddr_in peers[BATCH];
	static char bufs[BATCH][2048];
	struct in_addr addr;
	int port, nports, dns;

	if (argc < 5)
		return fprintf(stderr, "usage: pfq-load udp-sink ADDR PORT NPORTS [dns]\n"), 2;
	addr = parse_addr(argv[2]);
	port = parse_num(argv[3], "PORT", 1, 65535);
	nports = parse_num(argv[4], "NPORTS", 1, MAX_PORTS);
	dns = argc > 5 && strcmp(argv[5], "dns") == 0;
	for (int i = 0; i < nports; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr = addr, .sin_port = htons(port + i) };
		int rcvbuf = 8 << 20;

		fds[i].fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		if (fds[i].fd < 0)
			die("socket");
		setsockopt(fds[i].fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
		if (bind(fds[i].fd, (struct sockaddr *)&sa, sizeof(sa)))
			die("bind");
		fds[i].events = POLLIN;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		if (poll(fds, nports, -1) < 0 && errno != EINTR)
			die("poll");
		for (int i = 0; i < nports; i++) {
			int n;

			if (!(fds[i].revents & POLLIN))
				continue;
			do {
				for (int j = 0; j < BATCH; j++) {
					iovs[j] = (struct iovec){ bufs[j], sizeof(bufs[j]) };
					msgs[j].msg_hdr = (struct msghdr){ .msg_name = &peers[j], .msg_namelen = sizeof(peers[j]),
									   .msg_iov = &iovs[j], .msg_iovlen = 1 };
				}
				n = recvmmsg(fds[i].fd, msgs, BATCH, MSG_DONTWAIT, NULL);
				if (n > 0 && dns) {
					for (int j = 0; j < n; j++) {
						/* QR=1, RD kept, RA=1, RCODE=0 (NOERROR); header fields after it unchanged. */
						bufs[j][2] |= 0x80;
						bufs[j][3] = (char)0x80;
						iovs[j].iov_len = msgs[j].msg_len;
					}
					send_all(fds[i].fd, msgs, n);
				}
			} while (n == BATCH);
		}
	}
}

static int udp_flows(int argc, char **argv)
{
	struct sockaddr_in to = { .sin_family = AF_INET };
	struct {
		struct iphdr ip;
		struct udphdr udp;
		char payload[16];
	} pkt;
	long sport, nsports, dport, ndports, pps;
	uint64_t total, sent = 0, start;
	int fd;

	if (argc < 9)
		return fprintf(stderr, "usage: pfq-load udp-flows SRC DST SPORT NSPORTS DPORT NDPORTS PPS\n"), 2;
	sport = parse_num(argv[4], "SPORT", 1, 65535);
	nsports = parse_num(argv[5], "NSPORTS", 1, 65536 - sport);
	dport = parse_num(argv[6], "DPORT", 1, 65535);
	ndports = parse_num(argv[7], "NDPORTS", 1, 65536 - dport);
	pps = parse_num(argv[8], "PPS", 1, 10000000);
	fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (fd < 0)
		die("socket(SOCK_RAW) (needs CAP_NET_RAW)");
	memset(&pkt, 0, sizeof(pkt));
	pkt.ip.version = 4;
	pkt.ip.ihl = 5;
	pkt.ip.ttl = 64;
	pkt.ip.protocol = IPPROTO_UDP;
	pkt.ip.saddr = parse_addr(argv[2]).s_addr;
	pkt.ip.daddr = parse_addr(argv[3]).s_addr;
	pkt.udp.len = htons(sizeof(pkt.udp) + sizeof(pkt.payload));
	to.sin_addr.s_addr = pkt.ip.daddr;
	total = (uint64_t)nsports * (uint64_t)ndports;
	start = now_ns(CLOCK_MONOTONIC);
	for (long d = 0; d < ndports; d++) {
		for (long s = 0; s < nsports; s++) {
			/* The kernel fills in the IP checksum, length and id; a zero UDP checksum means none (IPv4). */
			pkt.udp.source = htons(sport + s);
			pkt.udp.dest = htons(dport + d);
			while (sent >= owed(start, pps))
				usleep(200);
			if (sendto(fd, &pkt, sizeof(pkt), 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
				if (errno == ENOBUFS || errno == EAGAIN) {
					s--;
					usleep(100);
					continue;
				}
				die("sendto");
			}
			sent++;
		}
	}
	printf("sent %llu\n", (unsigned long long)total);
	return 0;
}

/* A DNS query for "t<us>.q<seq>.pfq.bench" type A class IN; returns its length. */
static int dns_query(char *buf, uint16_t id, uint64_t seq)
{
	char label[32];
	int n = 12, len;

	memset(buf, 0, 12);
	buf[0] = id >> 8;
	buf[1] = id & 0xff;
	buf[2] = 0x01; /* RD */
	buf[5] = 1;    /* QDCOUNT */
	len = snprintf(label, sizeof(label), "t%llu", (unsigned long long)(now_ns(CLOCK_REALTIME) / 1000));
	buf[n++] = len;
	memcpy(buf + n, label, len), n += len;
	len = snprintf(label, sizeof(label), "q%llu", (unsigned long long)seq);
	buf[n++] = len;
	memcpy(buf + n, label, len), n += len;
	memcpy(buf + n, "\3pfq\5bench\0\0\1\0\1", 15);
	return n + 15;
}

/* Reads what is waiting (responses), BATCH at a time; returns how many. */
static int drain(int fd)
{
	static char bufs[BATCH][512];
	struct mmsghdr msgs[BATCH];
	struct iovec iovs[BATCH];
	int total = 0, n;

	do {
		for (int j = 0; j < BATCH; j++) {
			iovs[j] = (struct iovec){ bufs[j], sizeof(bufs[j]) };
			msgs[j].msg_hdr = (struct msghdr){ .msg_iov = &iovs[j], .msg_iovlen = 1 };
		}
		n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
		if (n > 0)
			total += n;
	} while (n == BATCH);
	return total;
}

static int dns_flood(int argc, char **argv)
{
	struct sockaddr_in to = { .sin_family = AF_INET };
	static char bufs[BATCH][128];
	struct mmsghdr msgs[BATCH];
	struct iovec iovs[BATCH];
	uint64_t rate, sent = 0, received = 0, start, end;
	int fd;

	if (argc < 6)
		return fprintf(stderr, "usage: pfq-load dns-query DST PORT RATE SECONDS\n"), 2;
	to.sin_addr = parse_addr(argv[2]);
	to.sin_port = htons(parse_num(argv[3], "PORT", 1, 65535));
	rate = parse_num(argv[4], "RATE", 1, 10000000);
	start = now_ns(CLOCK_MONOTONIC);
	end = start + (uint64_t)parse_num(argv[5], "SECONDS", 1, 3600) * 1000000000ull;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		die("socket");
	if (connect(fd, (struct sockaddr *)&to, sizeof(to)))
		die("connect");
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &(int){ 8 << 20 }, sizeof(int));
	while (now_ns(CLOCK_MONOTONIC) < end) {
		uint64_t due = owed(start, rate);
		int n = due - sent > BATCH ? BATCH : (int)(due - sent);

		for (int j = 0; j < n; j++) {
			iovs[j] = (struct iovec){ bufs[j], dns_query(bufs[j], (sent + j) & 0xffff, sent + j) };
			msgs[j].msg_hdr = (struct msghdr){ .msg_iov = &iovs[j], .msg_iovlen = 1 };
		}
		if (n > 0) {
			int k = sendmmsg(fd, msgs, n, 0);

			if (k > 0)
				sent += k;
			else if (errno != EAGAIN && errno != ENOBUFS)
				die("sendmmsg");
		}
		received += drain(fd);
		if (n < BATCH)
			usleep(500);
	}
	/* Late responses still count: they are what the agent pairs queries with. */
	usleep(200000);
	received += drain(fd);
	printf("sent %llu received %llu\n", (unsigned long long)sent, (unsigned long long)received);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "udp-sink") == 0)
		return udp_sink(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "udp-flows") == 0)
		return udp_flows(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "dns-query") == 0)
		return dns_flood(argc, argv);
	fprintf(stderr, "usage: pfq-load udp-sink|udp-flows|dns-query ... (see the comment at the top of pfq-load.c)\n");
	return 2;
}
