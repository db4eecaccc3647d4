#pragma once
// An in-memory InventoryClient for domain tests: a catalog, stock counts and reservations keyed by
// order id with the real service's idempotency rules (same lines = same reservation, released
// leaves a tombstone).
#include <atomic>
#include <map>
#include <mutex>

#include "inventory_client.hpp"
#include "orderly/core/status.hpp"

namespace orderly::order_core::testing {

class FakeInventory : public InventoryClient {
 public:
  void AddSku(const std::string& id, int64_t price, int64_t stock,
              const std::string& merchant = "m1", const std::string& warehouse = "w1") {
    std::lock_guard<std::mutex> lock(mu_);
    inventory::v1::Sku s;
    s.set_sku_id(id);
    s.set_product_id("p-" + id);
    s.set_product_name("Product " + id);
    (*s.mutable_specs())["colour"] = "red";
    s.mutable_list_price()->set_amount_minor(price);
    s.mutable_list_price()->set_currency_code("CNY");
    s.set_sale_status(inventory::v1::SKU_SALE_STATUS_ON_SALE);
    s.set_merchant_id(merchant);
    s.set_warehouse_id(warehouse);
    skus_[id] = s;
    available_[id] = stock;
    total_[id] = stock;
  }
  void SetOffSale(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    skus_[id].set_sale_status(inventory::v1::SKU_SALE_STATUS_OFF_SALE);
  }

  absl::StatusOr<std::vector<inventory::v1::Sku>> GetSkus(const std::vector<std::string>& ids,
                                                          const CallContext&) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++get_calls;
    std::vector<inventory::v1::Sku> out;
    for (const auto& id : ids) {
      auto it = skus_.find(id);
      if (it == skus_.end()) return NotFoundError("sku", id, "SKU_NOT_FOUND");
      out.push_back(it->second);
    }
    return out;
  }

  absl::Status Reserve(const inventory::v1::ReserveRequest& r, const CallContext&) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++reserve_calls;
    std::map<std::string, int64_t> lines;
    for (const auto& it : r.items()) lines[it.sku_id()] += it.quantity();
    auto found = reservations_.find(r.order_id());
    if (found != reservations_.end()) {
      if (found->second.state == "released") {
        return FailedPreconditionError("RESERVATION_RELEASED", "reservation/" + r.order_id(),
                                       "released");
      }
      if (found->second.lines != lines) {
        return ErrorWithInfo(absl::StatusCode::kAlreadyExists, "different lines",
                             "REQUEST_FINGERPRINT_MISMATCH");
      }
      return absl::OkStatus();
    }
    for (const auto& [sku, q] : lines) {
      if (available_[sku] < q) {
        return FailedPreconditionError("INSUFFICIENT_STOCK", "sku/" + sku, "not enough stock");
      }
    }
    for (const auto& [sku, q] : lines) {
      available_[sku] -= q;
      reserved_[sku] += q;
    }
    reservations_[r.order_id()] = {lines, "reserved"};
    return absl::OkStatus();
  }

  absl::Status Confirm(const std::string& order_id, const CallContext&) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++confirm_calls;
    if (!confirm_error_.ok()) return confirm_error_;
    auto it = reservations_.find(order_id);
    if (it == reservations_.end())
      return NotFoundError("reservation", order_id, "RESERVATION_NOT_FOUND");
    Res& r = it->second;
    if (r.state == "confirmed") return absl::OkStatus();
    if (r.state == "released" || r.state == "expired") {
      return FailedPreconditionError(
          r.state == "released" ? "RESERVATION_RELEASED" : "RESERVATION_EXPIRED",
          "order/" + order_id, "reservation " + r.state);
    }
    for (const auto& [sku, q] : r.lines) {
      reserved_[sku] -= q;
      sold_[sku] += q;
    }
    r.state = "confirmed";
    return absl::OkStatus();
  }
  // The reservation lapses (the inventory sweeper ran): its stock becomes available again.
  void Expire(const std::string& order_id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& r = reservations_[order_id];
    if (r.state != "reserved") return;
    for (const auto& [sku, q] : r.lines) {
      available_[sku] += q;
      reserved_[sku] -= q;
    }
    r.state = "expired";
  }
  // Every Confirm answers this (e.g. UNAVAILABLE) until reset with OkStatus().
  void FailConfirm(absl::Status s) {
    std::lock_guard<std::mutex> lock(mu_);
    confirm_error_ = std::move(s);
  }

  absl::Status Release(const std::string& order_id, inventory::v1::ReleaseReason,
                       const CallContext&) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++release_calls;
    auto& r = reservations_[order_id];
    if (r.state == "confirmed") {
      return FailedPreconditionError("RESERVATION_CONFIRMED", "reservation/" + order_id, "sold");
    }
    if (r.state == "reserved") {
      for (const auto& [sku, q] : r.lines) {
        available_[sku] += q;
        reserved_[sku] -= q;
      }
    }
    if (r.state != "expired") r.state = "released";
    return absl::OkStatus();
  }

  int64_t Available(const std::string& sku) {
    std::lock_guard<std::mutex> lock(mu_);
    return available_[sku];
  }
  int64_t Reserved(const std::string& sku) {
    std::lock_guard<std::mutex> lock(mu_);
    return reserved_[sku];
  }
  std::string State(const std::string& order_id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = reservations_.find(order_id);
    return it == reservations_.end() ? "" : it->second.state;
  }
  int64_t Sold(const std::string& sku) {
    std::lock_guard<std::mutex> lock(mu_);
    return sold_[sku];
  }
  // Stock conservation: every unit is available, reserved or sold.
  bool Conserved() {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [sku, total] : total_) {
      if (available_[sku] + reserved_[sku] + sold_[sku] != total || available_[sku] < 0) {
        return false;
      }
    }
    return true;
  }

  std::atomic<int> get_calls{0}, reserve_calls{0}, release_calls{0}, confirm_calls{0};

 private:
  struct Res {
    std::map<std::string, int64_t> lines;
    std::string state;
  };
  std::mutex mu_;
  std::map<std::string, inventory::v1::Sku> skus_;
  std::map<std::string, int64_t> available_, reserved_, sold_, total_;
  absl::Status confirm_error_;
  std::map<std::string, Res> reservations_;
};

}  // namespace orderly::order_core::testing
