#pragma once
// The storage the inventory domain needs, as small interfaces (pg_stock_repository.* implements
// them on PostgreSQL; tests/mock_stock_repository.hpp mocks them for domain unit tests). A StockTx
// is one database transaction: everything done through it commits or rolls back together, including
// the outbox events it appends.
#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "inventory_types.hpp"
#include "orderly/events/v1/event_envelope.pb.h"

namespace orderly::inventory {

// What TakeAvailable moves the units into.
enum class TakeInto { kReserved, kSold };

class StockTx {
 public:
  virtual ~StockTx() = default;

  // The order's reservation with its lines and allocations; nullopt when there is none.
  // for_update locks the reservation row until the transaction ends.
  virtual absl::StatusOr<std::optional<Reservation>> FindReservation(const std::string& order_id,
                                                                     bool for_update) = 0;
  // SKUs by id (missing ids are simply absent). share_lock takes FOR SHARE row locks, which
  // WarmFlashSale's FOR UPDATE waits for (the flash epoch cannot change under the caller).
  virtual absl::StatusOr<std::vector<SkuRecord>> FindSkus(const std::vector<std::string>& ids,
                                                          bool share_lock) = 0;
  // Sum of available over the SKU's buckets (no lock): the cheap pre-check that rejects a sold
  // out SKU without touching a row lock.
  virtual absl::StatusOr<int64_t> AvailableOf(const std::string& sku_id) = 0;
  // Moves exactly `quantity` units out of available with conditional updates (never
  // read-then-write): first one bucket holding all of them, starting at start_bucket and falling
  // through the others, else split over several buckets. Returns the allocations, or an empty
  // vector when the SKU does not have enough (the caller must then roll back: a split may have
  // taken part). `buckets` lists the bucket numbers to use.
  virtual absl::StatusOr<std::vector<Allocation>> TakeAvailable(const std::string& sku_id,
                                                                const std::vector<int>& buckets,
                                                                int64_t quantity,
                                                                TakeInto into) = 0;
  // reserved -> available (release) or reserved -> sold (confirm) for each allocation.
  virtual absl::Status ReturnReserved(const std::string& sku_id,
                                      const std::vector<Allocation>& allocations) = 0;
  virtual absl::Status SellReserved(const std::string& sku_id,
                                    const std::vector<Allocation>& allocations) = 0;
  // sold -> available for each allocation (a confirmed reservation whose order ended unpaid).
  virtual absl::Status ReturnSold(const std::string& sku_id,
                                  const std::vector<Allocation>& allocations) = 0;
  // Inserts the reservation with its lines and allocations. false when a reservation for the
  // order already exists (a concurrent duplicate or a tombstone); nothing is then written.
  virtual absl::StatusOr<bool> InsertReservation(const Reservation& reservation) = 0;
  // Writes state, release reason, line states and allocations of an existing reservation and
  // bumps its version.
  virtual absl::Status UpdateReservation(const Reservation& reservation) = 0;
  // Forgets the allocations of every line of the order (before UpdateReservation writes new ones
  // for a reservation whose stock was taken again).
  virtual absl::Status DropAllocations(const std::string& order_id) = 0;
  // The recorded refusal to back a paid order with stock (its reason), or nullopt.
  virtual absl::StatusOr<std::optional<std::string>> FindConfirmRefusal(
      const std::string& order_id) = 0;
  // Records it; false when the order already has one (nothing written).
  virtual absl::StatusOr<bool> RecordConfirmRefusal(const std::string& order_id,
                                                    const std::string& reason) = 0;
  // The transactional outbox (topic orderly.inventory.v1).
  virtual absl::Status AppendEvent(events::v1::EventEnvelope& event) = 0;
  // Low-stock latch: true exactly when the SKU's alert flips from `!alerted` to `alerted`.
  virtual absl::StatusOr<bool> FlipLowStockLatch(const std::string& sku_id, bool alerted) = 0;
  // Expired RESERVED reservations, oldest first, locked (SKIP LOCKED: sweepers never collide).
  virtual absl::StatusOr<std::vector<std::string>> LockExpired(TimePoint now, int limit) = 0;

  // Flash sale. Locks the SKU row (FOR UPDATE) so no Redis grant persists meanwhile.
  virtual absl::StatusOr<std::optional<SkuRecord>> LockSku(const std::string& sku_id) = 0;
  // Moves every ordinary bucket's available into the flash pool and sets the new epoch;
  // returns the pool's available.
  virtual absl::StatusOr<int64_t> MoveToFlashPool(const std::string& sku_id, int64_t new_epoch) = 0;
  // Locks the flash pool row and returns its available.
  virtual absl::StatusOr<int64_t> LockFlashPool(const std::string& sku_id) = 0;
  struct FlashOrder {
    std::string order_id;
    int64_t quantity = 0;
    bool live = false;  // RESERVED or CONFIRMED (false: released / expired)
  };
  // Every reservation line drawing on the SKU's flash pool.
  virtual absl::StatusOr<std::vector<FlashOrder>> FlashOrders(const std::string& sku_id) = 0;
};

using StockTxFn = std::function<absl::Status(StockTx&)>;

class StockRepository {
 public:
  virtual ~StockRepository() = default;
  virtual absl::Status InTransaction(const StockTxFn& fn) = 0;

  // Catalog.
  virtual absl::StatusOr<std::vector<SkuRecord>> GetSkus(const std::vector<std::string>& ids) = 0;
  // Ordered by sku_id, after `after_sku_id`; merchant / status filters when non-empty / set.
  virtual absl::StatusOr<std::vector<SkuRecord>> ListSkus(const std::string& merchant_id,
                                                          SkuSaleStatus status,
                                                          const std::string& after_sku_id,
                                                          int limit) = 0;
  // Creates or replaces catalog data (never stock counts); creates missing buckets. Fails
  // FAILED_PRECONDITION when stock_buckets changes on a SKU that holds stock. Appends
  // SkuUpserted. Returns the stored record.
  virtual absl::StatusOr<SkuRecord> UpsertSku(const SkuRecord& sku) = 0;
  // Idempotent by request_id: a retry returns the level recorded the first time; a request_id
  // reused for another SKU or quantity is ALREADY_EXISTS REQUEST_FINGERPRINT_MISMATCH.
  virtual absl::StatusOr<StockLevel> ReceiveStock(const std::string& sku_id, int64_t quantity,
                                                  const std::string& request_id,
                                                  const std::string& note) = 0;
  virtual absl::StatusOr<std::vector<StockLevel>> GetStock(const std::vector<std::string>& ids) = 0;
  // Reserve on the database path in one statement (one round trip, its own transaction; see
  // migrations/0002_reserve_function.sql). `policies` are the deduction policies the caller
  // assumed per item (request order) when it built `event` (StockReserved), which is appended
  // to the outbox only when the reservation is written. Refusals write nothing.
  struct OneStatementReserve {
    const ReserveCommand* cmd = nullptr;  // validated, order_type set
    std::string fingerprint;
    TimePoint expires_at{};
    TimePoint now{};
    std::vector<DeductionPolicy> policies;
    events::v1::EventEnvelope* event = nullptr;
  };
  struct OneStatementOutcome {
    enum class Kind {
      kReserved,      // allocations per sku_id
      kExists,        // the order has a reservation: answer from it
      kCatalog,       // a SKU is missing / off sale / wrong kind / over its limit: read the catalog
      kPolicy,        // `policies` differ from the catalog's (given here, request order)
      kInsufficient,  // sku_id, requested, available
      kSlowPath,      // a low-stock crossing: use the multi-statement transaction
    };
    Kind kind = Kind::kReserved;
    std::string sku_id;
    int64_t requested = 0;
    int64_t available = 0;
    std::vector<DeductionPolicy> policies;
    std::map<std::string, std::vector<Allocation>> allocations;
  };
  virtual absl::StatusOr<OneStatementOutcome> ReserveInOneStatement(
      const OneStatementReserve& request) = 0;
  // The read-only half of inventory_reserve for one-line orders, as one plain statement for a
  // whole batch (one snapshot): per order, the SKU's available units when inventory_reserve
  // would answer 'insufficient' for it right now (no reservation for the order, the catalog
  // allows the line, `policy` is the catalog's, the lock-free sum is short); nullopt when it
  // would answer anything else (then call it). Writes nothing, ships no event: what a refusal
  // of a sold-out SKU needs, and nothing more.
  struct ShortOfStockQuery {
    const ReserveCommand* cmd = nullptr;  // one item, validated, order_type set
    DeductionPolicy policy = v1::DEDUCTION_POLICY_RESERVE_AT_ORDER;
  };
  virtual absl::StatusOr<std::vector<std::optional<int64_t>>> ShortOfStock(
      const std::vector<ShortOfStockQuery>& queries) = 0;
  // Persists a Redis grant in one statement (migrations/0003): `reservation` is the new
  // reservation (path redis, grant_id, one line on the flash pool) and `event` its
  // StockReserved. true = written; false = nothing written, the transaction path must decide
  // (existing reservation, other epoch, missing SKU, pool short, low-stock crossing).
  virtual absl::StatusOr<bool> PersistFlashGrantInOneStatement(
      const Reservation& reservation, int64_t epoch, events::v1::EventEnvelope& event) = 0;
  // Many grants in one statement (one commit and one pool update per SKU for all of them).
  // Returns per grant whether it was persisted; the others (and all of them when the batch
  // rolled back: pool short, low-stock crossing) must take PersistFlashGrant.
  struct GrantToPersist {
    Reservation reservation;  // as for PersistFlashGrantInOneStatement
    int64_t epoch = 0;
    events::v1::EventEnvelope event;
  };
  virtual absl::StatusOr<std::vector<bool>> PersistFlashGrantsInOneStatement(
      std::vector<GrantToPersist>& grants) = 0;
  // Reservation read outside a transaction.
  virtual absl::StatusOr<std::optional<Reservation>> GetReservation(
      const std::string& order_id) = 0;
  // Read-only invariant check over the listed SKUs (all when empty).
  virtual absl::StatusOr<InvariantReport> CheckInvariants(const std::vector<std::string>& ids) = 0;
  // SKUs warmed for a flash sale (flash_sale and flash_epoch > 0).
  virtual absl::StatusOr<std::vector<SkuRecord>> WarmFlashSkus() = 0;
};
using StockRepositoryPtr = std::unique_ptr<StockRepository>;

}  // namespace orderly::inventory
