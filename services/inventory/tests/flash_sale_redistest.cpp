// Flash sales on real Redis and PostgreSQL: the race for the last units through the Lua gate,
// Redis killed mid-sale, replays and reorders, the drain of unpersisted grants, reconciliation
// and epoch fencing.
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "inventory_fixture.hpp"
#include "orderly/core/metrics.hpp"
#include "redis_pipeline.hpp"
#include "worker_pool.hpp"

extern char** environ;

namespace orderly::inventory::testing {
namespace {

// A private redis-server on a free port, for tests that kill it.
class PrivateRedis {
 public:
  PrivateRedis() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    close(fd);
    Start();
  }
  ~PrivateRedis() { Kill(); }

  void Start() {
    const std::string port = std::to_string(port_);
    std::vector<std::string> args = {
        "redis-server", "--port", port,          "--bind", "127.0.0.1",  "--save", "",
        "--appendonly", "no",     "--daemonize", "no",     "--loglevel", "warning"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawnp(&pid_, "redis-server", nullptr, nullptr, argv.data(), environ);
    // Wait until it answers.
    for (int i = 0; i < 100; ++i) {
      redis::ClientOptions o;
      o.port = port_;
      auto c = redis::Client::Create(o);
      if (c.ok() && (*c)->Ping().ok()) return;
      std::this_thread::sleep_for(20ms);
    }
  }

  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  int port() const { return port_; }

 private:
  int port_ = 0;
  pid_t pid_ = -1;
};

class FlashSaleTest : public InventoryFixture {
 protected:
  void SetUp() override {
    InventoryFixture::SetUp();
    if (HasFatalFailure()) return;
    ORDERLY_ASSERT_OK_AND_ASSIGN(auto ro, orderly::testing::RedisOptionsFromEnv());
    ConnectRedis(ro);
  }

  int PoolSize() override { return 32; }

  void ConnectRedis(redis::ClientOptions ro) {
    ro.pool_size = 32;
    ro.command_timeout = ro.connect_timeout = 200ms;
    ORDERLY_ASSERT_OK_AND_ASSIGN(redis_, redis::Client::Create(ro));
    store_ = std::make_unique<RedisFlashSaleStore>(*redis_);
    ReservationManagerOptions options;
    options.sku_cache_ttl = 0ms;  // tests change SKUs under the manager
    MakeReservations(store_.get(), options);
    flash_ = std::make_unique<FlashSaleManager>(*repo_, *store_, *reservations_, clock_);
  }

  SkuRecord FlashSku(const std::string& id) {
    SkuRecord s = Sku(id);
    s.flash_sale = true;
    return s;
  }

  ReserveCommand Flash(const std::string& order, const std::string& sku, int64_t q = 1) {
    return Cmd(order, {{sku, q}}, common::v1::ORDER_TYPE_FLASH_SALE);
  }

  int64_t Counter(const std::string& sku) {
    auto v = redis_->Get(store_->Keys(sku)[0]);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() && v->has_value() ? std::stoll(**v) : -1;
  }

  double Metric(const std::string& name, const orderly::metrics::Labels& labels) {
    return orderly::metrics::Registry::Default().GetCounter(name, "", labels).Value();
  }

  redis::ClientPtr redis_;
  std::unique_ptr<RedisFlashSaleStore> store_;
  std::unique_ptr<FlashSaleManager> flash_;
};

TEST_F(FlashSaleTest, WarmLoadsThePoolAndNotWarmedSkusAreRefused) {
  AddSku(FlashSku("f"), 50);
  auto early = reservations_->Reserve(Flash("o0", "f"));
  EXPECT_EQ(ErrorReason(early.status()), "FLASH_SALE_NOT_READY");
  auto normal = reservations_->Reserve(Cmd("o1", {{"f", 1}}));
  EXPECT_EQ(ErrorReason(normal.status()), "FLASH_SALE_NOT_READY");
  AddSku(Sku("plain"), 5);
  auto plain = flash_->Warm("plain");
  EXPECT_EQ(ErrorReason(plain.status()), "FLASH_SALE_NOT_READY");

  ORDERLY_ASSERT_OK_AND_ASSIGN(auto w, flash_->Warm("f"));
  EXPECT_EQ(w.loaded_quantity, 50);
  EXPECT_EQ(Counter("f"), 50);
  EXPECT_EQ(Level("f").available, 50);  // the pool still counts as available
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto again, flash_->Warm("f"));
  EXPECT_EQ(again.loaded_quantity, 50);
  EXPECT_EQ(again.epoch, w.epoch + 1);
  ORDERLY_ASSERT_OK(reservations_->Reserve(Flash("o2", "f", 2)));
  EXPECT_EQ(Counter("f"), 48);
  EXPECT_EQ(Level("f").reserved, 2);
}

TEST_F(FlashSaleTest, TwoHundredClientsRaceForTheLastHundredOnRedis) {
  AddSku(FlashSku("hot"), 1000);
  ORDERLY_ASSERT_OK(flash_->Warm("hot"));
  for (int i = 0; i < 9; ++i) {
    ORDERLY_ASSERT_OK(reservations_->Reserve(Flash("pre" + std::to_string(i), "hot", 100)));
  }
  const double redis_before = Metric("orderly_inventory_reserve_decisions_total",
                                     {{"path", "redis"}, {"outcome", "reserved"}});
  const int ok = Race(200, [&](int i) {
    return reservations_->Reserve(Flash("r" + std::to_string(i), "hot")).ok();
  });
  EXPECT_EQ(ok, 100);
  EXPECT_EQ(Counter("hot"), 0);
  EXPECT_EQ(Level("hot").reserved, 1000);
  EXPECT_EQ(Level("hot").available, 0);
  EXPECT_EQ(Metric("orderly_inventory_reserve_decisions_total",
                   {{"path", "redis"}, {"outcome", "reserved"}}) -
                redis_before,
            100);
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto report, flash_->Reconcile("hot", false));
  EXPECT_EQ(report.drift(), 0);
  EXPECT_EQ(report.redis.pending, 0);
}

// The gRPC handler's path: Lua decisions through the pipelined connection, database work on a
// pool; a sold-out refusal is answered on the pipeline thread.
class AsyncFlashSaleTest : public FlashSaleTest {
 protected:
  struct Results {
    std::mutex mu;
    std::condition_variable cv;
    int done = 0;
    std::vector<absl::StatusOr<Reservation>> out;
  };

  // Fires every order at once through ReserveAsync and waits for all answers.
  std::vector<absl::StatusOr<Reservation>> ReserveAll(ReservationManager& manager,
                                                      const std::vector<ReserveCommand>& cmds) {
    WorkerPool pool(8);
    ReservationManager::Submit submit = [&pool](std::function<void()> t) {
      pool.Submit(std::move(t));
    };
    Results results;
    results.out.resize(cmds.size(), absl::UnknownError("no answer"));
    std::vector<std::thread> callers;
    for (int t = 0; t < 4; ++t) {
      callers.emplace_back([&, t] {
        for (size_t i = t; i < cmds.size(); i += 4) {
          manager.ReserveAsync(cmds[i], submit, [&results, i](absl::StatusOr<Reservation> r) {
            std::lock_guard lock(results.mu);
            results.out[i] = std::move(r);
            ++results.done;
            results.cv.notify_all();
          });
        }
      });
    }
    for (auto& c : callers) c.join();
    std::unique_lock lock(results.mu);
    EXPECT_TRUE(results.cv.wait_for(lock, 30s, [&] { return results.done == int(cmds.size()); }));
    return results.out;
  }

  void SellThroughPipelineImpl(bool caller_runs, const std::string& pipe);

  std::unique_ptr<ReservationManager> CachingManager(FlashSaleStore& store) {
    ReservationManagerOptions options;
    options.sku_cache_ttl = 1h;
    return std::make_unique<ReservationManager>(*repo_, &store, clock_, options);
  }
};

// Both ways of sending the pipeline: its own thread, and the submitting (gRPC) thread.
TEST_F(AsyncFlashSaleTest, PipelinedReservesSellExactlyTheStock) {
  SellThroughPipelineImpl(/*caller_runs=*/false, "pipe");
}

TEST_F(AsyncFlashSaleTest, CallerRunPipelineSellsExactlyTheStock) {
  SellThroughPipelineImpl(/*caller_runs=*/true, "pipe-cr");
}

TEST_F(AsyncFlashSaleTest, CallerRunPipelineAnswersEveryCommandOnceInOrder) {
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto ro, orderly::testing::RedisOptionsFromEnv());
  const std::string key = ro.key_prefix + "pipe-cr-counter";
  ORDERLY_ASSERT_OK(redis_->Command({"DEL", key}));
  constexpr int kThreads = 8, kEach = 300, kResubmitEvery = 25;
  constexpr int kTotal = kThreads * kEach + kThreads * (kEach / kResubmitEvery);
  std::mutex mu;
  std::condition_variable cv;
  std::set<int64_t> seen;
  std::map<std::thread::id, int> senders;
  int answered = 0, failed = 0;
  {
    RedisPipeline pipeline(ro, 16, /*caller_runs=*/true);
    std::function<void(absl::StatusOr<redis::Reply>)> record = [&](absl::StatusOr<redis::Reply> r) {
      std::lock_guard lock(mu);
      ++senders[std::this_thread::get_id()];
      if (!r.ok()) {
        ++failed;
      } else {
        seen.insert(r->integer);
      }
      ++answered;
      cv.notify_all();
    };
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < kEach; ++i) {
          if (i % kResubmitEvery == 0) {
            // A callback that submits again (on the sending thread): queued, never deadlocks.
            pipeline.Submit({"INCR", key}, [&](absl::StatusOr<redis::Reply> r) {
              pipeline.Submit({"INCR", key}, record);
              record(std::move(r));
            });
          } else {
            pipeline.Submit({"INCR", key}, record);
          }
        }
      });
    }
    for (auto& th : threads) th.join();
    std::unique_lock lock(mu);
    EXPECT_TRUE(cv.wait_for(lock, 30s, [&] { return answered == kTotal; }));
  }
  EXPECT_EQ(failed, 0);
  // Every INCR was sent exactly once and answered exactly once: the replies are 1..kTotal.
  EXPECT_EQ(answered, kTotal);
  ASSERT_EQ(seen.size(), size_t(kTotal));
  EXPECT_EQ(*seen.begin(), 1);
  EXPECT_EQ(*seen.rbegin(), kTotal);
  // No thread of the pipeline's own: only submitting threads sent.
  EXPECT_GE(senders.size(), 1u);
  EXPECT_LE(senders.size(), size_t(kThreads));
}

void AsyncFlashSaleTest::SellThroughPipelineImpl(bool caller_runs, const std::string& pipe) {
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto ro, orderly::testing::RedisOptionsFromEnv());
  RedisPipeline pipeline(ro, 512, caller_runs);
  RedisFlashSaleStore store(*redis_, &pipeline);
  auto manager = CachingManager(store);
  AddSku(FlashSku(pipe), 100);
  ORDERLY_ASSERT_OK(flash_->Warm(pipe));
  // The first call loads the SKU into the cache (on the pool); the rest go through Redis.
  ORDERLY_ASSERT_OK(manager->Reserve(Flash("warm-up", pipe)));

  std::vector<ReserveCommand> cmds;
  for (int i = 0; i < 300; ++i) cmds.push_back(Flash(pipe + "-a" + std::to_string(i), pipe));
  auto out = ReserveAll(*manager, cmds);
  int ok = 0, sold_out = 0;
  std::string winner;
  for (const auto& r : out) {
    if (r.ok()) {
      ++ok;
      winner = r->order_id;
      EXPECT_EQ(r->path, DecisionPath::kRedis);
    } else if (ErrorReason(r.status()) == "INSUFFICIENT_STOCK" &&
               ErrorMetadata(r.status(), "sku_id") == pipe) {
      ++sold_out;
    } else {
      ADD_FAILURE() << r.status();
    }
  }
  EXPECT_EQ(ok, 99);
  EXPECT_EQ(sold_out, 201);
  EXPECT_EQ(Counter(pipe), 0);
  EXPECT_EQ(Level(pipe).reserved, 100);
  EXPECT_EQ(Level(pipe).available, 0);

  // A winner's retry is answered from PostgreSQL with its reservation; a loser stays refused.
  ASSERT_FALSE(winner.empty());
  auto replay = ReserveAll(*manager, {Flash(winner, pipe), Flash(pipe + "-late", pipe)});
  ORDERLY_ASSERT_OK(replay[0]);
  EXPECT_EQ(replay[0]->order_id, winner);
  EXPECT_EQ(ErrorReason(replay[1].status()), "INSUFFICIENT_STOCK");
  EXPECT_EQ(Level(pipe).reserved, 100);
  // Grants are marked persisted in Redis after the answer (best effort, pipelined): wait for it.
  auto report = flash_->Reconcile(pipe, false);
  for (int i = 0; i < 100 && report.ok() && report->redis.pending > 0; ++i) {
    std::this_thread::sleep_for(20ms);
    report = flash_->Reconcile(pipe, false);
  }
  ORDERLY_ASSERT_OK(report);
  EXPECT_EQ(report->drift(), 0);
  EXPECT_EQ(report->redis.pending, 0);
}

TEST_F(AsyncFlashSaleTest, PipelineFallsBackToTheDatabaseWhenRedisDies) {
  PrivateRedis server;
  redis::ClientOptions ro;
  ro.port = server.port();
  ro.key_prefix = "kill-async:";
  ro.command_timeout = ro.connect_timeout = 200ms;
  ConnectRedis(ro);
  RedisPipeline pipeline(ro);
  RedisFlashSaleStore store(*redis_, &pipeline);
  auto manager = CachingManager(store);
  AddSku(FlashSku("kd"), 50);
  ORDERLY_ASSERT_OK(flash_->Warm("kd"));
  ORDERLY_ASSERT_OK(manager->Reserve(Flash("kd-warm", "kd")));  // caches the SKU
  std::vector<ReserveCommand> first, second;
  for (int i = 0; i < 20; ++i) first.push_back(Flash("kd" + std::to_string(i), "kd"));
  for (int i = 20; i < 100; ++i) second.push_back(Flash("kd" + std::to_string(i), "kd"));
  int ok = 1;
  for (const auto& r : ReserveAll(*manager, first)) ok += r.ok();
  server.Kill();
  for (const auto& r : ReserveAll(*manager, second)) {
    if (r.ok()) {
      ++ok;
    } else {
      EXPECT_EQ(ErrorReason(r.status()), "INSUFFICIENT_STOCK") << r.status();
    }
  }
  EXPECT_EQ(ok, 50);  // Redis grants + database fallback: every unit once
  EXPECT_EQ(Level("kd").reserved, 50);
  EXPECT_EQ(Level("kd").available, 0);
}

TEST_F(FlashSaleTest, RedisKilledMidSaleNeverOversells) {
  PrivateRedis server;
  redis::ClientOptions ro;
  ro.port = server.port();
  ro.key_prefix = "kill:";
  ConnectRedis(ro);
  AddSku(FlashSku("k"), 100);
  ORDERLY_ASSERT_OK(flash_->Warm("k"));
  const double fallback_before =
      Metric("orderly_inventory_redis_fallback_total", {{"reason", "unavailable"}}) +
      Metric("orderly_inventory_redis_fallback_total", {{"reason", "breaker_open"}});
  std::atomic<int> granted{0};
  std::thread killer([&] {
    while (granted.load() < 30) std::this_thread::sleep_for(1ms);
    server.Kill();
  });
  const int ok = Race(200, [&](int i) {
    bool won = reservations_->Reserve(Flash("k" + std::to_string(i), "k")).ok();
    if (won) granted.fetch_add(1);
    // Some clients come back after the kill.
    if (i % 2 == 0) won = reservations_->Reserve(Flash("k" + std::to_string(i), "k")).ok() || won;
    return won;
  });
  if (granted.load() < 30) server.Kill();
  killer.join();
  EXPECT_EQ(ok, 100);  // every unit sold exactly once: Redis grants + database fallback
  EXPECT_EQ(Level("k").reserved, 100);
  EXPECT_EQ(Level("k").available, 0);
  EXPECT_GT(Metric("orderly_inventory_redis_fallback_total", {{"reason", "unavailable"}}) +
                Metric("orderly_inventory_redis_fallback_total", {{"reason", "breaker_open"}}),
            fallback_before);

  // Redis comes back empty: reconciliation loads the sale again and restores the order records,
  // so a retry of a won order is answered from the database and takes nothing.
  server.Start();
  clock_->Advance(1s);  // past the breaker
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto rep, flash_->Reconcile("k", true));
  EXPECT_TRUE(rep.redis.rewarmed);
  EXPECT_EQ(rep.redis.backfilled, 100);
  EXPECT_EQ(Counter("k"), 0);
  std::string winner;
  for (int i = 0; i < 200 && winner.empty(); ++i) {
    if (reservations_->Get("k" + std::to_string(i)).ok()) winner = "k" + std::to_string(i);
  }
  ORDERLY_ASSERT_OK(reservations_->Reserve(Flash(winner, "k")));
  auto late = reservations_->Reserve(Flash("late", "k"));
  EXPECT_EQ(ErrorReason(late.status()), "INSUFFICIENT_STOCK");
  EXPECT_EQ(Level("k").reserved, 100);
}

TEST_F(FlashSaleTest, ReplayedAndReorderedCallsOnTheRedisPath) {
  AddSku(FlashSku("f"), 10);
  ORDERLY_ASSERT_OK(flash_->Warm("f"));
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto first, reservations_->Reserve(Flash("o1", "f", 2)));
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto again, reservations_->Reserve(Flash("o1", "f", 2)));
  EXPECT_EQ(again.created_at, first.created_at);
  EXPECT_EQ(Counter("f"), 8);
  auto other = reservations_->Reserve(Flash("o1", "f", 3));
  EXPECT_EQ(ErrorReason(other.status()), "REQUEST_FINGERPRINT_MISMATCH");

  // Release returns the units to the pool; reconciliation hands them back to Redis.
  ORDERLY_ASSERT_OK(reservations_->Release("o1", v1::RELEASE_REASON_ORDER_CANCELLED));
  EXPECT_EQ(Level("f").available, 10);
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto rep, flash_->Reconcile("f", true));
  EXPECT_EQ(rep.drift(), -2);
  EXPECT_EQ(Counter("f"), 10);
  auto late = reservations_->Reserve(Flash("o1", "f", 2));
  EXPECT_EQ(ErrorReason(late.status()), "RESERVATION_RELEASED");
  EXPECT_EQ(Counter("f"), 10);

  // Release before Reserve: the late Reserve is refused and Redis gets its unit back.
  ORDERLY_ASSERT_OK(reservations_->Release("o2", v1::RELEASE_REASON_ORDER_CREATE_FAILED));
  auto tomb = reservations_->Reserve(Flash("o2", "f"));
  EXPECT_EQ(ErrorReason(tomb.status()), "RESERVATION_RELEASED");
  EXPECT_EQ(Counter("f"), 10);
  auto tomb_again = reservations_->Reserve(Flash("o2", "f"));
  EXPECT_EQ(ErrorReason(tomb_again.status()), "RESERVATION_RELEASED");
  EXPECT_EQ(Counter("f"), 10);

  ORDERLY_ASSERT_OK(reservations_->Reserve(Flash("o3", "f", 3)));
  ORDERLY_ASSERT_OK(reservations_->Confirm("o3"));
  ORDERLY_ASSERT_OK(reservations_->Confirm("o3"));
  EXPECT_EQ(Level("f").sold, 3);
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto clean, flash_->Reconcile("f", false));
  EXPECT_EQ(clean.drift(), 0);
}

TEST_F(FlashSaleTest, DrainPersistsAGrantWhoseSynchronousPersistNeverHappened) {
  AddSku(FlashSku("f"), 10);
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto w, flash_->Warm("f"));
  // The process died between the Lua decision and the database commit.
  ORDERLY_ASSERT_OK_AND_ASSIGN(
      auto g, store_->TryReserve("f", w.epoch, "crashed", 3, clock_->Now() + 15min));
  ASSERT_EQ(g.kind, FlashGrant::Kind::kGranted);
  EXPECT_EQ(Counter("f"), 7);
  EXPECT_EQ(reservations_->Get("crashed").status().code(), absl::StatusCode::kNotFound);
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto pending, flash_->Reconcile("f", false));
  EXPECT_EQ(pending.redis.pending, 3);
  EXPECT_EQ(pending.drift(), 0);  // a pending grant is not drift

  clock_->Advance(1s);  // stream ids are Redis's wall clock
  ORDERLY_ASSERT_OK_AND_ASSIGN(int drained, flash_->DrainPending(0ms));
  EXPECT_EQ(drained, 1);
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto r, reservations_->Get("crashed"));
  EXPECT_EQ(r.state, ReservationState::kReserved);
  EXPECT_EQ(Level("f").reserved, 3);
  ORDERLY_ASSERT_OK_AND_ASSIGN(int none, flash_->DrainPending(0ms));
  EXPECT_EQ(none, 0);
  // The client's retry finds it.
  ORDERLY_ASSERT_OK(reservations_->Reserve(Flash("crashed", "f", 3)));
  EXPECT_EQ(Counter("f"), 7);
}

TEST_F(FlashSaleTest, ReconciliationReportsAndRepairsDrift) {
  AddSku(FlashSku("f"), 20);
  ORDERLY_ASSERT_OK(flash_->Warm("f"));
  ORDERLY_ASSERT_OK(reservations_->Reserve(Flash("o1", "f", 5)));
  ORDERLY_ASSERT_OK(redis_->Set(store_->Keys("f")[0], "40"));
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto found, flash_->Reconcile("f", false));
  EXPECT_EQ(found.drift(), 25);
  EXPECT_EQ(Counter("f"), 40);  // read-only
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto fixed, flash_->Reconcile("f", true));
  EXPECT_EQ(fixed.drift(), 25);
  EXPECT_EQ(Counter("f"), 15);
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto clean, flash_->Reconcile("f", false));
  EXPECT_EQ(clean.drift(), 0);

  // Redis admitting more than the pool holds is refused by the database.
  ORDERLY_ASSERT_OK(redis_->Set(store_->Keys("f")[0], "100"));
  ORDERLY_ASSERT_OK(reservations_->Reserve(Flash("o2", "f", 15)));
  auto over = reservations_->Reserve(Flash("o3", "f", 1));
  EXPECT_EQ(ErrorReason(over.status()), "INSUFFICIENT_STOCK");
  EXPECT_EQ(Level("f").reserved, 20);
}

TEST_F(FlashSaleTest, RewarmFencesGrantsOfTheOlderEpoch) {
  AddSku(FlashSku("f"), 10);
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto w1, flash_->Warm("f"));
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto g,
                               store_->TryReserve("f", w1.epoch, "old", 2, clock_->Now() + 15min));
  ASSERT_EQ(g.kind, FlashGrant::Kind::kGranted);
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto w2, flash_->Warm("f"));
  EXPECT_EQ(Counter("f"), 10);  // the unpersisted old grant is not subtracted
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto skus, repo_->GetSkus({"f"}));
  auto stale =
      reservations_->PersistFlashGrant(Flash("old", "f", 2), skus[0], w1.epoch, g.grant_id);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(Counter("f"), 10);
  // The client's retry is decided again under the new epoch.
  ORDERLY_ASSERT_OK(reservations_->Reserve(Flash("old", "f", 2)));
  EXPECT_EQ(Counter("f"), 8);
  EXPECT_EQ(Level("f").reserved, 2);
  (void)w2;
}

// The batch statement writes the grants it can and leaves the rest to the one-grant path:
// another epoch, an order that already has a reservation, a duplicate inside the batch.
TEST_F(FlashSaleTest, BatchPersistWritesWhatItCanAndLeavesTheRest) {
  AddSku(FlashSku("bp"), 10);
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto w, flash_->Warm("bp"));
  ORDERLY_ASSERT_OK(reservations_->Reserve(Flash("taken", "bp", 1)));
  auto grant = [&](const std::string& order, int64_t q, int64_t epoch) {
    StockRepository::GrantToPersist g;
    Reservation& r = g.reservation;
    r.order_id = order;
    r.order_type = common::v1::ORDER_TYPE_FLASH_SALE;
    r.fingerprint = "fp-" + order;
    r.path = DecisionPath::kRedis;
    r.grant_id = "g-" + order;
    r.created_at = r.updated_at = clock_->Now();
    r.expires_at = clock_->Now() + 15min;
    r.lines.push_back({"bp",
                       q,
                       v1::DEDUCTION_POLICY_RESERVE_AT_ORDER,
                       LineState::kReserved,
                       {{kFlashBucket, q}}});
    g.epoch = epoch;
    g.event.set_aggregate_type("reservation");
    g.event.set_aggregate_id(order);
    g.event.set_order_id(order);
    g.event.mutable_stock_reserved()->set_order_id(order);
    return g;
  };
  std::vector<StockRepository::GrantToPersist> batch;
  batch.push_back(grant("b1", 2, w.epoch));
  batch.push_back(grant("b2", 3, w.epoch - 1));  // fenced off
  batch.push_back(grant("taken", 1, w.epoch));   // has its reservation
  batch.push_back(grant("b3", 1, w.epoch));
  batch.push_back(grant("b1", 2, w.epoch));  // duplicate inside the batch
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto out, repo_->PersistFlashGrantsInOneStatement(batch));
  EXPECT_EQ(out, (std::vector<bool>{true, false, false, true, false}));
  EXPECT_EQ(Level("bp").reserved, 1 + 2 + 1);
  EXPECT_EQ(Level("bp").available, 10 - 4);
  EXPECT_EQ(Count("SELECT count(*) FROM outbox WHERE aggregate_id IN ('b1', 'b3')"), 2);

  // A pool that cannot cover the batch rolls all of it back.
  std::vector<StockRepository::GrantToPersist> too_many;
  too_many.push_back(grant("c1", 5, w.epoch));
  too_many.push_back(grant("c2", 5, w.epoch));
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto none, repo_->PersistFlashGrantsInOneStatement(too_many));
  EXPECT_EQ(none, (std::vector<bool>{false, false}));
  EXPECT_EQ(Count("SELECT count(*) FROM reservations WHERE order_id IN ('c1', 'c2')"), 0);
  EXPECT_EQ(Level("bp").available, 6);
  // Keep Redis in step for the fixture's checks.
  ORDERLY_ASSERT_OK(flash_->Reconcile("bp", true));
}

}  // namespace
}  // namespace orderly::inventory::testing
