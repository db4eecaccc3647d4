#pragma once
// StockRepository on PostgreSQL. SQL lives as named constants in pg_stock_repository.cpp.
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "orderly/core/clock.hpp"
#include "orderly/events/outbox.hpp"
#include "orderly/pg/pool.hpp"
#include "stock_repository.hpp"

namespace orderly::inventory {

// A StockTx over a pqxx transaction someone else owns (the pool, or the inbox consumer).
class PgStockTx : public StockTx {
 public:
  // topic: where its events go (orderly.inventory.v1; tests use one of their own).
  PgStockTx(pqxx::transaction_base& tx, const Clock& clock,
            std::string topic = events::kInventoryTopic)
      : tx_(tx), clock_(clock), topic_(std::move(topic)) {}

  absl::StatusOr<std::optional<Reservation>> FindReservation(const std::string& order_id,
                                                             bool for_update) override;
  absl::StatusOr<std::vector<SkuRecord>> FindSkus(const std::vector<std::string>& ids,
                                                  bool share_lock) override;
  absl::StatusOr<int64_t> AvailableOf(const std::string& sku_id) override;
  absl::StatusOr<std::vector<Allocation>> TakeAvailable(const std::string& sku_id,
                                                        const std::vector<int>& buckets,
                                                        int64_t quantity, TakeInto into) override;
  absl::Status ReturnReserved(const std::string& sku_id,
                              const std::vector<Allocation>& allocations) override;
  absl::Status SellReserved(const std::string& sku_id,
                            const std::vector<Allocation>& allocations) override;
  absl::Status ReturnSold(const std::string& sku_id,
                          const std::vector<Allocation>& allocations) override;
  absl::StatusOr<bool> InsertReservation(const Reservation& reservation) override;
  absl::Status UpdateReservation(const Reservation& reservation) override;
  absl::Status DropAllocations(const std::string& order_id) override;
  absl::StatusOr<std::optional<std::string>> FindConfirmRefusal(
      const std::string& order_id) override;
  absl::StatusOr<bool> RecordConfirmRefusal(const std::string& order_id,
                                            const std::string& reason) override;
  absl::Status AppendEvent(events::v1::EventEnvelope& event) override;
  absl::StatusOr<bool> FlipLowStockLatch(const std::string& sku_id, bool alerted) override;
  absl::StatusOr<std::vector<std::string>> LockExpired(TimePoint now, int limit) override;

  absl::StatusOr<std::optional<SkuRecord>> LockSku(const std::string& sku_id) override;
  absl::StatusOr<int64_t> MoveToFlashPool(const std::string& sku_id, int64_t new_epoch) override;
  absl::StatusOr<int64_t> LockFlashPool(const std::string& sku_id) override;
  absl::StatusOr<std::vector<FlashOrder>> FlashOrders(const std::string& sku_id) override;

  pqxx::transaction_base& raw() { return tx_; }

 private:
  pqxx::transaction_base& tx_;
  const Clock& clock_;
  std::string topic_;
};

class PgStockRepository : public StockRepository {
 public:
  PgStockRepository(pg::Pool& pool, ClockPtr clock, std::string topic = events::kInventoryTopic)
      : pool_(pool), clock_(std::move(clock)), topic_(std::move(topic)) {}

  absl::Status InTransaction(const StockTxFn& fn) override;
  // The same, exposing the PostgreSQL-specific operations (flash sale).
  absl::Status InPgTransaction(const std::function<absl::Status(PgStockTx&)>& fn);

  absl::StatusOr<std::vector<SkuRecord>> GetSkus(const std::vector<std::string>& ids) override;
  absl::StatusOr<std::vector<SkuRecord>> ListSkus(const std::string& merchant_id,
                                                  SkuSaleStatus status,
                                                  const std::string& after_sku_id,
                                                  int limit) override;
  absl::StatusOr<SkuRecord> UpsertSku(const SkuRecord& sku) override;
  absl::StatusOr<StockLevel> ReceiveStock(const std::string& sku_id, int64_t quantity,
                                          const std::string& request_id,
                                          const std::string& note) override;
  absl::StatusOr<std::vector<StockLevel>> GetStock(const std::vector<std::string>& ids) override;
  absl::StatusOr<std::optional<Reservation>> GetReservation(const std::string& order_id) override;
  absl::StatusOr<OneStatementOutcome> ReserveInOneStatement(
      const OneStatementReserve& request) override;
  absl::StatusOr<std::vector<std::optional<int64_t>>> ShortOfStock(
      const std::vector<ShortOfStockQuery>& queries) override;
  absl::StatusOr<bool> PersistFlashGrantInOneStatement(const Reservation& reservation,
                                                       int64_t epoch,
                                                       events::v1::EventEnvelope& event) override;
  absl::StatusOr<std::vector<bool>> PersistFlashGrantsInOneStatement(
      std::vector<GrantToPersist>& grants) override;
  absl::StatusOr<InvariantReport> CheckInvariants(const std::vector<std::string>& ids) override;

  absl::StatusOr<std::vector<SkuRecord>> WarmFlashSkus() override;

  pg::Pool& pool() { return pool_; }
  const Clock& clock() const { return *clock_; }
  const std::string& topic() const { return topic_; }

 private:
  pg::Pool& pool_;
  ClockPtr clock_;
  std::string topic_;
};

// The invariant check on a raw transaction (shared by the repository and scripts/inventory-check's
// binary mode).
absl::StatusOr<InvariantReport> CheckInvariantsInTx(pqxx::transaction_base& tx,
                                                    const std::vector<std::string>& ids);

}  // namespace orderly::inventory
