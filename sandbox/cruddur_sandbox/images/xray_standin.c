/* Stand-in for the AWS X-Ray daemon (public.ecr.aws/xray/aws-xray-daemon) in
 * the Cruddur sandbox, which reaches no public registry. Listens where the
 * daemon does, on 0.0.0.0:2000: UDP (segments; each datagram is logged in one
 * line) and TCP (the SDKs' sampling API; answered with "no rules", so the SDK
 * falls back to its local sampling). Runs as any user; ignores its arguments.
 * Built static, so its image is this one file. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static int listen_on(int type, int port) {
    int fd = socket(AF_INET, type, 0), one = 1;
    struct sockaddr_in a;
    if (fd < 0) return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) return -1;
    if (type == SOCK_STREAM && listen(fd, 16) < 0) return -1;
    return fd;
}

static void answer(int fd) {
    char req[8192];
    const char *body;
    char head[256];
    ssize_t n = recv(fd, req, sizeof req - 1, 0);
    if (n <= 0) return;
    req[n] = 0;
    if (strstr(req, "SamplingTargets"))
        body = "{\"LastRuleModification\":0,\"SamplingTargetDocuments\":[],\"UnprocessedStatistics\":[]}";
    else
        body = "{\"SamplingRuleRecords\":[]}";
    snprintf(head, sizeof head,
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
             strlen(body));
    if (send(fd, head, strlen(head), MSG_NOSIGNAL) > 0) send(fd, body, strlen(body), MSG_NOSIGNAL);
    printf("xray stand-in: answered a sampling request (%.*s)\n", (int)strcspn(req, "\r\n"), req);
}

int main(void) {
    int udp, tcp, port = 2000;
    struct pollfd fds[2];
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    udp = listen_on(SOCK_DGRAM, port);
    tcp = listen_on(SOCK_STREAM, port);
    if (udp < 0 || tcp < 0) {
        printf("xray stand-in: cannot listen on port %d: %s\n", port, strerror(errno));
        return 1;
    }
    printf("xray stand-in (sandbox): listening on 0.0.0.0:%d udp and tcp, uid %d\n", port, (int)getuid());
    fds[0].fd = udp; fds[0].events = POLLIN;
    fds[1].fd = tcp; fds[1].events = POLLIN;
    while (!stop) {
        if (poll(fds, 2, 1000) <= 0) continue;
        if (fds[0].revents & POLLIN) {
            char buf[65536];
            struct sockaddr_in from;
            socklen_t len = sizeof from;
            ssize_t n = recvfrom(udp, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
            if (n > 0) {
                int shown = n > 300 ? 300 : (int)n;
                for (int i = 0; i < shown; i++) if (buf[i] == '\n' || buf[i] == '\r') buf[i] = ' ';
                printf("xray stand-in: received %zd bytes from %s:%d: %.*s%s\n", n, inet_ntoa(from.sin_addr),
                       ntohs(from.sin_port), shown, buf, n > shown ? "..." : "");
            }
        }
        if (fds[1].revents & POLLIN) {
            int c = accept(tcp, NULL, NULL);
            if (c >= 0) { answer(c); close(c); }
        }
    }
    printf("xray stand-in: stopping\n");
    return 0;
}
