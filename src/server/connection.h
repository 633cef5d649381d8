// Client-disconnect detection for non-streaming requests. cpp-httplib 0.11 (Debian 12) gives a handler no way to
// learn that its client went away (later versions have Request::is_connection_closed), so the handler finds its
// own connection's socket from the request's address pair and peeks at it. Linux only (/proc/self/fd); elsewhere
// find_connection_socket returns -1 and a request simply runs to its end.
#pragma once

#include <string>

namespace specula::server {

// The socket of this process whose local and peer addresses are these (numeric host strings as httplib writes
// them), or -1 when there is none (or /proc is unavailable). The socket stays valid while the handler of the
// request that came through it runs (httplib closes it only after the handler returns).
int find_connection_socket(const std::string& local_addr, int local_port, const std::string& remote_addr,
                           int remote_port);

// True when the peer has closed its side (an orderly EOF or a reset is pending); false while the connection is
// open, also when the client has already sent more bytes (a pipelined request). Never blocks, never consumes data.
// Note: a client that half-closes (shutdown(SHUT_WR)) and still waits for the answer looks closed; HTTP/1.1
// clients do not do that.
bool peer_closed(int fd);

}  // namespace specula::server
