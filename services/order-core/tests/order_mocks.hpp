#pragma once
// gmock mocks of order-core's own interfaces, for unit tests of the domain without a database.
#include <gmock/gmock.h>

#include "inventory_client.hpp"
#include "marketing_repository.hpp"
#include "order_repository.hpp"

namespace orderly::order_core::testing {

class MockOrderTx : public OrderTx {
 public:
  MOCK_METHOD(absl::StatusOr<std::optional<OrderRecord>>, Find, (int64_t), (override));
  MOCK_METHOD(absl::StatusOr<std::optional<OrderRecord>>, FindByRequest,
              (const std::string&, const std::string&), (override));
  MOCK_METHOD(absl::StatusOr<OrderRecord>, Lock, (int64_t), (override));
  MOCK_METHOD(absl::StatusOr<std::vector<OrderRecord>>, LockChildren, (int64_t), (override));
  MOCK_METHOD(absl::StatusOr<OrderRecord>, LoadFull, (int64_t), (override));
  MOCK_METHOD(absl::StatusOr<std::vector<order::v1::Order>>, List, (const ListQuery&), (override));
  MOCK_METHOD(absl::StatusOr<int64_t>, ApplyChange, (const StatusChange&), (override));
  MOCK_METHOD(absl::StatusOr<int64_t>, ChangeAddress,
              (int64_t, int64_t, order::v1::OrderStatus, const common::v1::Address&,
               const common::v1::Actor&, TimePoint),
              (override));
  MOCK_METHOD(absl::Status, DeleteTimer, (int64_t), (override));
  MOCK_METHOD(absl::StatusOr<std::vector<int64_t>>, ClaimDueTimers, (TimePoint, int), (override));
  MOCK_METHOD(absl::Status, PostponeTimer, (int64_t, TimePoint), (override));
  MOCK_METHOD(absl::StatusOr<std::vector<int64_t>>, OverdueOrders, (TimePoint, int), (override));
  MOCK_METHOD(absl::StatusOr<std::vector<int64_t>>, ClaimStaleIntents, (TimePoint, int),
              (override));
  MOCK_METHOD(absl::Status, DeleteIntent, (int64_t), (override));
  MOCK_METHOD(absl::Status, UseFrozenBenefits, (int64_t), (override));
  MOCK_METHOD(absl::Status, UnfreezeBenefits, (int64_t), (override));
  MOCK_METHOD(absl::Status, AppendEvent, (events::v1::EventEnvelope&), (override));
};

// InTransaction runs its function once over tx().
class MockOrderRepository : public OrderRepository {
 public:
  MockOrderRepository() {
    ON_CALL(*this, InTransaction).WillByDefault([this](const OrderTxFn& fn) { return fn(tx_); });
  }
  MOCK_METHOD(absl::Status, InTransaction, (const OrderTxFn&), (override));
  MOCK_METHOD(absl::StatusOr<CreateInputs>, ReadForCreate,
              (const std::string&, const std::vector<std::string>&, int64_t), (override));
  MOCK_METHOD(absl::Status, InsertIntent, (int64_t, const std::string&, TimePoint), (override));
  MOCK_METHOD(absl::Status, Create, (const CreatePlan&, TimePoint, const CreateWrite&), (override));

  ::testing::StrictMock<MockOrderTx>& tx() { return tx_; }

 private:
  ::testing::StrictMock<MockOrderTx> tx_;
};

class MockMarketingRepository : public MarketingRepository {
 public:
  MOCK_METHOD(absl::StatusOr<PricingRulesPtr>, Rules, (TimePoint), (override));
  MOCK_METHOD(void, InvalidateRules, (), (override));
  MOCK_METHOD(absl::Status, UpsertCoupon, (const CouponSpec&), (override));
  MOCK_METHOD(absl::Status, UpsertPromotion, (const PromotionSpec&), (override));
  MOCK_METHOD(absl::Status, SetMemberTier, (const std::string&, int32_t), (override));
  MOCK_METHOD(absl::Status, SetBuyerTier, (const std::string&, const std::string&), (override));
  MOCK_METHOD(absl::Status, SetPoints, (const std::string&, int64_t), (override));
  MOCK_METHOD(absl::Status, SetPointsPolicy, (int64_t, int64_t, int32_t), (override));
  MOCK_METHOD(absl::Status, SetShipping, (int64_t, std::optional<int64_t>), (override));
  MOCK_METHOD(absl::StatusOr<PointsState>, Points, (const std::string&), (override));
  MOCK_METHOD(absl::StatusOr<std::string>, CouponState, (const std::string&), (override));
};

class MockInventoryClient : public InventoryClient {
 public:
  MOCK_METHOD(absl::StatusOr<std::vector<inventory::v1::Sku>>, GetSkus,
              (const std::vector<std::string>&, const CallContext&), (override));
  MOCK_METHOD(absl::Status, Reserve, (const inventory::v1::ReserveRequest&, const CallContext&),
              (override));
  MOCK_METHOD(absl::Status, Confirm, (const std::string&, const CallContext&), (override));
  MOCK_METHOD(absl::Status, Release,
              (const std::string&, inventory::v1::ReleaseReason, const CallContext&), (override));
};

}  // namespace orderly::order_core::testing
