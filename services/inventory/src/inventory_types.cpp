#include "inventory_types.hpp"

namespace orderly::inventory {

std::string_view ToString(ReservationState s) {
  switch (s) {
    case ReservationState::kReserved: return "RESERVED";
    case ReservationState::kConfirmed: return "CONFIRMED";
    case ReservationState::kReleased: return "RELEASED";
    case ReservationState::kExpired: return "EXPIRED";
    case ReservationState::kTombstone: return "TOMBSTONE";
  }
  return "?";
}

std::string_view ToString(LineState s) {
  switch (s) {
    case LineState::kReserved: return "RESERVED";
    case LineState::kConfirmed: return "CONFIRMED";
    case LineState::kDeducted: return "DEDUCTED";
    case LineState::kReleased: return "RELEASED";
    case LineState::kExpired: return "EXPIRED";
  }
  return "?";
}

std::optional<ReservationState> ReservationStateFromString(std::string_view s) {
  for (auto st :
       {ReservationState::kReserved, ReservationState::kConfirmed, ReservationState::kReleased,
        ReservationState::kExpired, ReservationState::kTombstone}) {
    if (ToString(st) == s) return st;
  }
  return std::nullopt;
}

std::optional<LineState> LineStateFromString(std::string_view s) {
  for (auto st : {LineState::kReserved, LineState::kConfirmed, LineState::kDeducted,
                  LineState::kReleased, LineState::kExpired}) {
    if (ToString(st) == s) return st;
  }
  return std::nullopt;
}

}  // namespace orderly::inventory
