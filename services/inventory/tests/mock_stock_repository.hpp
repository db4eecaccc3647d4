#pragma once
// gmock doubles of the inventory storage interfaces (stock_repository.hpp), for domain rules
// tested without a database.
#include <gmock/gmock.h>

#include "stock_repository.hpp"

namespace orderly::inventory::testing {

class MockStockTx : public StockTx {
 public:
  MOCK_METHOD((absl::StatusOr<std::optional<Reservation>>), FindReservation,
              (const std::string& order_id, bool for_update), (override));
  MOCK_METHOD((absl::StatusOr<std::vector<SkuRecord>>), FindSkus,
              (const std::vector<std::string>& ids, bool share_lock), (override));
  MOCK_METHOD((absl::StatusOr<int64_t>), AvailableOf, (const std::string& sku_id), (override));
  MOCK_METHOD((absl::StatusOr<std::vector<Allocation>>), TakeAvailable,
              (const std::string& sku_id, const std::vector<int>& buckets, int64_t quantity,
               TakeInto into),
              (override));
  MOCK_METHOD(absl::Status, ReturnReserved,
              (const std::string& sku_id, const std::vector<Allocation>& allocations), (override));
  MOCK_METHOD(absl::Status, SellReserved,
              (const std::string& sku_id, const std::vector<Allocation>& allocations), (override));
  MOCK_METHOD(absl::Status, ReturnSold,
              (const std::string& sku_id, const std::vector<Allocation>& allocations), (override));
  MOCK_METHOD((absl::StatusOr<bool>), InsertReservation, (const Reservation& reservation),
              (override));
  MOCK_METHOD(absl::Status, UpdateReservation, (const Reservation& reservation), (override));
  MOCK_METHOD(absl::Status, DropAllocations, (const std::string& order_id), (override));
  MOCK_METHOD((absl::StatusOr<std::optional<std::string>>), FindConfirmRefusal,
              (const std::string& order_id), (override));
  MOCK_METHOD((absl::StatusOr<bool>), RecordConfirmRefusal,
              (const std::string& order_id, const std::string& reason), (override));
  MOCK_METHOD(absl::Status, AppendEvent, (events::v1::EventEnvelope & event), (override));
  MOCK_METHOD((absl::StatusOr<bool>), FlipLowStockLatch, (const std::string& sku_id, bool alerted),
              (override));
  MOCK_METHOD((absl::StatusOr<std::vector<std::string>>), LockExpired, (TimePoint now, int limit),
              (override));
  MOCK_METHOD((absl::StatusOr<std::optional<SkuRecord>>), LockSku, (const std::string& sku_id),
              (override));
  MOCK_METHOD((absl::StatusOr<int64_t>), MoveToFlashPool,
              (const std::string& sku_id, int64_t new_epoch), (override));
  MOCK_METHOD((absl::StatusOr<int64_t>), LockFlashPool, (const std::string& sku_id), (override));
  MOCK_METHOD((absl::StatusOr<std::vector<FlashOrder>>), FlashOrders, (const std::string& sku_id),
              (override));
};

// A repository whose transactions all run on one MockStockTx; the other operations are mocked
// for the tests that need them.
class MockStockRepository : public StockRepository {
 public:
  explicit MockStockRepository(StockTx& tx) : tx_(tx) {}
  absl::Status InTransaction(const StockTxFn& fn) override { return fn(tx_); }
  MOCK_METHOD((absl::StatusOr<std::vector<SkuRecord>>), GetSkus,
              (const std::vector<std::string>& ids), (override));
  MOCK_METHOD((absl::StatusOr<std::vector<SkuRecord>>), ListSkus,
              (const std::string& merchant_id, SkuSaleStatus status,
               const std::string& after_sku_id, int limit),
              (override));
  MOCK_METHOD((absl::StatusOr<SkuRecord>), UpsertSku, (const SkuRecord& sku), (override));
  MOCK_METHOD((absl::StatusOr<StockLevel>), ReceiveStock,
              (const std::string& sku_id, int64_t quantity, const std::string& request_id,
               const std::string& note),
              (override));
  MOCK_METHOD((absl::StatusOr<std::vector<StockLevel>>), GetStock,
              (const std::vector<std::string>& ids), (override));
  MOCK_METHOD((absl::StatusOr<OneStatementOutcome>), ReserveInOneStatement,
              (const OneStatementReserve& request), (override));
  MOCK_METHOD((absl::StatusOr<std::vector<std::optional<int64_t>>>), ShortOfStock,
              (const std::vector<ShortOfStockQuery>& queries), (override));
  MOCK_METHOD((absl::StatusOr<bool>), PersistFlashGrantInOneStatement,
              (const Reservation& reservation, int64_t epoch, events::v1::EventEnvelope& event),
              (override));
  MOCK_METHOD((absl::StatusOr<std::vector<bool>>), PersistFlashGrantsInOneStatement,
              (std::vector<GrantToPersist> & grants), (override));
  MOCK_METHOD((absl::StatusOr<std::optional<Reservation>>), GetReservation,
              (const std::string& order_id), (override));
  MOCK_METHOD((absl::StatusOr<InvariantReport>), CheckInvariants,
              (const std::vector<std::string>& ids), (override));
  MOCK_METHOD((absl::StatusOr<std::vector<SkuRecord>>), WarmFlashSkus, (), (override));

 private:
  StockTx& tx_;
};

}  // namespace orderly::inventory::testing
