#pragma once
// OrderRepository on PostgreSQL. SQL lives as named constants in pg_order_repository.cpp.
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "order_repository.hpp"
#include "orderly/pg/pool.hpp"

namespace orderly::order_core {

// An OrderTx over a pqxx transaction someone else owns (the pool, or the inbox consumer whose
// dedupe row commits with the handler's writes).
class PgOrderTx : public OrderTx {
 public:
  // topic: where its events go (orderly.order.v1; tests and benchmarks use one of their own).
  PgOrderTx(pqxx::transaction_base& tx, std::string topic) : tx_(tx), topic_(std::move(topic)) {}

  absl::StatusOr<std::optional<OrderRecord>> Find(int64_t order_id) override;
  absl::StatusOr<std::optional<OrderRecord>> FindByRequest(const std::string& buyer_id,
                                                           const std::string& request_id) override;
  absl::StatusOr<OrderRecord> Lock(int64_t order_id) override;
  absl::StatusOr<std::vector<OrderRecord>> LockChildren(int64_t parent_id) override;
  absl::StatusOr<OrderRecord> LoadFull(int64_t order_id) override;
  absl::StatusOr<std::vector<order::v1::Order>> List(const ListQuery& q) override;
  absl::StatusOr<int64_t> ApplyChange(const StatusChange& change) override;
  absl::StatusOr<int64_t> ChangeAddress(int64_t order_id, int64_t expected_version,
                                        order::v1::OrderStatus status,
                                        const common::v1::Address& address,
                                        const common::v1::Actor& actor, TimePoint at) override;
  absl::Status DeleteTimer(int64_t order_id) override;
  absl::StatusOr<std::vector<int64_t>> ClaimDueTimers(TimePoint now, int limit) override;
  absl::Status PostponeTimer(int64_t order_id, TimePoint due) override;
  absl::StatusOr<std::vector<int64_t>> OverdueOrders(TimePoint now, int limit) override;
  absl::StatusOr<std::vector<int64_t>> ClaimStaleIntents(TimePoint before, int limit) override;
  absl::Status DeleteIntent(int64_t order_id) override;
  absl::Status UseFrozenBenefits(int64_t order_id) override;
  absl::Status UnfreezeBenefits(int64_t order_id) override;
  absl::Status AppendEvent(events::v1::EventEnvelope& event) override;

 private:
  pqxx::transaction_base& tx_;
  std::string topic_;
};

class PgOrderRepository : public OrderRepository {
 public:
  PgOrderRepository(pg::Pool& pool, std::string topic) : pool_(pool), topic_(std::move(topic)) {}

  absl::Status InTransaction(const OrderTxFn& fn) override;
  absl::StatusOr<CreateInputs> ReadForCreate(const std::string& buyer_id,
                                             const std::vector<std::string>& coupon_ids,
                                             int64_t order_id) override;
  absl::Status InsertIntent(int64_t order_id, const std::string& buyer_id, TimePoint now) override;
  absl::Status Create(const CreatePlan& plan, TimePoint now, const CreateWrite& write) override;

 private:
  pg::Pool& pool_;
  std::string topic_;
};

}  // namespace orderly::order_core
