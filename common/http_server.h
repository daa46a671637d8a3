// HttpServer: the small HTTP server every dfs process runs beside its gRPC server, for
// operators: `/metrics` (Prometheus text format, common/metrics.h) always, plus pages the
// process adds (the master's status page at `/`). Loopback by default; it serves GET only and
// closes each connection after one answer, so a handful of threads is plenty.
//
// Thread-safety: Handle() before Start(); Start/Stop from the owning thread; handlers run on
// the server's threads, several at once.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace httplib {
class Server;
}

namespace dfs {

struct HttpRequest {
  std::string path;
  std::map<std::string, std::string> params;  // query parameters
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  std::string listen_address;  // host:port; port 0 picks a free port
  std::string port_file;       // if set, the bound host:port is written here once listening
  int threads = 4;
};

class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();  // stops
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Serves GET `path` (an exact path) with `handler`. Before Start.
  void Handle(const std::string& path, HttpHandler handler);
  // Binds, writes the port file and starts serving (with /metrics added).
  absl::Status Start();
  void Stop();  // idempotent

  // "host:port" once started (a wildcard host is shown as 127.0.0.1).
  const std::string& address() const { return address_; }
  std::string url() const { return "http://" + address_ + "/"; }

 private:
  const HttpServerOptions options_;
  std::unique_ptr<httplib::Server> server_;
  std::vector<std::pair<std::string, HttpHandler>> handlers_;
  std::string address_;
  std::thread thread_;
};

// The process's HTTP server as its flags ask: none when `listen_address` is empty. Logs the URL.
absl::StatusOr<std::unique_ptr<HttpServer>> StartHttpServer(
    const std::string& listen_address, const std::string& port_file,
    std::vector<std::pair<std::string, HttpHandler>> handlers = {});

// Text made safe to put inside HTML elements and quoted attributes.
std::string HtmlEscape(const std::string& text);

}  // namespace dfs
