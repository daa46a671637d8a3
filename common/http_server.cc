#include "common/http_server.h"

#include <httplib.h>

#include <chrono>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/status.h"

namespace dfs {
namespace {

HttpResponse ServeMetrics(const HttpRequest&) {
  HttpResponse response;
  response.content_type = "text/plain; version=0.0.4; charset=utf-8";
  response.body = metrics::Registry::Default().Render();
  return response;
}

}  // namespace

HttpServer::HttpServer(HttpServerOptions options) : options_(std::move(options)) {
  handlers_.emplace_back("/metrics", ServeMetrics);
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Handle(const std::string& path, HttpHandler handler) {
  handlers_.emplace_back(path, std::move(handler));
}

absl::Status HttpServer::Start() {
  DFS_CHECK(server_ == nullptr);
  const std::string& listen = options_.listen_address;
  size_t colon = listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("HTTP address must be host:port: ", listen));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "0.0.0.0";

  server_ = std::make_unique<httplib::Server>();
  const int threads = options_.threads;
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // One request per connection: no idle keep-alive connection can hold a thread.
  server_->set_keep_alive_max_count(1);
  server_->set_read_timeout(5);
  server_->set_write_timeout(5);
  for (const auto& [path, handler] : handlers_) {
    // httplib matches patterns as regular expressions; our paths have no special characters.
    server_->Get(path, [handler = handler](const httplib::Request& req, httplib::Response& res) {
      HttpRequest request;
      request.path = req.path;
      for (const auto& [key, value] : req.params) request.params[key] = value;
      HttpResponse response = handler(request);
      res.status = response.status;
      for (const auto& [name, value] : response.headers) res.set_header(name, value);
      res.set_content(response.body, response.content_type);
    });
  }
  int bound;
  if (port == 0) {
    bound = server_->bind_to_any_port(host);
  } else {
    bound = server_->bind_to_port(host, port) ? port : -1;
  }
  if (bound <= 0) {
    server_.reset();
    return absl::UnavailableError(absl::StrCat("cannot listen for HTTP on ", listen));
  }
  std::string shown_host = listen.substr(0, colon);
  if (shown_host.empty() || shown_host == "0.0.0.0" || shown_host == "[::]") {
    shown_host = "127.0.0.1";
  }
  address_ = absl::StrCat(shown_host, ":", bound);
  thread_ = std::thread([server = server_.get()] { server->listen_after_bind(); });
  // stop() is a no-op until the loop runs, so Stop() right after Start() would hang without this.
  for (int i = 0; i < 2000 && !server_->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!options_.port_file.empty()) {
    if (absl::Status s = WriteFileAtomic(options_.port_file, address_); !s.ok()) {
      Stop();
      return s;
    }
  }
  return absl::OkStatus();
}

void HttpServer::Stop() {
  if (server_ == nullptr) return;
  server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

absl::StatusOr<std::unique_ptr<HttpServer>> StartHttpServer(
    const std::string& listen_address, const std::string& port_file,
    std::vector<std::pair<std::string, HttpHandler>> handlers) {
  if (listen_address.empty()) return std::unique_ptr<HttpServer>();
  HttpServerOptions options;
  options.listen_address = listen_address;
  options.port_file = port_file;
  auto server = std::make_unique<HttpServer>(std::move(options));
  for (auto& [path, handler] : handlers) server->Handle(path, std::move(handler));
  DFS_RETURN_IF_ERROR(server->Start());
  DFS_LOG(INFO) << "HTTP on " << server->url() << " (metrics: " << server->url() << "metrics)";
  return server;
}

std::string HtmlEscape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace dfs
