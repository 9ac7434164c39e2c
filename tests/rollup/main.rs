//! The five-level rollups over real gRPC: additive at every level, stamped
//! with what they include, never going back, the daily report and sign-off.

mod street;
