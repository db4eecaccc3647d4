#pragma once
// How the sandbox calls merchants back (notifications) and how its command line reaches a running
// sandbox: one HTTP POST through libcurl with a total deadline.
#include <absl/status/statusor.h>

#include <chrono>
#include <map>
#include <string>

namespace orderly::sandbox {

struct HttpReply {
  int status = 0;
  std::string body;
};

absl::StatusOr<HttpReply> HttpPost(const std::string& url,
                                   const std::map<std::string, std::string>& headers,
                                   const std::string& body, std::chrono::milliseconds timeout);

}  // namespace orderly::sandbox
