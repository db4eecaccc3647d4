#include "redis_pipeline.hpp"

#include <absl/strings/match.h>
#include <absl/strings/str_cat.h>
#include <hiredis/hiredis.h>

namespace orderly::inventory {
namespace {

timeval ToTimeval(std::chrono::milliseconds ms) {
  timeval tv;
  tv.tv_sec = ms.count() / 1000;
  tv.tv_usec = (ms.count() % 1000) * 1000;
  return tv;
}

absl::StatusOr<redis::Reply> FromHiredis(const redisReply* r) {
  redis::Reply out;
  switch (r->type) {
    case REDIS_REPLY_NIL: out.type = redis::Reply::Type::kNil; break;
    case REDIS_REPLY_INTEGER:
      out.type = redis::Reply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
      out.type = redis::Reply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = redis::Reply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR: {
      std::string msg(r->str, r->len);
      if (absl::StartsWith(msg, "NOSCRIPT")) return absl::NotFoundError(msg);
      return absl::InternalError("redis: " + msg);
    }
    case REDIS_REPLY_ARRAY:
      out.type = redis::Reply::Type::kArray;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) {
        auto e = FromHiredis(r->element[i]);
        if (!e.ok()) return e.status();
        out.elements.push_back(*std::move(e));
      }
      break;
    default: return absl::InternalError("redis: unexpected reply type");
  }
  return out;
}

}  // namespace

RedisPipeline::RedisPipeline(redis::ClientOptions options, size_t max_batch, bool caller_runs)
    : options_(std::move(options)), max_batch_(max_batch), caller_runs_(caller_runs) {
  if (!caller_runs_) thread_ = std::thread([this] { Loop(); });
}

RedisPipeline::~RedisPipeline() {
  {
    std::unique_lock lock(mu_);
    stop_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !leading_; });
  }
  if (thread_.joinable()) thread_.join();
  for (auto& p : queue_) p.done(absl::UnavailableError("redis pipeline stopped"));
  if (ctx_ != nullptr) redisFree(ctx_);
}

void RedisPipeline::Submit(std::vector<std::string> argv, Callback done) {
  std::unique_lock lock(mu_);
  if (stop_) {
    lock.unlock();
    done(absl::UnavailableError("redis pipeline stopped"));
    return;
  }
  queue_.push_back({std::move(argv), std::move(done)});
  if (!caller_runs_) {
    if (queue_.size() == 1) cv_.notify_one();
    return;
  }
  // Someone is already sending: it takes this command with its next batch.
  if (leading_) return;
  leading_ = true;
  std::vector<Pending> batch;
  while (!queue_.empty()) {
    while (!queue_.empty() && batch.size() < max_batch_) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    lock.unlock();
    RunBatch(batch);
    batch.clear();
    lock.lock();
  }
  leading_ = false;
  cv_.notify_all();
}

bool RedisPipeline::Connect() {
  if (ctx_ != nullptr) return true;
  ctx_ = redisConnectWithTimeout(options_.host.c_str(), options_.port,
                                 ToTimeval(options_.connect_timeout));
  if (ctx_ == nullptr || ctx_->err != 0) {
    if (ctx_ != nullptr) redisFree(ctx_);
    ctx_ = nullptr;
    return false;
  }
  redisSetTimeout(ctx_, ToTimeval(options_.command_timeout));
  return true;
}

void RedisPipeline::RunBatch(std::vector<Pending>& batch) {
  auto fail_from = [&](size_t from, const std::string& why) {
    if (ctx_ != nullptr) redisFree(ctx_);
    ctx_ = nullptr;
    for (size_t i = from; i < batch.size(); ++i) batch[i].done(absl::UnavailableError(why));
  };
  if (!Connect()) return fail_from(0, "redis pipeline: connect failed");
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const auto& p : batch) {
    args.clear();
    lens.clear();
    for (const auto& a : p.argv) {
      args.push_back(a.data());
      lens.push_back(a.size());
    }
    redisAppendCommandArgv(ctx_, static_cast<int>(args.size()), args.data(), lens.data());
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) {
      return fail_from(
          i, absl::StrCat("redis pipeline: ",
                          ctx_ != nullptr && ctx_->errstr[0] ? ctx_->errstr : "connection lost"));
    }
    auto* reply = static_cast<redisReply*>(raw);
    auto converted = FromHiredis(reply);
    freeReplyObject(reply);
    batch[i].done(std::move(converted));
  }
}

void RedisPipeline::Loop() {
  std::vector<Pending> batch;
  while (true) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      while (!queue_.empty() && batch.size() < max_batch_) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    RunBatch(batch);
    batch.clear();
  }
}

}  // namespace orderly::inventory
