#pragma once
// Conversions between the domain records and orderly.inventory.v1 messages.
#include <google/protobuf/timestamp.pb.h>

#include "inventory_types.hpp"
#include "orderly/core/proto_convert.hpp"
#include "orderly/inventory/v1/inventory.pb.h"

namespace orderly::inventory {

v1::Sku SkuToProto(const SkuRecord& sku);
// Catalog fields only (timestamps and epoch are the server's). UNSPECIFIED policy means
// RESERVE_AT_ORDER, 0 buckets means 1.
SkuRecord SkuFromProto(const v1::Sku& sku);
// Same catalog data (ignores timestamps and the flash epoch).
bool SameCatalog(const SkuRecord& a, const SkuRecord& b);

v1::StockLevel StockLevelToProto(const StockLevel& level);
v1::ReservationLine LineToProto(const ReservationLine& line);
// A tombstone is reported as RELEASED without lines.
v1::Reservation ReservationToProto(const Reservation& reservation);
v1::ReservationState StateToProto(ReservationState s);

}  // namespace orderly::inventory
