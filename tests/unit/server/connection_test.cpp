// Client-disconnect detection: a loopback TCP connection is found from its address pair, looks open while the
// client is connected (also with unread bytes pending), and closed once the client closes it.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "server/connection.h"

namespace specula::server {
namespace {

int port_of(int fd, bool peer) {
  sockaddr_in a{};
  socklen_t len = sizeof(a);
  EXPECT_EQ(peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len)
                 : getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  return ntohs(a.sin_port);
}

TEST(Connection, FindsTheSocketAndSeesTheClientClose) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(listener, 1), 0);
  const int server_port = port_of(listener, false);
  const int client = socket(AF_INET, SOCK_STREAM, 0);
  addr.sin_port = htons(static_cast<uint16_t>(server_port));
  ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const int conn = accept(listener, nullptr, nullptr);
  ASSERT_GE(conn, 0);
  const int client_port = port_of(client, false);

  EXPECT_EQ(find_connection_socket("127.0.0.1", server_port, "127.0.0.1", client_port), conn);
  EXPECT_EQ(find_connection_socket("127.0.0.1", server_port, "127.0.0.1", client_port + 1 > 65535 ? 1 : client_port + 1),
            -1);
  EXPECT_EQ(find_connection_socket("127.0.0.1", -1, "127.0.0.1", client_port), -1);
  EXPECT_FALSE(peer_closed(conn));
  ASSERT_EQ(send(client, "GET", 3, 0), 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(peer_closed(conn));  // unread bytes: still open (and they stay unread)
  char buf[3];
  ASSERT_EQ(recv(conn, buf, 3, MSG_DONTWAIT), 3);
  close(client);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(peer_closed(conn));
  close(conn);
  close(listener);
}

}  // namespace
}  // namespace specula::server
